"""A persistent outbox: durable messages wait on local disk until the broker has them.

A recorder that loses its broker (NATS restarting, the network cut) keeps producing events;
they are written here first and sent in order once the broker answers again, so neither a
broker outage nor a restart of the process loses them. SQLite (the standard library's)
because it is on every machine and survives ``kill -9`` with its journal.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

# Messages kept at most; past this the oldest go (logged by the caller), so a broker away
# for days cannot fill the disk.
OUTBOX_LIMIT = 1_000_000


class Outbox:
    """An ordered queue of (id, subject, data) rows in a SQLite file (or in memory)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " id TEXT NOT NULL, subject TEXT NOT NULL, data BLOB NOT NULL)"
            )
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        self._count = int(count)  # kept in memory: COUNT(*) is a scan

    def put(self, message_id: str, subject: str, data: bytes) -> int:
        """Keep a message; returns how many were dropped to stay within the limit."""
        with self._lock:
            self._db.execute(
                "INSERT INTO outbox (id, subject, data) VALUES (?, ?, ?)",
                (message_id, subject, data),
            )
            self._count += 1
            excess = self._count - OUTBOX_LIMIT
            if excess > 0:
                self._db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                self._count -= excess
            return max(excess, 0)

    def peek(self, limit: int, *, after: int = 0) -> list[tuple[int, str, str, bytes]]:
        """The oldest messages (past sequence number ``after``): (seq, id, subject, data)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, subject, data FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), bytes(r[3])) for r in rows]

    def remove(self, seq: int) -> None:
        """The broker has this message."""
        with self._lock:
            deleted = self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount
            self._count -= deleted

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        """Close the file; what is left stays for the next start."""
        with self._lock:
            self._db.close()

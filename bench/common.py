"""What the benchmarks share: processes from /proc, ports, waiting, signals, percentiles.

Benchmarks run as scripts (``python bench/<name>.py``), so this folder is on ``sys.path``
and they import it as ``common``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(stat: str, *, children: bool) -> float:
    """CPU seconds in a /proc ``stat`` line of a process or a thread (user + system, and with
    ``children`` its waited-for children's)."""
    # Fields after "(comm)": state is field 3, utime..cstime are fields 14..17.
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(x) for x in fields[11 : 15 if children else 13]) / CLK_TCK


def cpu_seconds(pid: int, *, children: bool = True) -> float | None:
    """CPU seconds (user + system, waited-for children included) of a process so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return _stat_cpu(stat, children=children)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of a process's threads, summed by name without its number
    ("decode-3" and "decode-7" are "decode"): Vigil names its threads for the OS."""
    groups: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        group = re.sub(r"-\d+$", "", name)
        groups[group] = groups.get(group, 0.0) + _stat_cpu(stat, children=False)
    return groups


def cpu_model() -> str:
    """The CPU's model name and its int8 dot-product instructions (VNNI), which decide how
    fast a quantised model runs: figures from different hosts compare only with this."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), "unknown")  # fmt: skip
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])  # fmt: skip
    vnni = [f for f in ("avx512_vnni", "avx_vnni") if f in flags]
    return f"{model} ({os.cpu_count()} cores; {', '.join(vnni) or 'no VNNI'})"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``check`` holds; raise naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def http_ok(url: str) -> bool:
    """Whether a GET of the URL answers 2xx now."""
    try:
        return httpx.get(url, timeout=1).is_success
    except httpx.HTTPError:
        return False


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, even where SIGINT came in ignored (a
    shell's background job), so that everything started gets stopped."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def admin_headers(db_url: str) -> dict[str, str]:
    """An administrator's bearer token for the bench's own Vigil, made in its database
    (the server must have migrated it): benches sign in like any client."""
    import secrets

    from vigil.security.bootstrap import create_admin
    from vigil.security.tokens import create_token
    from vigil.store import users as user_store
    from vigil.store.db import Database

    db = Database(db_url)
    try:
        user = next((u for u in user_store.list_users(db) if u.username == "bench"), None)
        if user is None:  # a database kept across runs has it already
            user = create_admin(db, username="bench", password=secrets.token_urlsafe(16))
        token, _ = create_token(db, user_id=user.id, name="bench")
    finally:
        db.dispose()
    return {"Authorization": f"Bearer {token}"}


# A log line's level as Vigil (``%(levelname)s``), uvicorn and GStreamer write it.
_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|^Exception (in thread|ignored in)")
_WARNING_LINE = re.compile(r"\bWARN(ING)?\b")
_LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


class LogWatch:
    """Error and warning counts of a log file that is still being written, reading only
    what was added since the last ``update``. Errors are lines at level ERROR or CRITICAL
    and exceptions no handler logged (Python's "Exception in thread ..."); the first few
    distinct ones are kept, without their timestamps, to show what they were."""

    KEEP = 5

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors = 0
        self.warnings = 0
        self.first_errors: list[str] = []
        self._offset = 0
        self._partial = ""

    def update(self) -> None:
        """Count the lines added since the last call."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        self._offset += len(data)
        lines = (self._partial + data.decode(errors="replace")).split("\n")
        self._partial = lines.pop()  # a line still being written
        for line in lines:
            if _ERROR_LINE.search(line):
                self.errors += 1
                text = _LOG_TIME.sub("", line).strip()[:200]
                if len(self.first_errors) < self.KEEP and text not in self.first_errors:
                    self.first_errors.append(text)
            elif _WARNING_LINE.search(line):
                self.warnings += 1


@contextlib.contextmanager
def postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database named ``<prefix>_<random>`` for one run, dropped
    afterwards (connections still open are closed by force); yields its URL. ``admin_url``
    is a database URL that may create databases (``postgresql://postgres@host/postgres``)."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""The hashes of the recording chain: a segment file's SHA-256 and its link to the previous
segment of the same camera. Pure functions, no database, so the recorder and the verifier
compute exactly the same thing.

``chain_hash = SHA-256(prev_chain_hash || sha256 || "camera_id|start|end|bytes")`` with the
hashes as raw 32-byte digests (32 zero bytes when the segment starts a chain) and the times
as ISO 8601 UTC with microseconds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

CHUNK = 1024 * 1024
GENESIS = bytes(32)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (raises ``OSError`` when unreadable)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def iso_utc(moment: datetime) -> str:
    """The one text form of a time inside hashes and evidence metadata."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(
    prev_chain_hash: str | None,
    sha256: str,
    *,
    camera_id: int,
    start: datetime,
    end: datetime,
    size: int,
) -> str:
    """The chain hash of a segment (see the module docstring).

    Example:
        >>> from datetime import datetime, UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> len(chain_hash(None, "00" * 32, camera_id=1, start=t, end=t, size=0))
        64
    """
    prev = bytes.fromhex(prev_chain_hash) if prev_chain_hash else GENESIS
    fields = f"{camera_id}|{iso_utc(start)}|{iso_utc(end)}|{size}".encode()
    return hashlib.sha256(prev + bytes.fromhex(sha256) + fields).hexdigest()

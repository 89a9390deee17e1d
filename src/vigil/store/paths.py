"""Stored file paths (segment files, snapshots) resolved safely: a row in the database
never makes Vigil read, serve or delete a file outside the folder it belongs in."""

from __future__ import annotations

from pathlib import Path


def confined(root: Path, relative: str) -> Path | None:
    """``root / relative`` resolved (symlinks followed), or None when that leaves ``root``
    (``..``, an absolute path, a symlink out) or cannot name a file (a NUL byte, too long)."""
    try:
        base = root.resolve()
        path = (base / relative).resolve()
    except (OSError, ValueError):
        return None
    return path if path.is_relative_to(base) else None


def confined_file(root: Path, relative: str) -> Path | None:
    """Like :func:`confined`, and only when a file is there."""
    path = confined(root, relative)
    try:
        return path if path is not None and path.is_file() else None
    except OSError:  # a name too long for the file system: no such file either
        return None

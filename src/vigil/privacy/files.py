"""Files a data-subject request keeps under the data directory (reference photos, hit
thumbnails, exports): written whole, removed only from inside the data directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vigil.store.paths import confined_file

PRIVACY_DIR = "privacy"


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole (readers never see half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)


def remove_files(data_dir: Path, relative: Sequence[str]) -> int:
    """Delete files given relative to the data directory (never outside it); returns how
    many were there."""
    root = data_dir.resolve()
    removed = 0
    for name in relative:
        path = confined_file(root, name)
        if path is not None:
            path.unlink()
            removed += 1
    return removed

"""Evidence export package: one ZIP that proves what it holds.

```
video.mp4       the footage, by stream copy (media/playback.py export_mp4); for a requester
                without the unmask permission, with privacy masks filled in (re-encoded)
metadata.json   camera, requested and actual range, the segments used with their hashes,
                the chain verification, who asked and why, when, Vigil's version, key fingerprint
public_key.pem  the installation's Ed25519 public key
manifest.json   SHA-256 of every other file (the three above)
manifest.sig    Ed25519 signature of manifest.json (64 raw bytes)
```
``evidence/verify.py`` checks it offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vigil import __version__
from vigil.domain.hashing import file_sha256, iso_utc
from vigil.domain.privacy import PrivacyMask, dump_masks
from vigil.evidence.chain import verify_camera_chain
from vigil.media.footage import Footage
from vigil.media.playback import ExportResult, export_mp4
from vigil.media.privacy import export_masked_mp4
from vigil.security.signing import fingerprint, load_signing_key, public_pem, sign
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.models import Camera
from vigil.store.types import utcnow

FORMAT = "vigil-evidence/1"
VIDEO, METADATA, PUBLIC_KEY, MANIFEST, SIGNATURE = (
    "video.mp4",
    "metadata.json",
    "public_key.pem",
    "manifest.json",
    "manifest.sig",
)
# Segments start at most this long before a moment they contain.
SEGMENT_LOOKBACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class EvidenceRequest:
    """What to package, and who asked for it and why."""

    camera: Camera
    start: datetime
    end: datetime
    reason: str
    requested_by: str
    # Filled into every frame (re-encoded) for a requester without the unmask permission;
    # the metadata says so and lists them.
    privacy_masks: tuple[PrivacyMask, ...] = ()


def build_package(
    db: Database, *, recordings_dir: Path, data_dir: Path, request: EvidenceRequest, out: Path
) -> dict[str, Any]:
    """Export, describe, hash and sign ``request`` into the ZIP ``out``; returns the metadata.

    Raises:
        NoFootageError: Nothing recorded in the range.
        FootageUnavailable: Part of it is on a recorder node that cannot serve it now.
    """
    camera = request.camera
    footage = Footage(db, recordings_dir=recordings_dir, data_dir=data_dir)
    files = footage.segment_files(camera.id, request.start - SEGMENT_LOOKBACK, request.end)
    work = out.with_name(f".{out.name}.parts")
    work.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        if request.privacy_masks:
            masks = request.privacy_masks
            video = export_masked_mp4(files, request.start, request.end, work / VIDEO, masks)
        else:
            video = export_mp4(files, request.start, request.end, work / VIDEO)
        metadata = _metadata(db, footage, request, video)
        metadata["privacy_masks"] = {
            "applied": bool(request.privacy_masks),
            "masks": dump_masks(request.privacy_masks),
        }
        write_signed_zip(partial, data_dir, {VIDEO: video.path}, metadata)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
        for leftover in work.iterdir() if work.exists() else ():
            leftover.unlink()
        if work.exists():
            work.rmdir()
    return metadata


def write_signed_zip(
    out: Path,
    data_dir: Path,
    videos: dict[str, Path],
    metadata: dict[str, Any],
    *,
    package_format: str = FORMAT,
) -> None:
    """Write a signed package: the videos (stored as they are), ``metadata.json`` (with the
    signing key's fingerprint added), the public key, the SHA-256 manifest of every file
    and the Ed25519 signature of the manifest. Evidence and access exports share it, so
    ``vigil verify`` checks both."""
    key = load_signing_key(data_dir)
    metadata["signing_key"] = {
        "algorithm": "Ed25519",
        "file": PUBLIC_KEY,
        "fingerprint": fingerprint(key.public_key()),
    }
    meta_bytes = json.dumps(metadata, indent=2, sort_keys=True).encode()
    key_bytes = public_pem(key.public_key())
    manifest = {
        "format": package_format,
        "algorithm": "sha256",
        "files": {
            **{name: file_sha256(path) for name, path in videos.items()},
            METADATA: hashlib.sha256(meta_bytes).hexdigest(),
            PUBLIC_KEY: hashlib.sha256(key_bytes).hexdigest(),
        },
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, path in videos.items():  # video is compressed already
            zf.write(path, name, compress_type=zipfile.ZIP_STORED)
        for name, data in (
            (METADATA, meta_bytes),
            (PUBLIC_KEY, key_bytes),
            (MANIFEST, manifest_bytes),
            (SIGNATURE, sign(key, manifest_bytes)),
        ):
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)


def _metadata(
    db: Database, footage: Footage, request: EvidenceRequest, video: ExportResult
) -> dict[str, Any]:
    camera = request.camera
    used = [
        s
        for s in recordings.segments_between(db, camera.id, video.start, video.end)
        if s.end is not None
    ]
    chain = verify_camera_chain(
        db, footage.root, camera.id, video.start, video.end, locate=footage.locate
    )
    return {
        "format": FORMAT,
        "camera": {"id": camera.id, "name": camera.name, "location": camera.location},
        "requested": {"start": iso_utc(request.start), "end": iso_utc(request.end)},
        "actual": {
            "first_frame": iso_utc(video.start),
            "last_frame_end": iso_utc(video.end),
            "duration_s": round(video.duration_s, 3),
            "stopped_at_format_change": (
                iso_utc(video.format_change_at) if video.format_change_at else None
            ),
        },
        "segments": [
            {
                "id": s.id,
                "start": iso_utc(s.start),
                "end": iso_utc(s.end) if s.end else None,
                "bytes": s.bytes,
                "sha256": s.sha256,
                "prev_chain_hash": s.prev_chain_hash,
                "chain_hash": s.chain_hash,
            }
            for s in used
        ],
        "chain_verification": chain.model_dump(mode="json"),
        "requested_by": request.requested_by,
        "reason": request.reason,
        "created_at": iso_utc(utcnow()),
        "vigil_version": __version__,
    }

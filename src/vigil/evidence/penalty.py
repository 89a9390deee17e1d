"""Penalty evidence package: a parking overstay made ready for the fines office.

```
arrival.jpg     the vehicle as it stopped (taken once it had stood 2 s)
limit.jpg       the vehicle when the stop passed the limit (the event's snapshot)
plate.jpg       the plate, cut from the frame at the limit (when it was read)
video.mp4       the recording around the limit (when the camera recorded it)
metadata.json   offence (zone, limit, stopped for, arrival and limit times), vehicle (plate,
                its confidence and format, class), camera (name, location), the event, who
                asked and why, the recording's segments and chain check (with video.mp4)
public_key.pem, manifest.json, manifest.sig   as in every Vigil package
```
The same signed format as the evidence export (``evidence/package.py`` ``write_signed_zip``),
so ``vigil verify`` checks it offline; a photo that cannot be found is named in the metadata
(``missing``) rather than failing the package.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vigil import __version__
from vigil.domain.events import Event
from vigil.domain.hashing import iso_utc
from vigil.evidence.package import write_signed_zip
from vigil.media.footage import Footage
from vigil.media.playback import NoFootageError, export_mp4
from vigil.store.db import Database
from vigil.store.models import Camera
from vigil.store.types import utcnow

__all__ = ["PENALTY_FORMAT", "NotAnOverstay", "PenaltyRequest", "build_penalty_package"]

PENALTY_FORMAT = "vigil-penalty/1"
VIDEO_BEFORE = timedelta(seconds=10)
VIDEO_AFTER = timedelta(seconds=5)
SEGMENT_LOOKBACK = timedelta(minutes=5)


class NotAnOverstay(ValueError):
    """The event is not a parked vehicle's overstay."""


@dataclass(frozen=True, slots=True)
class PenaltyRequest:
    """The overstay to package, its photos (JPEG bytes; None: not found), who asked, why."""

    event: Event
    camera: Camera
    arrival: bytes | None
    limit: bytes | None
    plate: bytes | None
    requested_by: str
    reason: str


def build_penalty_package(
    db: Database, *, recordings_dir: Path, data_dir: Path, request: PenaltyRequest, out: Path
) -> dict[str, Any]:
    """Write the signed package ``out``; returns its metadata.

    Raises:
        NotAnOverstay: The event is not a ``parked_vehicle`` event.
        FootageUnavailable: The recording is on a recorder node that cannot serve it now.
    """
    event = request.event
    if event.type != "parked_vehicle":
        raise NotAnOverstay(f"event {event.id} is a {event.type}, not a parked vehicle")
    files: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="vigil-penalty-", dir=out.parent) as tmp:
        work = Path(tmp)
        photos = {"arrival.jpg": request.arrival, "limit.jpg": request.limit}
        photos["plate.jpg"] = request.plate
        for name, data in photos.items():
            if data is not None:
                (work / name).write_bytes(data)
                files[name] = work / name
        video = _video(db, recordings_dir, data_dir, request.camera, event.at, work / "video.mp4")
        if video is not None:
            files["video.mp4"] = video[0]
        metadata = _metadata(request, sorted(files), video[1] if video else None)
        partial = work / "package.zip"
        write_signed_zip(partial, data_dir, files, metadata, package_format=PENALTY_FORMAT)
        os.replace(partial, out)
    return metadata


def _video(
    db: Database, recordings_dir: Path, data_dir: Path, camera: Camera, at: datetime, out: Path
) -> tuple[Path, dict[str, Any]] | None:
    """The recording around the limit, and what it covers; None when nothing was recorded."""
    footage = Footage(db, recordings_dir=recordings_dir, data_dir=data_dir)
    start, end = at - VIDEO_BEFORE, at + VIDEO_AFTER
    files = footage.segment_files(camera.id, start - SEGMENT_LOOKBACK, end)
    try:
        result = export_mp4(files, start, end, out)
    except NoFootageError:
        return None
    return result.path, {
        "first_frame": iso_utc(result.start),
        "last_frame_end": iso_utc(result.end),
        "duration_s": round(result.duration_s, 3),
    }


def _metadata(
    request: PenaltyRequest, files: list[str], video: dict[str, Any] | None
) -> dict[str, Any]:
    event, camera = request.event, request.camera
    attributes = event.attributes
    stopped_s = attributes.get("stopped_s")
    arrived_at = attributes.get("arrived_at")
    if arrived_at is None and isinstance(stopped_s, int | float):
        arrived_at = iso_utc(event.at - timedelta(seconds=stopped_s))
    wanted = ["arrival.jpg", "limit.jpg", "plate.jpg", "video.mp4"]
    return {
        "format": PENALTY_FORMAT,
        "offence": {
            "type": "parking overstay",
            "zone": event.zone,
            "limit_s": attributes.get("max_s"),
            "stopped_s": stopped_s,
            "arrived_at": arrived_at,
            "limit_at": iso_utc(event.at),
            "rule": attributes.get("behaviour"),
        },
        "vehicle": {
            "plate": attributes.get("plate"),
            "plate_confidence": attributes.get("plate_confidence"),
            "plate_format": attributes.get("plate_format"),
            "class": event.object.class_name if event.object else None,
            "box": list(event.object.box) if event.object and event.object.box else None,
        },
        "camera": {"id": camera.id, "name": camera.name, "location": camera.location},
        "event": {"id": event.id, "at": iso_utc(event.at), "source": event.source},
        "files": files,
        "missing": [name for name in wanted if name not in files],
        "video": video,
        "requested_by": request.requested_by,
        "reason": request.reason,
        "created_at": iso_utc(utcnow()),
        "vigil_version": __version__,
    }

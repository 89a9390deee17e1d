"""Access export of a data-subject request: the footage of the confirmed hits (each with some
seconds either side, merged per camera), with the camera's privacy masks filled in and every
face and plate redacted (``privacy/redaction.py``), in one ZIP signed like an evidence
package, so ``vigil verify`` checks it offline::

    clips/<n>_camera<id>_<start>.mp4   one clip per range, redacted
    metadata.json   the request, each clip's camera, range, SHA-256 and redaction report,
                    ranges without footage, who made it and when, the key's fingerprint
    public_key.pem  the installation's Ed25519 public key
    manifest.json   SHA-256 of every file above
    manifest.sig    Ed25519 signature of manifest.json

It runs as the request's background job (``privacy/jobs.py``): progress, cancel. The ZIP
stays under the data directory until the request is closed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vigil import __version__
from vigil.domain.errors import Conflict
from vigil.domain.hashing import file_sha256, iso_utc
from vigil.domain.subject_requests import (
    RequestKind,
    TimeRange,
    appearance_ranges,
)
from vigil.evidence.package import SEGMENT_LOOKBACK, write_signed_zip
from vigil.media.footage import Footage, FootageUnavailable
from vigil.media.playback import NoFootageError, export_mp4
from vigil.media.privacy import export_masked_mp4
from vigil.privacy.files import PRIVACY_DIR, remove_files
from vigil.privacy.jobs import run_job
from vigil.security import audit
from vigil.store import subject_requests as store
from vigil.store.cameras import get_camera
from vigil.store.db import Database
from vigil.store.models_subject_requests import SubjectRequest
from vigil.store.privacy import get_masks
from vigil.store.types import utcnow

FORMAT = "vigil-subject-access/1"
MAX_EXPORT_TOTAL = timedelta(hours=2)
PROGRESS_EVERY_S = 1.0


class ExportCancelled(Exception):
    """The DPO cancelled the export."""


def export_ranges(
    db: Database, request_id: int, *, pad_s: float, hit_ids: Sequence[int] | None
) -> list[TimeRange]:
    """The ranges an access export would hold: the chosen hits (default: the confirmed ones)
    padded by ``pad_s`` and merged.

    Raises:
        NotFound: A hit that is not the request's.
        Conflict: No hit chosen.
        ValueError: More footage than ``MAX_EXPORT_TOTAL`` (export in parts).
    """
    appearances = store.hit_appearances(db, request_id, hit_ids)
    if not appearances:
        raise Conflict(
            f"request {request_id}: no confirmed hit to export (search, then confirm hits)"
        )
    ranges = appearance_ranges(appearances, pad_s)
    total = sum((r.end - r.start for r in ranges), timedelta())
    if total > MAX_EXPORT_TOTAL:
        raise ValueError(
            f"the hits span {total} of footage; an access export holds at most "
            f"{MAX_EXPORT_TOTAL}: choose fewer hits and export in parts"
        )
    return ranges


def start_export(
    db: Database,
    *,
    data_dir: Path,
    recordings_dir: Path,
    request_id: int,
    username: str,
    pad_s: float,
    hit_ids: Sequence[int] | None = None,
    models_dir: Path | None = None,
) -> SubjectRequest:
    """Start the redacted export of an access request in the background.

    Raises:
        NotFound, Conflict: No such request; not an access request in review; a job runs;
            no hits.
        ValueError: Too much footage.
    """
    row = store.get_request(db, request_id)
    if row.kind != RequestKind.ACCESS:
        raise Conflict(
            f"request {request_id} asks for {row.kind}: only an access request is exported"
        )
    ranges = export_ranges(db, request_id, pad_s=pad_s, hit_ids=hit_ids)
    described = [_range_json(r) for r in ranges]
    row = store.claim_job(
        db, request_id, kind="export", username=username, details={"ranges": described}
    )

    def work() -> None:
        run_export(
            db,
            data_dir=data_dir,
            recordings_dir=recordings_dir,
            request_id=request_id,
            ranges=ranges,
            username=username,
            models_dir=models_dir,
        )

    run_job(db, request_id, "export", work)
    return row


def _range_json(r: TimeRange) -> dict[str, Any]:
    return {"camera_id": r.camera_id, "start": iso_utc(r.start), "end": iso_utc(r.end)}


def _report_json(report: object) -> Any:
    """A redaction report as JSON, whatever its type (pydantic model or dataclass)."""
    if isinstance(report, BaseModel):
        return report.model_dump(mode="json")
    if is_dataclass(report) and not isinstance(report, type):
        return json.loads(json.dumps(asdict(report), default=str))
    return str(report)


def run_export(
    db: Database,
    *,
    data_dir: Path,
    recordings_dir: Path,
    request_id: int,
    ranges: Sequence[TimeRange],
    username: str,
    models_dir: Path | None = None,
) -> SubjectRequest:
    """Export, mask, redact, describe, hash and sign the ranges; end the request's job."""
    # Decoders and models: loaded only when exporting.
    from vigil.privacy.redaction import load_object_detector, redact_clip

    row = store.get_request(db, request_id)
    # People whose faces are too small for the face detector are found by the object
    # detector, when its model is installed.
    detector = load_object_detector(models_dir) if models_dir is not None else None
    folder = Path(PRIVACY_DIR) / "requests" / str(request_id)
    work = data_dir / folder / f".export-{utcnow():%Y%m%dT%H%M%S%f}"
    work.mkdir(parents=True, exist_ok=True)
    detail: dict[str, Any] = {"ranges": len(ranges), "clips": 0, "missing": []}
    beat = {"at": 0.0}

    def progress(done_ranges: int, fraction: float) -> None:
        if time.monotonic() - beat["at"] < PROGRESS_EVERY_S and fraction < 1.0:
            return
        beat["at"] = time.monotonic()
        overall = (done_ranges + fraction) / max(len(ranges), 1)
        if store.job_progress(db, request_id, overall, detail):
            raise ExportCancelled

    clips: list[dict[str, Any]] = []
    footage = Footage(db, recordings_dir=recordings_dir, data_dir=data_dir)
    try:
        for index, r in enumerate(ranges):
            progress(index, 0.0)
            name = f"clips/{index + 1:03d}_camera{r.camera_id}_{r.start:%Y%m%dT%H%M%SZ}.mp4"
            plain = work / f"{index}.plain.mp4"
            clip = work / f"{index}.mp4"
            masks = get_masks(db, r.camera_id) or []
            try:
                files = footage.segment_files(r.camera_id, r.start - SEGMENT_LOOKBACK, r.end)
                if masks:
                    exported = export_masked_mp4(files, r.start, r.end, plain, masks)
                else:
                    exported = export_mp4(files, r.start, r.end, plain)
            except NoFootageError:
                detail["missing"].append({**_range_json(r), "reason": "no footage recorded"})
                continue
            except FootageUnavailable as exc:  # the other ranges are still exported
                detail["missing"].append({**_range_json(r), "reason": str(exc)})
                continue
            report = redact_clip(
                plain,
                clip,
                faces=True,
                plates=True,
                progress=functools.partial(progress, index),
                detector=detector,
            )
            plain.unlink(missing_ok=True)
            camera = get_camera(db, r.camera_id)
            clips.append(
                {
                    "file": name,
                    "path": clip,
                    "camera": {
                        "id": r.camera_id,
                        "name": camera.name if camera is not None else None,
                    },
                    "requested": _range_json(r),
                    "actual": {
                        "first_frame": iso_utc(exported.start),
                        "last_frame_end": iso_utc(exported.end),
                    },
                    "privacy_masks": len(masks),
                    "redaction": _report_json(report),
                }
            )
            detail["clips"] = len(clips)
        if not clips:
            shutil.rmtree(work, ignore_errors=True)
            error = "no footage is left for these hits (deleted by retention or erased?)"
            return _end(db, row, "failed", detail, username, error=error)
        out = data_dir / folder / f"access-{request_id}-{utcnow():%Y%m%dT%H%M%SZ}.zip"
        metadata = _write_package(data_dir, out, row, clips, detail, username)
    except ExportCancelled:
        shutil.rmtree(work, ignore_errors=True)
        return _end(db, row, "cancelled", detail, username)
    shutil.rmtree(work, ignore_errors=True)
    detail["sha256"] = file_sha256(out)
    detail["files"] = [c["file"] for c in metadata["clips"]]
    if row.export_file:  # the newer export replaces the older one
        remove_files(data_dir, [row.export_file])
    return _end(db, row, "done", detail, username, export_file=out.relative_to(data_dir).as_posix())


def _write_package(
    data_dir: Path,
    out: Path,
    row: SubjectRequest,
    clips: list[dict[str, Any]],
    detail: dict[str, Any],
    username: str,
) -> dict[str, Any]:
    for clip in clips:
        clip["sha256"] = file_sha256(clip["path"])
    metadata: dict[str, Any] = {
        "format": FORMAT,
        "request": {
            "id": row.id,
            "kind": row.kind,
            "legal_reference": row.legal_reference,
        },
        "clips": [{k: v for k, v in c.items() if k != "path"} for c in clips],
        "missing": detail["missing"],
        "created_by": username,
        "created_at": iso_utc(utcnow()),
        "vigil_version": __version__,
    }
    partial = out.with_name(f".{out.name}.partial")
    try:
        videos = {c["file"]: c["path"] for c in clips}
        write_signed_zip(partial, data_dir, videos, metadata, package_format=FORMAT)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return metadata


def _end(
    db: Database,
    row: SubjectRequest,
    state: str,
    detail: dict[str, Any],
    username: str,
    *,
    error: str | None = None,
    export_file: str | None = None,
) -> SubjectRequest:
    done = store.finish_job(
        db, row.id, state=state, detail=detail, error=error, export_file=export_file
    )
    audit.record(
        db,
        action="privacy.request.export",
        outcome=audit.Outcome.SUCCESS if error is None else audit.Outcome.FAILURE,
        username=username,
        target=f"subject_request:{row.id}",
        details={"state": state, **detail, **({"error": error} if error else {})},
    )
    return done

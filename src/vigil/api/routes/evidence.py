"""Evidence of a camera's recordings: integrity of the hash chain, signed export packages."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from vigil.api.auth import Principal, audit_action, require
from vigil.api.deps import CameraDep, ContextDep
from vigil.api.errors import FieldError
from vigil.api.routes.privacy import masks_for
from vigil.api.routes.recordings import UNAVAILABLE, footage_of, footage_unavailable
from vigil.api.schemas_evidence import EvidenceExportCreate
from vigil.domain.permissions import Permission
from vigil.evidence.chain import ChainReport, verify_camera_chain
from vigil.evidence.package import EvidenceRequest, build_package
from vigil.media.footage import FootageUnavailable
from vigil.media.playback import NoFootageError
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/cameras/{camera_id}", tags=["evidence"])

MAX_VERIFY = timedelta(days=31)
MAX_EXPORT = timedelta(hours=24)

When = Annotated[datetime | None, Query(description="ISO 8601 time with a timezone")]


@router.get(
    "/integrity",
    response_model=ChainReport,
    responses=UNAVAILABLE,
    dependencies=[Depends(require(Permission.PLAYBACK, Permission.EXPORT, Permission.AUDIT))],
)
async def integrity(
    camera: CameraDep, ctx: ContextDep, start: When = None, end: When = None
) -> ChainReport:
    """Verify the camera's recording chain over [start, end) (default: the last 24 hours):
    altered files, edited index rows and segments missing from the middle are reported."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise FieldError(name, "needs a timezone, e.g. 2026-01-01T12:00:00Z")
    end = end or utcnow()
    start = start or end - timedelta(hours=24)
    if start >= end:
        raise FieldError("end", "'end' must be after 'start'")
    if end - start > MAX_VERIFY:
        raise FieldError("end", f"a verification spans at most {MAX_VERIFY.days} days")
    footage = footage_of(ctx)
    try:
        return await asyncio.to_thread(
            verify_camera_chain,
            ctx.db,
            footage.root,
            camera.id,
            start,
            end,
            locate=footage.locate,
        )
    except FootageUnavailable as exc:
        raise footage_unavailable(exc) from None


@router.post("/evidence-export", response_class=FileResponse, responses=UNAVAILABLE)
async def evidence_export(
    user: Annotated[Principal, Depends(require(Permission.EXPORT))],
    camera: CameraDep,
    body: EvidenceExportCreate,
    ctx: ContextDep,
    request: Request,
) -> FileResponse:
    """A signed evidence package (ZIP: video.mp4, metadata.json, public_key.pem,
    manifest.json, manifest.sig) of [start, end]; check it with ``vigil verify``."""
    if body.start >= body.end:
        raise FieldError("end", "'end' must be after 'start'")
    if body.end - body.start > MAX_EXPORT:
        raise FieldError("end", "an export spans at most 24 hours; export in parts")
    out_dir = ctx.settings.data_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"evidence-{camera.id}-{utcnow():%Y%m%d%H%M%S%f}.zip"
    # Without the unmask permission the package's video carries the camera's privacy masks.
    masks = tuple(masks_for(request, user, camera))
    wanted = EvidenceRequest(
        camera, body.start, body.end, body.reason, body.requested_by, privacy_masks=masks
    )
    try:
        await asyncio.to_thread(
            build_package,
            ctx.db,
            recordings_dir=ctx.settings.recordings_dir,
            data_dir=ctx.settings.data_dir,
            request=wanted,
            out=out,
        )
    except NoFootageError:
        raise HTTPException(
            404,
            f"no recording of camera {camera.id} between {body.start.isoformat()} and "
            f"{body.end.isoformat()}",
        ) from None
    except FootageUnavailable as exc:
        raise footage_unavailable(exc) from None
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", camera.name)
    start, end = body.start.astimezone(UTC), body.end.astimezone(UTC)
    await run_in_threadpool(
        audit_action,
        request,
        user,
        "camera.evidence_export",
        camera_id=camera.id,
        start=start,
        end=end,
        reason=body.reason,
        requested_by=body.requested_by,
        masked=bool(masks),
    )
    return FileResponse(
        out,
        media_type="application/zip",
        filename=f"evidence_{safe_name}_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.zip",
        background=BackgroundTask(out.unlink, missing_ok=True),
    )

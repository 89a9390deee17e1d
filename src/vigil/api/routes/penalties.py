"""Penalty evidence packages of parking overstays, for the municipality's fines office."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from vigil.api.auth import Principal, audit_action, ensure_camera, require
from vigil.api.deps import ContextDep
from vigil.api.routes.events import recorded_bytes
from vigil.api.routes.privacy import masks_for
from vigil.api.routes.recordings import UNAVAILABLE, footage_unavailable
from vigil.api.schemas_evidence import Person, Why
from vigil.domain.permissions import Permission
from vigil.evidence.penalty import NotAnOverstay, PenaltyRequest, build_penalty_package
from vigil.media.footage import FootageUnavailable
from vigil.store import cameras as camera_store
from vigil.store import events as event_store
from vigil.store.types import utcnow

router = APIRouter(tags=["evidence"])


class PenaltyPackageCreate(BaseModel):
    """Why the package is made and for whom."""

    model_config = ConfigDict(extra="forbid")
    reason: Why
    requested_by: Person


@router.post(
    "/api/events/{event_id}/penalty-package", response_class=FileResponse, responses=UNAVAILABLE
)
async def penalty_package(
    event_id: str,
    body: PenaltyPackageCreate,
    ctx: ContextDep,
    request: Request,
    user: Annotated[Principal, Depends(require(Permission.EXPORT))],
) -> FileResponse:
    """A signed penalty package of a ``parked_vehicle`` event (ZIP: arrival.jpg, limit.jpg,
    plate.jpg, video.mp4 when recorded, metadata.json, public_key.pem, manifest.json,
    manifest.sig); check it with ``vigil verify``. Its photos show the scene as recorded:
    on a camera with privacy masks it needs the unmask permission."""
    event = await asyncio.to_thread(event_store.get_event, ctx.db, event_id)
    if event is None:
        raise HTTPException(404, f"event {event_id} not found")
    if event.camera_id is None:
        raise HTTPException(422, f"event {event_id} is not from a camera")
    camera = await asyncio.to_thread(camera_store.get_camera, ctx.db, event.camera_id)
    if camera is None:
        raise HTTPException(404, f"camera {event.camera_id} not found")
    await asyncio.to_thread(ensure_camera, request, user, camera.id, Permission.EXPORT)
    if await asyncio.to_thread(masks_for, request, user, camera):
        raise HTTPException(
            403,
            f"camera {camera.name} has privacy masks and a penalty package shows the scene "
            "unmasked: it needs the unmask permission on the camera",
        )

    def photo(path: object) -> bytes | None:
        if not isinstance(path, str) or not path:
            return None
        return recorded_bytes(ctx, path, camera_id=camera.id, at=event.at)

    attributes = event.attributes
    arrival, limit, plate = await asyncio.gather(
        *(
            asyncio.to_thread(photo, p)
            for p in (attributes.get("arrival_photo"), event.snapshot, attributes.get("plate_crop"))
        )
    )
    wanted = PenaltyRequest(event, camera, arrival, limit, plate, body.requested_by, body.reason)
    out_dir = ctx.settings.data_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"penalty-{camera.id}-{utcnow():%Y%m%d%H%M%S%f}.zip"
    try:
        metadata = await asyncio.to_thread(
            build_penalty_package,
            ctx.db,
            recordings_dir=ctx.settings.recordings_dir,
            data_dir=ctx.settings.data_dir,
            request=wanted,
            out=out,
        )
    except NotAnOverstay as exc:
        raise HTTPException(422, str(exc)) from None
    except FootageUnavailable as exc:
        raise footage_unavailable(exc) from None
    await run_in_threadpool(
        audit_action,
        request,
        user,
        "event.penalty_package",
        camera_id=camera.id,
        target=f"event:{event.id}",
        plate=metadata["vehicle"]["plate"],
        reason=body.reason,
        requested_by=body.requested_by,
    )
    plate_name = re.sub(r"[^A-Za-z0-9]+", "", str(metadata["vehicle"]["plate"] or "unread"))
    return FileResponse(
        out,
        media_type="application/zip",
        filename=f"penalty_{plate_name}_{event.at:%Y%m%dT%H%M%SZ}.zip",
        background=BackgroundTask(out.unlink, missing_ok=True),
    )

"""Privacy masks of a camera: polygons hidden from everyone without the unmask permission,
in live view, playback and exports, and never analysed (``domain/privacy.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from vigil.api.auth import ManageUser, Principal, audit_action, holds
from vigil.api.deps import CameraDep, ContextDep
from vigil.domain.errors import NotFound
from vigil.domain.messages import CamerasChanged
from vigil.domain.permissions import Permission
from vigil.domain.privacy import MAX_MASKS, PrivacyMask, PrivacyMasks
from vigil.store import privacy as privacy_store
from vigil.store.models import Camera

router = APIRouter(prefix="/api/cameras/{camera_id}", tags=["privacy"])

PRIVACY_CHANGE = "privacy_masks"
"""``CamerasChanged.change`` for a mask change: recorders apply it without restarting."""
MASKED_HEADER = "X-Vigil-Masked"
"""Set to "1" on video served with privacy masks applied."""


def masks_for(conn: HTTPConnection, user: Principal, camera: Camera) -> list[PrivacyMask]:
    """The masks a caller's video of a camera must carry: the camera's masks, unless the
    caller holds the unmask permission on it (then none)."""
    masks = privacy_store.masks_of(camera)
    if not masks or holds(conn, user, Permission.UNMASK, camera.id):
        return []
    return masks


class PrivacyMasksUpdate(BaseModel):
    """A camera's complete set of masks (replaces the previous one; empty: none)."""

    model_config = ConfigDict(extra="forbid")

    masks: PrivacyMasks = Field(
        description=f"at most {MAX_MASKS} named polygons, points normalised to 0..1"
    )


class PrivacyMasksPublic(BaseModel):
    """A camera's masks."""

    camera_id: int
    masks: list[PrivacyMask]


@router.get("/privacy-masks", response_model=PrivacyMasksPublic)
def get_privacy_masks(user: ManageUser, camera: CameraDep, ctx: ContextDep) -> PrivacyMasksPublic:
    """The camera's privacy masks."""
    masks = privacy_store.get_masks(ctx.db, camera.id)
    if masks is None:
        raise NotFound(f"camera {camera.id} not found")
    return PrivacyMasksPublic(camera_id=camera.id, masks=masks)


@router.put("/privacy-masks", response_model=PrivacyMasksPublic)
async def put_privacy_masks(
    user: ManageUser,
    camera: CameraDep,
    body: PrivacyMasksUpdate,
    ctx: ContextDep,
    request: Request,
) -> PrivacyMasksPublic:
    """Replace the camera's privacy masks. They apply to live view within seconds (without
    interrupting recording or viewers), to every playback and export from now on, and to
    analytics, which restarts for this camera. Audited as a configuration change."""
    before = privacy_store.get_masks(ctx.db, camera.id) or []
    if not privacy_store.save_masks(ctx.db, camera.id, body.masks):
        raise NotFound(f"camera {camera.id} not found")
    await run_in_threadpool(
        audit_action,
        request,
        user,
        "camera.privacy_masks",
        camera_id=camera.id,
        target=f"camera:{camera.id}",
        before=[mask.name for mask in before],
        after=[mask.name for mask in body.masks],
        masks=[mask.model_dump(mode="json") for mask in body.masks],
    )
    await ctx.bus.publish(
        CamerasChanged.SUBJECT, CamerasChanged(camera_id=camera.id, change=PRIVACY_CHANGE)
    )
    return PrivacyMasksPublic(camera_id=camera.id, masks=body.masks)

"""Cameras: add, list, change, disable and remove."""

from __future__ import annotations

import shutil
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from vigil.api.auth import (
    CAMERA_ACCESS,
    CurrentUser,
    ManageUser,
    audit_action,
    require,
    visible_cameras,
)
from vigil.api.deps import CameraDep, ContextDep, ServerContext
from vigil.api.errors import FieldError
from vigil.api.routes.map import check_position
from vigil.api.schemas import CameraCreate, CameraPublic, CameraUpdate, HealthPublic
from vigil.domain.cameras import CameraStatus, RecordingMode, problem_of, reported_status
from vigil.domain.errors import Conflict
from vigil.domain.messages import CamerasChanged
from vigil.federation.store import SITE_FILTER, stored_sites
from vigil.media.footage import delete_on_nodes, elsewhere
from vigil.store import cameras as camera_store
from vigil.store import leases, nodes, recordings
from vigil.store.cameras import DuplicateCameraName
from vigil.store.evidence_locks import list_locks
from vigil.store.map import position_of
from vigil.store.models import Camera, CameraHealth
from vigil.store.recording_requests import keep_recorded
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


def to_public(camera: Camera, health: CameraHealth | None, node: str | None = None) -> CameraPublic:
    """A camera and its health as the API shows them; ``node``: the recorder node that
    holds its lease (where it is recorded)."""
    if health is not None:
        health_public = HealthPublic.model_validate(health)
        status, why = reported_status(health.status, health.updated_at, health.node, utcnow())
        if why:
            health_public.status, health_public.fps, health_public.bitrate_bps = status, 0.0, 0.0
            health_public.last_error = why
    else:
        pending = CameraStatus.CONNECTING if camera.enabled else CameraStatus.DISABLED
        health_public = HealthPublic(status=pending.value)
    if not camera.enabled:
        health_public.status = CameraStatus.DISABLED.value
    health_public.problem = problem_of(health_public.status, health_public.last_error)
    return CameraPublic(
        id=camera.id,
        name=camera.name,
        main_url=camera.main_url,
        sub_url=camera.sub_url,
        username=camera.username,
        has_password=camera.password_encrypted is not None,
        location=camera.location,
        notes=camera.notes,
        enabled=camera.enabled,
        retention_days=camera.retention_days,
        recording_mode=RecordingMode(camera.recording_mode),
        event_retention_days=camera.event_retention_days,
        pinned_node=camera.pinned_node,
        position=position_of(camera),
        node=node,
        site=camera.site,
        uid=camera.uid,
        created_at=camera.created_at,
        updated_at=camera.updated_at,
        health=health_public,
    )


async def _announce(ctx: ServerContext, camera_id: int, change: str) -> None:
    await ctx.bus.publish(
        CamerasChanged.SUBJECT, CamerasChanged(camera_id=camera_id, change=change)
    )


@router.get("", response_model=list[CameraPublic])
def list_cameras(
    ctx: ContextDep,
    request: Request,
    user: CurrentUser,
    site: Annotated[str | None, Query(description=SITE_FILTER)] = None,
) -> list[CameraPublic]:
    """The cameras the caller may use, with their health. ``site``: only the cameras of
    that linked site, or this installation's own under its name."""
    visible = visible_cameras(request, user, *CAMERA_ACCESS)
    health = camera_store.health_of(ctx.db)
    where = leases.owners(ctx.db)
    sites = stored_sites(site, ctx.settings.site)
    return [
        to_public(c, health.get(c.id), where.get(c.id))
        for c in camera_store.list_cameras(ctx.db, sites=sites)
        if c.id in visible
    ]


@router.post("", response_model=CameraPublic, status_code=status.HTTP_201_CREATED)
async def create_camera(
    body: CameraCreate, ctx: ContextDep, request: Request, user: ManageUser
) -> CameraPublic:
    """Add a camera; its recorder starts recording it within seconds."""
    await run_in_threadpool(_check_pinned_node, ctx, body.pinned_node)
    await run_in_threadpool(check_position, ctx, body.position)
    fields = body.model_dump(exclude={"password", "position"})
    fields["site"] = ctx.settings.site
    if body.position is not None:
        fields["position"] = body.position.model_dump(exclude_none=True)
    if body.password is not None:
        fields["password_encrypted"] = ctx.secrets.encrypt(body.password.get_secret_value())
    try:
        camera = camera_store.create_camera(ctx.db, **fields)
    except DuplicateCameraName:
        raise HTTPException(409, f"a camera named {body.name!r} already exists") from None
    await _announce(ctx, camera.id, "created")
    await run_in_threadpool(
        audit_action, request, user, "camera.create", camera_id=camera.id, target=camera.name
    )
    return to_public(camera, None)


@router.get(
    "/{camera_id}", response_model=CameraPublic, dependencies=[Depends(require(*CAMERA_ACCESS))]
)
def get_camera(camera: CameraDep, ctx: ContextDep) -> CameraPublic:
    """One camera with its health."""
    health = camera_store.health_of(ctx.db).get(camera.id)
    return to_public(camera, health, leases.owners(ctx.db).get(camera.id))


@router.patch("/{camera_id}", response_model=CameraPublic)
async def update_camera(
    body: CameraUpdate, camera: CameraDep, ctx: ContextDep, request: Request, user: ManageUser
) -> CameraPublic:
    """Change a camera; set ``enabled`` false to stop recording it."""
    fields = body.model_dump(exclude_unset=True, exclude={"password"})
    await run_in_threadpool(_check_pinned_node, ctx, fields.get("pinned_node"))
    if "name" in fields and fields["name"] is None:
        raise HTTPException(422, "a camera's name cannot be empty")
    if "main_url" in fields and fields["main_url"] is None:
        raise HTTPException(422, "a camera needs a main stream URL")
    if "recording_mode" in fields and fields["recording_mode"] is None:
        raise HTTPException(422, "recording_mode must be 'continuous' or 'events'")
    if "password" in body.model_fields_set:
        secret = body.password.get_secret_value() if body.password else None
        fields["password_encrypted"] = ctx.secrets.encrypt(secret) if secret else None
    to_events = fields.get("recording_mode") == RecordingMode.EVENTS
    if to_events and camera.recording_mode != RecordingMode.EVENTS:
        # What it recorded continuously stays, under its retention; only what comes is
        # trimmed. Asked first, so that the janitor never sees the switch without it.
        keep_recorded(
            ctx.db, camera.id, until=utcnow(), reason="recorded before switching to events mode"
        )
    try:
        updated = camera_store.update_camera(ctx.db, camera.id, **fields)
    except DuplicateCameraName:
        raise HTTPException(409, f"a camera named {body.name!r} already exists") from None
    if updated is None:
        raise HTTPException(404, f"camera {camera.id} not found")
    await _announce(ctx, camera.id, "updated")
    changed = sorted(body.model_fields_set)  # names only: never the password itself
    await run_in_threadpool(
        audit_action, request, user, "camera.update", camera_id=camera.id, fields=changed
    )
    health = camera_store.health_of(ctx.db).get(camera.id)
    return to_public(updated, health, leases.owners(ctx.db).get(camera.id))


@router.delete("/{camera_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_camera(
    camera: CameraDep, ctx: ContextDep, request: Request, user: ManageUser
) -> Response:
    """Remove a camera together with its recordings (refused while evidence locks hold
    any of its footage: release them first)."""
    locks = list_locks(ctx.db, camera_id=camera.id, active_only=True)
    if locks:
        ids = ", ".join(str(lock.id) for lock in locks)
        raise Conflict(f"camera {camera.id} has footage under evidence locks ({ids}): release them")
    segments = await run_in_threadpool(recordings.camera_segments, ctx.db, camera.id)
    remote = await run_in_threadpool(elsewhere, ctx.settings.recordings_dir, segments)
    camera_store.delete_camera(ctx.db, camera.id)
    await _announce(ctx, camera.id, "deleted")
    shutil.rmtree(ctx.settings.recordings_dir / str(camera.id), ignore_errors=True)
    # Files on recorder nodes' own disks: deleted by their nodes now, or by a node's
    # janitor once it runs again (no row names them any more).
    on_nodes = await run_in_threadpool(delete_on_nodes, ctx.db, ctx.settings.data_dir, remote)
    await run_in_threadpool(
        audit_action,
        request,
        user,
        "camera.delete",
        camera_id=camera.id,
        target=camera.name,
        files_pending_on_nodes=sorted(on_nodes.pending),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _check_pinned_node(ctx: ServerContext, name: str | None) -> None:
    """A pin names a recorder node that has registered (422 with the known ones if not)."""
    if name is None or nodes.get_node(ctx.db, name) is not None:
        return
    known = [n.name for n in nodes.list_nodes(ctx.db)]
    listed = ", ".join(known) if known else "none has registered yet"
    raise FieldError("pinned_node", f"no recorder node is named {name!r}; known nodes: {listed}")

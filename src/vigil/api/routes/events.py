"""Events: the stored history (REST) and live updates for clients (WebSocket)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, WebSocket
from fastapi.responses import FileResponse

from vigil.api.auth import (
    CAMERA_ACCESS,
    WS_FORBIDDEN,
    Principal,
    ensure_alerted,
    ensure_camera,
    require,
    visible_for,
)
from vigil.api.deps import ContextDep, ServerContext, WsContextDep
from vigil.api.routes.sites import site_event_snapshot
from vigil.api.schemas_alarms import EventPublic
from vigil.api.ws import push_until_gone
from vigil.bus.base import subject_matches
from vigil.domain.alarms import AlarmChanged
from vigil.domain.events import Event, event_register, hit_register
from vigil.domain.permissions import Visible
from vigil.federation.store import SITE_FILTER, stored_sites
from vigil.media.footage import NodeUnavailable, fetch_data_file
from vigil.store import events as event_store
from vigil.store import recordings
from vigil.store.paths import confined_file

router = APIRouter(tags=["events"])

# What a browser may follow, by topic; internal subjects (configuration) stay on the server.
TOPICS = {
    "cameras": "cameras.*.status",
    "alarms": AlarmChanged.SUBJECTS,
    "events": Event.SUBJECTS,
}
DEFAULT_TOPICS = ("cameras", "alarms")
# Topics of one camera, named by ``?camera=ID``: its analytics' boxes (frames) and status.
CAMERA_TOPICS = {"analytics": ("analytics.{camera}.frame", "analytics.{camera}.status")}


def event_public(event: Event) -> EventPublic:
    """An event and its snapshot's URL."""
    return EventPublic(
        **event.model_dump(),
        snapshot_url=f"/api/events/{event.id}/snapshot" if event.snapshot else None,
    )


# The folders of the data directory whose files routes serve (analytics snapshots and
# thumbnails, data-subject request files); the rest of it (keys, the database) never is,
# whatever path a stored row names.
SERVED_FOLDERS = ("snapshots", "thumbnails", "privacy")


def snapshot_file(ctx: ServerContext, path: str) -> FileResponse:
    """A stored file under the data directory's served folders; never one outside them
    (``..``, an absolute path, a symlink out): 404 for those as for a missing file."""
    root = ctx.settings.data_dir.resolve()
    file = confined_file(root, path)
    if file is None or not any(file.is_relative_to(root / f) for f in SERVED_FOLDERS):
        raise HTTPException(404, "the snapshot is not on this server any more")
    return FileResponse(file)


@router.get("/api/events", response_model=list[EventPublic])
def list_events(
    ctx: ContextDep,
    visible: Annotated[Visible, Depends(visible_for(*CAMERA_ACCESS))],
    since: datetime | None = None,
    until: datetime | None = None,
    camera_id: int | None = None,
    type: Annotated[str | None, Query(description="a type, or a prefix ending in *")] = None,
    limit: Annotated[int, Query(ge=1, le=event_store.EVENTS_LIMIT_MAX)] = 100,
    site: Annotated[str | None, Query(description=SITE_FILTER)] = None,
) -> list[EventPublic]:
    """Stored events of the cameras the caller may see, newest first. ``site``: only the
    events of that linked site, or this installation's own under its name."""
    events = event_store.list_events(
        ctx.db,
        since=since,
        until=until,
        camera_id=camera_id,
        type=type,
        cameras=None if visible.all else visible.camera_ids,
        sites=stored_sites(site, ctx.settings.site),
        hidden_registers=visible.hidden_registers,
        limit=limit,
    )
    return [event_public(e) for e in events]


def recorded_file(ctx: ServerContext, path: str, *, camera_id: int, at: datetime) -> Response:
    """A file that analytics wrote when the camera was recorded at ``at`` (snapshot,
    thumbnail): from this server's data directory when it is there (embedded mode, one
    machine), else from the recorder node that was recording the camera then, through its
    media API. 503 naming the node while that node is unavailable."""
    root = ctx.settings.data_dir.resolve()
    if confined_file(root, path) is not None:
        return snapshot_file(ctx, path)
    data = recorded_bytes(ctx, path, camera_id=camera_id, at=at)
    if data is None:
        raise HTTPException(404, "the snapshot is not on this server any more")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def recorded_bytes(ctx: ServerContext, path: str, *, camera_id: int, at: datetime) -> bytes | None:
    """The bytes of such a file (see :func:`recorded_file`); None when it is nowhere."""
    root = ctx.settings.data_dir.resolve()
    file = confined_file(root, path)
    if file is not None and any(file.is_relative_to(root / f) for f in SERVED_FOLDERS):
        return file.read_bytes()
    node = recordings.node_at(ctx.db, camera_id, at)
    if node is None:
        return None
    try:
        return fetch_data_file(ctx.db, ctx.settings.data_dir, node, path)
    except NodeUnavailable as exc:
        raise HTTPException(503, str(exc)) from None


@router.get("/api/events/{event_id}/snapshot", response_class=FileResponse)
async def event_snapshot(
    event_id: str,
    ctx: ContextDep,
    request: Request,
    user: Annotated[Principal, Depends(require(*CAMERA_ACCESS))],
) -> Response:
    """The snapshot taken with an event (503 naming the recorder node that keeps it while
    that node is unavailable; a linked site's event: from its site)."""
    event = await asyncio.to_thread(event_store.get_event, ctx.db, event_id)
    if event is None or not event.snapshot:
        raise HTTPException(404, f"event {event_id} has no snapshot")
    await asyncio.to_thread(ensure_camera, request, user, event.camera_id, *CAMERA_ACCESS)
    await asyncio.to_thread(ensure_alerted, request, user, event_register(event))
    relayed = await site_event_snapshot(ctx, event)
    if relayed is not None:
        return relayed
    if event.camera_id is None:  # not from a camera: written by this server
        return await asyncio.to_thread(snapshot_file, ctx, event.snapshot)
    return await asyncio.to_thread(
        recorded_file, ctx, event.snapshot, camera_id=event.camera_id, at=event.at
    )


def _register_of(payload: dict[str, Any]) -> int | None:
    """The register of a relayed message: an alarm's (``register_id``) or a hit event's."""
    found = payload.get("register_id")
    if isinstance(found, int):
        return found
    return hit_register(payload.get("type"), payload.get("attributes"))


@router.websocket("/api/events")
async def events(
    websocket: WebSocket,
    ctx: WsContextDep,
    visible: Annotated[Visible, Depends(visible_for(*CAMERA_ACCESS))],
) -> None:
    """Each message is a JSON envelope: ``subject``, ``kind``, ``version``, ``payload``.

    ``?topics=cameras,alarms,events`` (default ``cameras,alarms``) picks what arrives:
    camera status changes (kind ``camera.status``, a
    :class:`~vigil.domain.messages.CameraStatusChanged`), alarm changes (``alarm.changed``,
    :class:`~vigil.domain.alarms.AlarmChanged`) and events (``event``, an
    :class:`~vigil.domain.events.Event`). ``analytics`` needs ``&camera=ID`` and relays that
    camera's :class:`~vigil.domain.events.AnalyticsFrame` (``analytics.frame``) and
    :class:`~vigil.domain.events.AnalyticsStatus` (``analytics.status``).
    """
    asked = websocket.query_params.get("topics")
    names = [t.strip() for t in asked.split(",") if t.strip()] if asked else list(DEFAULT_TOPICS)
    unknown = [t for t in names if t not in TOPICS and t not in CAMERA_TOPICS]
    camera = websocket.query_params.get("camera", "")
    await websocket.accept()
    if unknown:
        known = ", ".join([*TOPICS, *CAMERA_TOPICS])
        await websocket.close(
            code=1008, reason=f"unknown topic(s) {', '.join(unknown)}; known: {known}"
        )
        return
    per_camera = [t for t in names if t in CAMERA_TOPICS]
    if per_camera and not (camera.isascii() and camera.isdecimal()):
        reason = f"topic {per_camera[0]} needs ?camera=ID (a camera id), not {camera[:20]!r}"
        await websocket.close(code=1008, reason=reason)
        return
    if per_camera and int(camera) not in visible:
        await websocket.close(code=WS_FORBIDDEN, reason=f"camera {int(camera)} is not yours to see")
        return
    patterns = [TOPICS[t] for t in names if t in TOPICS]
    patterns += [p.format(camera=int(camera)) for t in per_camera for p in CAMERA_TOPICS[t]]

    async def relay() -> None:
        # One subscription for all topics keeps their messages in one order.
        async with ctx.bus.subscribe(">") as messages:
            async for envelope in messages:
                payload = envelope.payload
                if not visible.shows(payload.get("camera_id"), _register_of(payload)):
                    continue
                if any(subject_matches(p, envelope.subject) for p in patterns):
                    await websocket.send_text(envelope.model_dump_json(exclude={"origin"}))

    await push_until_gone(websocket, relay())

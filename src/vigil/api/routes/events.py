"""Events: the stored history (REST) and live updates for clients (WebSocket)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket
from fastapi.responses import FileResponse

from vigil.api.deps import ContextDep, ServerContext, WsContextDep
from vigil.api.schemas_alarms import EventPublic
from vigil.api.ws import push_until_gone
from vigil.bus.base import subject_matches
from vigil.domain.alarms import AlarmChanged
from vigil.domain.events import Event
from vigil.store import events as event_store

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


def snapshot_file(ctx: ServerContext, path: str) -> FileResponse:
    """A snapshot under the data directory (never a path outside it)."""
    root = ctx.settings.data_dir.resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise HTTPException(404, "the snapshot is not on this server any more")
    return FileResponse(file)


@router.get("/api/events", response_model=list[EventPublic])
def list_events(
    ctx: ContextDep,
    since: datetime | None = None,
    until: datetime | None = None,
    camera_id: int | None = None,
    type: Annotated[str | None, Query(description="a type, or a prefix ending in *")] = None,
    limit: Annotated[int, Query(ge=1, le=event_store.EVENTS_LIMIT_MAX)] = 100,
) -> list[EventPublic]:
    """Stored events, newest first."""
    events = event_store.list_events(
        ctx.db, since=since, until=until, camera_id=camera_id, type=type, limit=limit
    )
    return [event_public(e) for e in events]


@router.get("/api/events/{event_id}/snapshot", response_class=FileResponse)
def event_snapshot(event_id: str, ctx: ContextDep) -> FileResponse:
    """The snapshot taken with an event."""
    event = event_store.get_event(ctx.db, event_id)
    if event is None or not event.snapshot:
        raise HTTPException(404, f"event {event_id} has no snapshot")
    return snapshot_file(ctx, event.snapshot)


@router.websocket("/api/events")
async def events(websocket: WebSocket, ctx: WsContextDep) -> None:
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
    patterns = [TOPICS[t] for t in names if t in TOPICS]
    patterns += [p.format(camera=int(camera)) for t in per_camera for p in CAMERA_TOPICS[t]]

    async def relay() -> None:
        # One subscription for all topics keeps their messages in one order.
        async with ctx.bus.subscribe(">") as messages:
            async for envelope in messages:
                if any(subject_matches(p, envelope.subject) for p in patterns):
                    await websocket.send_text(envelope.model_dump_json(exclude={"origin"}))

    await push_until_gone(websocket, relay())

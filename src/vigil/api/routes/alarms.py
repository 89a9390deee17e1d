"""Alarms: the operators' queue, one alarm's detail, and working it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from vigil.api.auth import (
    Principal,
    audit_action,
    ensure_alerted,
    ensure_camera,
    require,
    visible_for,
)
from vigil.api.deps import ContextDep, ServerContext
from vigil.api.routes.events import event_public, recorded_file, snapshot_file
from vigil.api.routes.sites import forwarded, site_alarm_snapshot, site_history
from vigil.api.schemas_alarms import (
    AlarmDetail,
    AlarmPage,
    AlarmPublic,
    AlarmStats,
    AssignRequest,
    CommentRequest,
    EventPublic,
    NotePublic,
    RunSummary,
    SopItem,
    SopRequest,
    TransitionRequest,
    VideoLink,
)
from vigil.domain.alarms import AlarmState
from vigil.domain.permissions import Permission, Visible
from vigil.domain.rules import PRIORITY_NAMES
from vigil.federation.store import SITE_FILTER, stored_sites
from vigil.store import actions as action_store
from vigil.store import alarms as alarm_store
from vigil.store import events as event_store
from vigil.store.alarms import AlarmFilter, AlarmRow

router = APIRouter(prefix="/api/alarms", tags=["alarms"])

AlarmsUser = Annotated[Principal, Depends(require(Permission.ALARMS))]
AlarmsVisible = Annotated[Visible, Depends(visible_for(Permission.ALARMS))]

VIDEO_AROUND = timedelta(seconds=30)  # footage linked before and after the event
STATE_FILTERS = ("open", "closed", "all", *(s.value for s in AlarmState))


def to_public(row: AlarmRow, local_site: str = "local") -> AlarmPublic:
    """An alarm as the queue shows it (``local_site``: this installation's name)."""
    a = row.alarm
    return AlarmPublic(
        site=local_site if a.site == "local" else a.site,
        uid=a.uid,
        id=a.id,
        rule_id=a.rule_id,
        rule_name=a.rule_name,
        event_id=a.event_id,
        event_type=a.event_type,
        camera_id=a.camera_id,
        camera_name=row.camera_name,
        title=a.title,
        category=a.category,
        priority=a.priority,
        priority_name=PRIORITY_NAMES.get(a.priority, str(a.priority)),
        state=AlarmState(a.state),
        owner=a.owner,
        sop=[SopItem.model_validate(item) for item in a.sop],
        occurrences=a.occurrences,
        first_at=a.first_at,
        last_at=a.last_at,
        snapshot_url=f"/api/alarms/{a.id}/snapshot" if a.snapshot else None,
        escalate_after_min=a.escalate_after_min,
        escalated_at=a.escalated_at,
        acknowledged_at=a.acknowledged_at,
        closed_at=a.closed_at,
        closing_reason=a.closing_reason,
        condition_cleared_at=row.condition_cleared_at,
        created_at=a.created_at,
        updated_at=a.updated_at,
        failed_actions=row.failed_actions,
    )


def _detail(ctx: ServerContext, alarm_id: int) -> AlarmDetail:
    row = alarm_store.get_alarm(ctx.db, alarm_id)
    if row is None:
        raise HTTPException(404, f"alarm {alarm_id} not found")
    alarm = row.alarm
    event = event_store.get_event(ctx.db, alarm.event_id) if alarm.event_id else None
    video = None
    if alarm.camera_id is not None:
        at = event.at if event else alarm.first_at
        video = VideoLink(camera_id=alarm.camera_id, start=at - VIDEO_AROUND, end=at + VIDEO_AROUND)
    return AlarmDetail(
        **to_public(row, ctx.settings.site).model_dump(),
        notes=[NotePublic.model_validate(n) for n in alarm_store.notes_of(ctx.db, alarm_id)],
        actions=[
            RunSummary.model_validate(r) for r in action_store.runs_of_alarm(ctx.db, alarm_id)
        ],
        event=event_public(event) if event else None,
        video=video,
    )


@router.get("", response_model=AlarmPage)
def list_alarms(
    ctx: ContextDep,
    visible: AlarmsVisible,
    state: Annotated[str, Query(description="open, closed, all, or one state")] = "open",
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    category: str | None = None,
    camera_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    site: Annotated[str | None, Query(description=SITE_FILTER)] = None,
) -> AlarmPage:
    """The queue: priority first (1 = critical), then newest first. ``site``: only the
    alarms of that linked site, or this installation's own under its name."""
    if state not in STATE_FILTERS:
        raise HTTPException(422, f"state must be one of {', '.join(STATE_FILTERS)}")
    cameras = None if visible.all else visible.camera_ids
    sites = stored_sites(site, ctx.settings.site)
    f = AlarmFilter(
        state, priority, category, camera_id, since, until, cameras, sites, visible.hidden_registers
    )
    total, rows = alarm_store.list_alarms(ctx.db, f, limit=limit, offset=offset)
    return AlarmPage(total=total, items=[to_public(r, ctx.settings.site) for r in rows])


@router.get("/stats", response_model=AlarmStats)
def alarm_stats(
    ctx: ContextDep,
    visible: AlarmsVisible,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AlarmStats:
    """Alarms (of the caller's cameras) per category, area and priority, and response
    times, over a period."""
    cameras = None if visible.all else visible.camera_ids
    return AlarmStats.model_validate(
        alarm_store.stats(ctx.db, since=since, until=until, cameras=cameras)
    )


def _mine(ctx: ServerContext, request: Request, user: Principal, alarm_id: int) -> int | None:
    """The alarm's camera; 404 for an alarm that does not exist, 403 for one of a camera
    not the caller's."""
    row = alarm_store.get_alarm(ctx.db, alarm_id)
    if row is None:
        raise HTTPException(404, f"alarm {alarm_id} not found")
    ensure_camera(request, user, row.alarm.camera_id, Permission.ALARMS)
    ensure_alerted(request, user, row.alarm.register_id)
    return row.alarm.camera_id


async def _worked(
    ctx: ServerContext,
    request: Request,
    user: Principal,
    alarm_id: int,
    action: str,
    **what: Any,
) -> AlarmDetail:
    """Audit what an operator did to an alarm, then its detail as it is now."""
    detail = await _detail_after(ctx, alarm_id)
    target = f"alarm:{alarm_id}"
    await run_in_threadpool(
        audit_action,
        request,
        user,
        f"alarm.{action}",
        camera_id=detail.camera_id,
        target=target,
        **what,
    )
    return detail


@router.get("/{alarm_id}", response_model=AlarmDetail)
async def get_alarm(
    alarm_id: int, ctx: ContextDep, request: Request, user: AlarmsUser
) -> AlarmDetail:
    """One alarm with its history, actions, event and linked video (a linked site's alarm:
    as its site has them now)."""
    await asyncio.to_thread(_mine, ctx, request, user, alarm_id)
    return await _detail_after(ctx, alarm_id)


@router.get("/{alarm_id}/snapshot", response_class=FileResponse)
async def alarm_snapshot(
    alarm_id: int, ctx: ContextDep, request: Request, user: AlarmsUser
) -> Response:
    """The snapshot of the alarm's latest event (from the recorder node that took it when
    it is not on this server; 503 naming the node while that node is unavailable; a linked
    site's alarm: from its site)."""
    await asyncio.to_thread(_mine, ctx, request, user, alarm_id)
    relayed = await site_alarm_snapshot(ctx, alarm_id)
    return relayed if relayed is not None else await asyncio.to_thread(_snapshot, ctx, alarm_id)


def _snapshot(ctx: ServerContext, alarm_id: int) -> Response:
    row = alarm_store.get_alarm(ctx.db, alarm_id)
    snapshot = row.alarm.snapshot if row is not None else None
    if row is None or not snapshot:
        raise HTTPException(404, f"alarm {alarm_id} has no snapshot")
    alarm = row.alarm
    if alarm.camera_id is None:
        return snapshot_file(ctx, snapshot)
    return recorded_file(ctx, snapshot, camera_id=alarm.camera_id, at=alarm.last_at)


async def _detail_after(ctx: ServerContext, alarm_id: int) -> AlarmDetail:
    detail = await asyncio.to_thread(_detail, ctx, alarm_id)
    remote = await site_history(ctx, alarm_id)
    return detail if remote is None else _as_site_has_it(detail, remote)


def _as_site_has_it(detail: AlarmDetail, remote: dict[str, Any]) -> AlarmDetail:
    """A mirrored alarm's detail with its history, actions and event from its site's
    answer; ids of cameras and the snapshot's address are this server's."""
    camera = detail.camera_id
    event = remote.get("event")
    video = remote.get("video")
    return detail.model_copy(
        update={
            "notes": [NotePublic.model_validate(n) for n in remote.get("notes", [])],
            "actions": [RunSummary.model_validate(r) for r in remote.get("actions", [])],
            "event": EventPublic.model_validate(
                {**event, "camera_id": camera, "site": detail.site, "snapshot_url": None}
            )
            if event
            else None,
            "video": VideoLink(camera_id=camera, start=video["start"], end=video["end"])
            if video and camera is not None
            else None,
        }
    )


@router.post("/{alarm_id}/transition", response_model=AlarmDetail)
async def transition(
    alarm_id: int, body: TransitionRequest, ctx: ContextDep, request: Request, user: AlarmsUser
) -> AlarmDetail:
    """Move an alarm: acknowledge, work on, hold, close (with a reason)."""
    await asyncio.to_thread(_mine, ctx, request, user, alarm_id)
    if not await forwarded(ctx, alarm_id, "transition", body):  # a linked site's alarm
        await ctx.alarms.transition(
            alarm_id, body.state, operator=user.username, reason=body.reason
        )
    return await _worked(ctx, request, user, alarm_id, "transition", state=body.state)


@router.post("/{alarm_id}/assign", response_model=AlarmDetail)
async def assign(
    alarm_id: int, body: AssignRequest, ctx: ContextDep, request: Request, user: AlarmsUser
) -> AlarmDetail:
    """Give the alarm to an operator."""
    await asyncio.to_thread(_mine, ctx, request, user, alarm_id)
    if not await forwarded(ctx, alarm_id, "assign", body):
        await ctx.alarms.assign(alarm_id, owner=body.owner, operator=user.username)
    return await _worked(ctx, request, user, alarm_id, "assign", owner=body.owner)


@router.post("/{alarm_id}/comments", response_model=AlarmDetail)
async def comment(
    alarm_id: int, body: CommentRequest, ctx: ContextDep, request: Request, user: AlarmsUser
) -> AlarmDetail:
    """Add a comment."""
    await asyncio.to_thread(_mine, ctx, request, user, alarm_id)
    if not await forwarded(ctx, alarm_id, "comments", body):
        await ctx.alarms.comment(alarm_id, author=user.username, text=body.text)
    return await _worked(ctx, request, user, alarm_id, "comment")


@router.post("/{alarm_id}/sop/{index}", response_model=AlarmDetail)
async def check_sop(
    alarm_id: int,
    index: int,
    body: SopRequest,
    ctx: ContextDep,
    request: Request,
    user: AlarmsUser,
) -> AlarmDetail:
    """Tick or untick one item of the alarm's checklist (0 = the first)."""
    await asyncio.to_thread(_mine, ctx, request, user, alarm_id)
    if not await forwarded(ctx, alarm_id, f"sop/{index}", body):
        await ctx.alarms.check_sop(alarm_id, index, done=body.done, operator=user.username)
    return await _worked(ctx, request, user, alarm_id, "sop", item=index, done=body.done)

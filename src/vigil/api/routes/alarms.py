"""Alarms: the operators' queue, one alarm's detail, and working it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse

from vigil.api.deps import ContextDep, ServerContext
from vigil.api.routes.events import event_public, snapshot_file
from vigil.api.schemas_alarms import (
    AlarmDetail,
    AlarmPage,
    AlarmPublic,
    AlarmStats,
    AssignRequest,
    CommentRequest,
    NotePublic,
    RunSummary,
    SopItem,
    SopRequest,
    TransitionRequest,
    VideoLink,
)
from vigil.domain.alarms import AlarmState
from vigil.domain.rules import PRIORITY_NAMES
from vigil.store import actions as action_store
from vigil.store import alarms as alarm_store
from vigil.store import events as event_store
from vigil.store.alarms import AlarmFilter, AlarmRow

router = APIRouter(prefix="/api/alarms", tags=["alarms"])

VIDEO_AROUND = timedelta(seconds=30)  # footage linked before and after the event
STATE_FILTERS = ("open", "closed", "all", *(s.value for s in AlarmState))


def to_public(row: AlarmRow) -> AlarmPublic:
    """An alarm as the queue shows it."""
    a = row.alarm
    return AlarmPublic(
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
        **to_public(row).model_dump(),
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
    state: Annotated[str, Query(description="open, closed, all, or one state")] = "open",
    priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    category: str | None = None,
    camera_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlarmPage:
    """The queue: priority first (1 = critical), then newest first."""
    if state not in STATE_FILTERS:
        raise HTTPException(422, f"state must be one of {', '.join(STATE_FILTERS)}")
    f = AlarmFilter(state, priority, category, camera_id, since, until)
    total, rows = alarm_store.list_alarms(ctx.db, f, limit=limit, offset=offset)
    return AlarmPage(total=total, items=[to_public(r) for r in rows])


@router.get("/stats", response_model=AlarmStats)
def alarm_stats(
    ctx: ContextDep, since: datetime | None = None, until: datetime | None = None
) -> AlarmStats:
    """Alarms per category, area and priority, and response times, over a period."""
    return AlarmStats.model_validate(alarm_store.stats(ctx.db, since=since, until=until))


@router.get("/{alarm_id}", response_model=AlarmDetail)
def get_alarm(alarm_id: int, ctx: ContextDep) -> AlarmDetail:
    """One alarm with its history, actions, event and linked video."""
    return _detail(ctx, alarm_id)


@router.get("/{alarm_id}/snapshot", response_class=FileResponse)
def alarm_snapshot(alarm_id: int, ctx: ContextDep) -> FileResponse:
    """The snapshot of the alarm's latest event."""
    row = alarm_store.get_alarm(ctx.db, alarm_id)
    if row is None or not row.alarm.snapshot:
        raise HTTPException(404, f"alarm {alarm_id} has no snapshot")
    return snapshot_file(ctx, row.alarm.snapshot)


async def _detail_after(ctx: ServerContext, alarm_id: int) -> AlarmDetail:
    return await asyncio.to_thread(_detail, ctx, alarm_id)


@router.post("/{alarm_id}/transition", response_model=AlarmDetail)
async def transition(alarm_id: int, body: TransitionRequest, ctx: ContextDep) -> AlarmDetail:
    """Move an alarm: acknowledge, work on, hold, close (with a reason)."""
    await ctx.alarms.transition(alarm_id, body.state, operator=body.operator, reason=body.reason)
    return await _detail_after(ctx, alarm_id)


@router.post("/{alarm_id}/assign", response_model=AlarmDetail)
async def assign(alarm_id: int, body: AssignRequest, ctx: ContextDep) -> AlarmDetail:
    """Give the alarm to an operator."""
    await ctx.alarms.assign(alarm_id, owner=body.owner, operator=body.operator)
    return await _detail_after(ctx, alarm_id)


@router.post("/{alarm_id}/comments", response_model=AlarmDetail)
async def comment(alarm_id: int, body: CommentRequest, ctx: ContextDep) -> AlarmDetail:
    """Add a comment."""
    await ctx.alarms.comment(alarm_id, author=body.author, text=body.text)
    return await _detail_after(ctx, alarm_id)


@router.post("/{alarm_id}/sop/{index}", response_model=AlarmDetail)
async def check_sop(alarm_id: int, index: int, body: SopRequest, ctx: ContextDep) -> AlarmDetail:
    """Tick or untick one item of the alarm's checklist (0 = the first)."""
    await ctx.alarms.check_sop(alarm_id, index, done=body.done, operator=body.operator)
    return await _detail_after(ctx, alarm_id)

"""Action runs (the outbox): what rules sent, what failed and why; retrying a failed one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from vigil.api.auth import ManageUser, Principal, ensure_camera, require
from vigil.api.deps import ContextDep
from vigil.api.schemas_alarms import ActionRunPublic
from vigil.domain.permissions import Permission
from vigil.store import actions as action_store
from vigil.store import alarms as alarm_store
from vigil.store.models import ActionRun

router = APIRouter(prefix="/api/actions", tags=["alarms"])


def to_public(run: ActionRun) -> ActionRunPublic:
    """A run as the API shows it (never the action's spec: it may hold a secret)."""
    return ActionRunPublic(
        id=run.id,
        rule_id=run.rule_id,
        rule_name=str(run.values.get("rule_name", "")),
        alarm_id=run.alarm_id,
        event_id=run.event_id,
        type=run.type,
        status=run.status,
        attempts=run.attempts,
        last_error=run.last_error,
        created_at=run.created_at,
        next_attempt_at=run.next_attempt_at if run.status == action_store.PENDING else None,
        done_at=run.done_at,
    )


@router.get("", response_model=list[ActionRunPublic])
def list_runs(
    ctx: ContextDep,
    _: ManageUser,
    status: Literal["pending", "failed", "done"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ActionRunPublic]:
    """Action runs, newest first."""
    return [to_public(r) for r in action_store.list_runs(ctx.db, status=status, limit=limit)]


@router.post(
    "/{run_id}/retry", response_model=ActionRunPublic, status_code=status.HTTP_202_ACCEPTED
)
def retry_run(
    run_id: int,
    ctx: ContextDep,
    request: Request,
    user: Annotated[Principal, Depends(require(Permission.ALARMS, Permission.MANAGE))],
) -> ActionRunPublic:
    """Queue a failed run again, with a fresh set of attempts (from its alarm, by an operator
    of its camera, or by an administrator)."""
    found = action_store.get_run(ctx.db, run_id)
    if found is None:
        raise HTTPException(404, f"action run {run_id} not found")
    alarm = alarm_store.get_alarm(ctx.db, found.alarm_id) if found.alarm_id else None
    if alarm is not None:
        ensure_camera(request, user, alarm.alarm.camera_id, Permission.ALARMS, Permission.MANAGE)
    try:
        run = action_store.requeue(ctx.db, run_id, by=user.username)
    except action_store.NotFailed as exc:
        raise HTTPException(409, str(exc)) from None
    if run is None:
        raise HTTPException(404, f"action run {run_id} not found")
    ctx.dispatcher.wake()
    return to_public(run)

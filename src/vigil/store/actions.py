"""The action outbox: one row per action of a rule firing, stored with the alarm before
anything is sent, retried with backoff, resumed after a restart."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from vigil.store.db import Database
from vigil.store.models import ActionRun, Alarm, AlarmNote
from vigil.store.types import utcnow

PENDING, DONE, FAILED = "pending", "done", "failed"
RUN_STATUSES = (PENDING, DONE, FAILED)


def add_run(
    session: Session,
    *,
    rule_id: int | None,
    alarm_id: int | None,
    event_id: str | None,
    action: dict[str, Any],
    values: dict[str, Any],
    now: datetime,
) -> ActionRun:
    """Queue one action, in the caller's transaction (the one that stores the alarm)."""
    run = ActionRun(
        rule_id=rule_id,
        alarm_id=alarm_id,
        event_id=event_id,
        type=str(action["type"]),
        action=action,
        values=values,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(run)
    return run


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(ActionRun.claimed_until.is_(None), ActionRun.claimed_until <= now)


def claim_due_runs(
    db: Database, *, now: datetime, owner: str, limit: int, hold: timedelta
) -> Sequence[ActionRun]:
    """Take pending runs whose time has come, oldest first, for ``hold``: whichever
    server claims a run attempts it, no other (rows locked with SKIP LOCKED on PostgreSQL,
    so servers claiming at once take different runs)."""
    query = (
        select(ActionRun)
        .where(ActionRun.status == PENDING, ActionRun.next_attempt_at <= now, _unclaimed(now))
        .order_by(ActionRun.next_attempt_at, ActionRun.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with db.session() as s:
        runs = list(s.scalars(query))
        for run in runs:
            run.claimed_by, run.claimed_until = owner, now + hold
        return runs


def release_claims(db: Database, run_ids: Collection[int], *, owner: str) -> None:
    """Give back runs this server claimed and did not finish (it is stopping)."""
    if not run_ids:
        return
    with db.session() as s:
        s.execute(
            update(ActionRun)
            .where(ActionRun.id.in_(list(run_ids)), ActionRun.claimed_by == owner)
            .values(claimed_by=None, claimed_until=None)
        )


def next_due_at(db: Database, *, now: datetime) -> datetime | None:
    """When the next pending run is due (a claimed one: when its claim runs out), or None
    when nothing is pending."""
    with db.session() as s:
        unclaimed = s.scalar(
            select(func.min(ActionRun.next_attempt_at)).where(
                ActionRun.status == PENDING, _unclaimed(now)
            )
        )
        claimed = s.scalar(
            select(func.min(ActionRun.claimed_until)).where(
                ActionRun.status == PENDING, ActionRun.claimed_until > now
            )
        )
    return min((t for t in (unclaimed, claimed) if t is not None), default=None)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What became of an attempt, for the alarm's subscribers."""

    run_id: int
    status: str
    alarm_id: int | None
    alarm_state: str | None
    alarm_priority: int | None
    alarm_camera_id: int | None = None
    alarm_register_id: int | None = None


def record_attempt(
    db: Database,
    run_id: int,
    *,
    status: str,
    attempts: int,
    error: str | None,
    retry_at: datetime | None,
    note: str,
) -> RunOutcome | None:
    """Write an attempt's outcome and a note on the run's alarm, in one transaction."""
    now = utcnow()
    with db.session() as s:
        run = s.get(ActionRun, run_id)
        if run is None:
            return None
        run.status, run.attempts = status, attempts
        run.claimed_by, run.claimed_until = None, None
        if error is not None:
            run.last_error = error
        if status == DONE:
            run.done_at = now
        if retry_at is not None:
            run.next_attempt_at = retry_at
        alarm = s.get(Alarm, run.alarm_id) if run.alarm_id is not None else None
        if alarm is not None:
            s.add(AlarmNote(alarm_id=alarm.id, at=now, author=None, kind="action", text=note))
            alarm.updated_at = now
        return RunOutcome(
            run.id,
            status,
            alarm.id if alarm else None,
            alarm.state if alarm else None,
            alarm.priority if alarm else None,
            alarm.camera_id if alarm else None,
            alarm.register_id if alarm else None,
        )


def list_runs(db: Database, *, status: str | None = None, limit: int = 100) -> Sequence[ActionRun]:
    """Runs, newest first."""
    query = select(ActionRun).order_by(ActionRun.created_at.desc(), ActionRun.id.desc())
    if status:
        query = query.where(ActionRun.status == status)
    with db.session() as s:
        return s.scalars(query.limit(limit)).all()


def runs_of_alarm(db: Database, alarm_id: int) -> Sequence[ActionRun]:
    """An alarm's runs, oldest first."""
    query = select(ActionRun).where(ActionRun.alarm_id == alarm_id).order_by(ActionRun.id)
    with db.session() as s:
        return s.scalars(query).all()


def get_run(db: Database, run_id: int) -> ActionRun | None:
    """One run, or None."""
    with db.session() as s:
        return s.get(ActionRun, run_id)


class NotFailed(ValueError):
    """Only a failed run can be retried."""


def requeue(db: Database, run_id: int, *, by: str | None = None) -> ActionRun | None:
    """Queue a failed run again with a fresh set of attempts; None when it does not exist."""
    now = utcnow()
    with db.session() as s:
        run = s.get(ActionRun, run_id)
        if run is None:
            return None
        if run.status != FAILED:
            raise NotFailed(f"action run {run_id} is {run.status}; only a failed run is retried")
        run.status, run.attempts, run.next_attempt_at = PENDING, 0, now
        if run.alarm_id is not None:
            text = f"{run.type} queued again" + (f" by {by}" if by else "")
            s.add(AlarmNote(alarm_id=run.alarm_id, at=now, author=by, kind="action", text=text))
        return run


def backoff(attempts: int, *, base_s: float, max_s: float) -> timedelta:
    """Delay before the next try after ``attempts`` failed ones: base, doubling, capped."""
    return timedelta(seconds=min(base_s * 2 ** max(attempts - 1, 0), max_s))


def failed_counts(session: Session, alarm_ids: Collection[int]) -> dict[int, int]:
    """Failed runs per alarm."""
    if not alarm_ids:
        return {}
    rows = session.execute(
        select(ActionRun.alarm_id, func.count())
        .where(ActionRun.alarm_id.in_(list(alarm_ids)), ActionRun.status == FAILED)
        .group_by(ActionRun.alarm_id)
    )
    return {int(a): int(n) for a, n in rows if a is not None}

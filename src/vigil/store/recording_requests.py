"""Recording requests: footage of a camera to record and keep, asked for by rules (the
"record" action) or people. An events-mode camera keeps only requested footage; any camera
keeps requested footage past its retention while the request holds it.

A request *holds* its footage (protects it from retention and, while anything else can go,
from the disk budget) until ``keep_until``; without one, until ``end`` plus the camera's
``event_retention_days`` when the camera has that setting; otherwise not at all (normal
retention applies).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, false, func, or_, select
from sqlalchemy.orm import Session

from vigil.store.db import Database
from vigil.store.models import Camera, RecordingRequest, Segment

# A merged request's reason is cut to this many characters (an alarm storm on one camera
# would otherwise grow it without bound).
MAX_REASON = 2000
REASON_SEPARATOR = "; "


def request_recording(
    db: Database,
    *,
    camera_id: int,
    start: datetime,
    end: datetime,
    keep_until: datetime | None,
    reason: str,
    alarm_id: int | None = None,
) -> RecordingRequest:
    """Record/keep ``start``..``end`` of a camera.

    Merges with the overlapping (or touching) requests of the same camera: the merged request
    spans all of them, keeps the later ``keep_until`` (a set one over none) and lists every
    reason.

    Args:
        db: The database.
        camera_id: The camera whose footage is wanted.
        start: First moment wanted (UTC-aware).
        end: Last moment wanted; before ``start`` is an error.
        keep_until: Keep the footage at least until then; None: the camera's retention.
        reason: Why, shown to people (e.g. the rule and event).
        alarm_id: The alarm the footage belongs to, if any.

    Returns:
        The request row that now covers ``start``..``end``.

    Raises:
        ValueError: ``end`` is before ``start``.
    """
    if end < start:
        raise ValueError(f"recording request ends ({end}) before it starts ({start})")
    with db.session() as s:
        overlapping = s.scalars(
            select(RecordingRequest)
            .where(
                RecordingRequest.camera_id == camera_id,
                RecordingRequest.start <= end,
                RecordingRequest.end >= start,
            )
            .order_by(RecordingRequest.id)
            .with_for_update()
        ).all()
        if not overlapping:
            request = RecordingRequest(
                camera_id=camera_id,
                start=start,
                end=end,
                keep_until=keep_until,
                reason=reason[:MAX_REASON],
                alarm_id=alarm_id,
            )
            s.add(request)
            s.flush()
            return request
        request, others = overlapping[0], overlapping[1:]
        reasons = request.reason.split(REASON_SEPARATOR)
        for other in [*others, None]:
            o_start, o_end, o_keep, o_reason, o_alarm = (
                (start, end, keep_until, reason, alarm_id)
                if other is None
                else (other.start, other.end, other.keep_until, other.reason, other.alarm_id)
            )
            request.start = min(request.start, o_start)
            request.end = max(request.end, o_end)
            request.keep_until = _later(request.keep_until, o_keep)
            request.alarm_id = request.alarm_id or o_alarm
            reasons += [r for r in o_reason.split(REASON_SEPARATOR) if r not in reasons]
        request.reason = REASON_SEPARATOR.join(reasons)[:MAX_REASON]
        for other in others:
            s.delete(other)
        s.flush()
        return request


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def requests_between(
    db: Database, camera_id: int, start: datetime, end: datetime
) -> Sequence[RecordingRequest]:
    """Requests of a camera that overlap [start, end], oldest first."""
    with db.session() as s:
        return s.scalars(
            select(RecordingRequest)
            .where(
                RecordingRequest.camera_id == camera_id,
                RecordingRequest.start <= end,
                RecordingRequest.end >= start,
            )
            .order_by(RecordingRequest.start)
        ).all()


def held_condition(session: Session, now: datetime) -> ColumnElement[bool]:
    """The requests that hold their footage at ``now`` (see the module docstring)."""
    by_days: dict[float, list[int]] = defaultdict(list)
    rows = session.execute(
        select(Camera.id, Camera.event_retention_days).where(
            Camera.event_retention_days.is_not(None)
        )
    )
    for camera_id, days in rows:
        if days is not None:
            by_days[days].append(camera_id)
    # One clause per distinct setting (few), so no dialect-specific date arithmetic is needed.
    by_camera_setting = [
        and_(RecordingRequest.camera_id.in_(ids), RecordingRequest.end > now - timedelta(days=d))
        for d, ids in by_days.items()
    ]
    # Written to be never NULL, so that its negation selects exactly the requests not held.
    return or_(
        and_(RecordingRequest.keep_until.is_not(None), RecordingRequest.keep_until > now),
        and_(RecordingRequest.keep_until.is_(None), or_(false(), *by_camera_setting)),
    )


def segment_requested(*, held_at: datetime | None = None, session: Session) -> ColumnElement[bool]:
    """True for a segment that overlaps a request of its camera (one that holds its footage
    at ``held_at`` when given). For ``Segment`` queries."""
    # A request covers the closed [start, end]; a segment the half-open [start, end).
    condition = and_(
        RecordingRequest.camera_id == Segment.camera_id,
        RecordingRequest.start < Segment.end,
        RecordingRequest.end >= Segment.start,
    )
    if held_at is not None:
        condition = and_(condition, held_condition(session, held_at))
    return exists().where(condition)


def held_ranges(db: Database, camera_id: int, now: datetime) -> Sequence[RecordingRequest]:
    """The requests of a camera whose footage is held at ``now``, oldest first."""
    with db.session() as s:
        return s.scalars(
            select(RecordingRequest)
            .where(RecordingRequest.camera_id == camera_id, held_condition(s, now))
            .order_by(RecordingRequest.start)
        ).all()


def purge_requests(db: Database, camera_id: int, *, ended_before: datetime, now: datetime) -> int:
    """Forget requests of a camera that ended before ``ended_before`` (the retention cutoff)
    and no longer hold their footage; returns how many went."""
    with db.session() as s:
        result = s.execute(
            delete(RecordingRequest)
            .where(
                RecordingRequest.camera_id == camera_id,
                RecordingRequest.end < ended_before,
                ~held_condition(s, now),
            )
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def keep_recorded(db: Database, camera_id: int, *, until: datetime, reason: str) -> bool:
    """Ask to keep all of a camera's recorded footage up to ``until`` (under its normal
    retention): what a camera switched to events mode recorded before, which the janitor
    would otherwise delete as footage outside any request. False when it has none."""
    with db.session() as s:
        first = s.scalar(select(func.min(Segment.start)).where(Segment.camera_id == camera_id))
    if first is None or first > until:
        return False
    request_recording(
        db, camera_id=camera_id, start=first, end=until, keep_until=None, reason=reason
    )
    return True

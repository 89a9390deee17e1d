"""Alarms in the database: raising (in the firing transaction), the queue, the history."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from vigil.domain.alarms import OPEN_STATES, AlarmChanged, AlarmState
from vigil.store.actions import failed_counts
from vigil.store.db import Database, advisory_lock, lock_rule_camera
from vigil.store.models import Alarm, AlarmNote, Camera, EventRecord
from vigil.store.registers import not_hidden
from vigil.store.types import utcnow

OPEN = [s.value for s in OPEN_STATES]
# Note kinds written by the system that say whether an alarm's condition still holds.
REPEAT, CLEARED = "repeat", "cleared"


def open_alarm_for(session: Session, rule_id: int, camera_id: int | None) -> Alarm | None:
    """The rule's newest open alarm for this camera (or for no camera), if any, locked
    until the caller's transaction ends. On PostgreSQL firings of one rule for one camera
    are serialised first, so that servers firing at once neither raise two alarms nor
    lose a count."""
    lock_rule_camera(session, rule_id, camera_id)
    query = select(Alarm).where(Alarm.rule_id == rule_id, Alarm.state.in_(OPEN))
    query = query.where(
        Alarm.camera_id.is_(None) if camera_id is None else Alarm.camera_id == camera_id
    )
    return session.scalars(query.order_by(Alarm.id.desc()).limit(1).with_for_update()).first()


def open_alarm_for_plate(
    session: Session, rule_id: int, plate: str, register_id: int | None
) -> Alarm | None:
    """The rule's newest open alarm raised for this licence plate by a hit on this register,
    on any camera, locked until the caller's transaction ends; firings of one rule for one
    plate are serialised on PostgreSQL as for one camera. (Hits on another register raise
    their own alarm: each register alerts only those its access names.)"""
    # A negative second key: never a camera id's lock.
    advisory_lock(session, rule_id, -1 - (zlib.crc32(plate.encode()) & 0x7FFFFFFF))
    query = (
        select(Alarm)
        .join(EventRecord, EventRecord.id == Alarm.event_id)
        .where(Alarm.rule_id == rule_id, Alarm.state.in_(OPEN), EventRecord.plate == plate)
        .where(
            Alarm.register_id.is_(None) if register_id is None else Alarm.register_id == register_id
        )
    )
    return session.scalars(query.order_by(Alarm.id.desc()).limit(1).with_for_update()).first()


def open_alarms_of_types(
    session: Session, camera_id: int, event_types: Collection[str]
) -> Sequence[Alarm]:
    """The camera's open alarms raised by events of these types, oldest first, locked until
    the caller's transaction ends (so an operator's change waits rather than crosses it)."""
    query = select(Alarm).where(
        Alarm.camera_id == camera_id,
        Alarm.event_type.in_(event_types),
        Alarm.state.in_(OPEN),
    )
    return session.scalars(query.order_by(Alarm.id).with_for_update()).all()


def add_note(
    session: Session, alarm_id: int, *, kind: str, text: str, author: str | None = None
) -> AlarmNote:
    """Add to an alarm's history, in the caller's transaction."""
    note = AlarmNote(alarm_id=alarm_id, at=utcnow(), author=author, kind=kind, text=text)
    session.add(note)
    return note


def alarm_changed(
    alarm: Alarm, change: str, *, at: datetime, event_id: str | None = None
) -> AlarmChanged:
    """The message that tells operators' clients about a change (``event_id``: the event
    that caused it, else the alarm's own)."""
    return AlarmChanged(
        alarm_id=alarm.id,
        change=change,
        state=AlarmState(alarm.state),
        priority=alarm.priority,
        at=at,
        event_id=event_id or alarm.event_id,
        camera_id=alarm.camera_id,
        register_id=alarm.register_id,
    )


# ----- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """An alarm with what the queue shows beside it."""

    alarm: Alarm
    camera_name: str | None
    camera_location: str | None
    failed_actions: int
    # When the condition it reports ended while it stays open for its operator; None if not.
    condition_cleared_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """What the queue is narrowed to. ``state``: open, closed, all, or one state."""

    state: str = "open"
    priority: int | None = None
    category: str | None = None
    camera_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    # The caller's cameras (None: all); alarms of no camera are shown to everyone.
    cameras: Collection[int] | None = None
    # The sites they were raised at, as stored ("local" for this installation); None: all.
    sites: Collection[str] | None = None
    # Registers whose hits are not the caller's to see (their access names other roles).
    hidden_registers: Collection[int] = ()


S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


def _filtered(query: S, f: AlarmFilter) -> S:
    if f.state == "open":
        query = query.where(Alarm.state.in_(OPEN))
    elif f.state != "all":
        query = query.where(Alarm.state == f.state)
    if f.priority is not None:
        query = query.where(Alarm.priority == f.priority)
    if f.category:
        query = query.where(Alarm.category == f.category)
    if f.camera_id is not None:
        query = query.where(Alarm.camera_id == f.camera_id)
    if f.cameras is not None:
        query = query.where(or_(Alarm.camera_id.in_(f.cameras), Alarm.camera_id.is_(None)))
    if f.sites is not None:
        query = query.where(Alarm.site.in_(f.sites))
    query = query.where(not_hidden(Alarm.register_id, f.hidden_registers))
    if f.since is not None:
        query = query.where(Alarm.created_at >= f.since)
    if f.until is not None:
        query = query.where(Alarm.created_at < f.until)
    return query


def _rows(session: Session, alarms: Sequence[Alarm]) -> list[AlarmRow]:
    camera_ids = {a.camera_id for a in alarms if a.camera_id is not None}
    cameras = (
        {c.id: c for c in session.scalars(select(Camera).where(Camera.id.in_(camera_ids)))}
        if camera_ids
        else {}
    )
    failed = failed_counts(session, [a.id for a in alarms])
    cleared = _cleared_at(session, [a.id for a in alarms if a.state in OPEN])
    rows = []
    for a in alarms:
        cam = cameras.get(a.camera_id) if a.camera_id is not None else None
        rows.append(
            AlarmRow(
                a,
                cam.name if cam else None,
                cam.location if cam else None,
                failed.get(a.id, 0),
                cleared.get(a.id),
            )
        )
    return rows


def _cleared_at(session: Session, alarm_ids: Sequence[int]) -> dict[int, datetime]:
    """When each alarm's condition ended, for those whose latest "cleared" note is newer than
    their latest "repeat" (a camera offline again makes the condition current again). Two
    rows per alarm at most, however many times it repeated."""
    if not alarm_ids:
        return {}
    query = (
        select(AlarmNote.alarm_id, AlarmNote.kind, func.max(AlarmNote.id), func.max(AlarmNote.at))
        .where(AlarmNote.alarm_id.in_(alarm_ids), AlarmNote.kind.in_((CLEARED, REPEAT)))
        .group_by(AlarmNote.alarm_id, AlarmNote.kind)
    )
    latest: dict[int, dict[str, tuple[int, datetime]]] = {}
    for alarm_id, kind, note_id, at in session.execute(query):
        latest.setdefault(alarm_id, {})[kind] = (note_id, at)
    cleared = {}
    for alarm_id, notes in latest.items():
        if CLEARED in notes and (REPEAT not in notes or notes[CLEARED][0] > notes[REPEAT][0]):
            cleared[alarm_id] = notes[CLEARED][1]
    return cleared


def list_alarms(
    db: Database, f: AlarmFilter, *, limit: int = 100, offset: int = 0
) -> tuple[int, list[AlarmRow]]:
    """The queue: priority first (1 = critical), then newest first; and the total."""
    with db.session() as s:
        total = s.scalar(_filtered(select(func.count()).select_from(Alarm), f)) or 0
        query = _filtered(select(Alarm), f).order_by(
            Alarm.priority, Alarm.created_at.desc(), Alarm.id.desc()
        )
        alarms = s.scalars(query.limit(limit).offset(offset)).all()
        return int(total), _rows(s, alarms)


def get_alarm(db: Database, alarm_id: int) -> AlarmRow | None:
    """One alarm with its camera, or None."""
    with db.session() as s:
        alarm = s.get(Alarm, alarm_id)
        return _rows(s, [alarm])[0] if alarm else None


def notes_of(db: Database, alarm_id: int) -> Sequence[AlarmNote]:
    """An alarm's history, oldest first."""
    query = select(AlarmNote).where(AlarmNote.alarm_id == alarm_id)
    with db.session() as s:
        return s.scalars(query.order_by(AlarmNote.at, AlarmNote.id)).all()


# ----- escalation ---------------------------------------------------------------------------


def escalate_due(db: Database, *, now: datetime) -> list[Alarm]:
    """Raise by one priority the alarms still new after their escalation time, once each."""
    query = select(Alarm).where(
        Alarm.state == AlarmState.NEW.value,
        Alarm.escalate_after_min.is_not(None),
        Alarm.escalated_at.is_(None),
    )
    escalated = []
    with db.session() as s:
        # Locked: an alarm closed meanwhile (its camera back online) is skipped, not escalated.
        for alarm in s.scalars(query.with_for_update()):
            assert alarm.escalate_after_min is not None
            if alarm.created_at + timedelta(minutes=alarm.escalate_after_min) > now:
                continue
            before = alarm.priority
            alarm.priority = max(1, before - 1)
            alarm.escalated_at = now
            alarm.updated_at = now
            add_note(
                s,
                alarm.id,
                kind="escalation",
                text=(
                    f"not acknowledged within {alarm.escalate_after_min:g} min: "
                    f"priority {before} -> {alarm.priority}"
                ),
            )
            escalated.append(alarm)
    return escalated


# ----- statistics ---------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def stats(
    db: Database,
    *,
    since: datetime | None,
    until: datetime | None,
    cameras: Collection[int] | None = None,
) -> dict[str, Any]:
    """Alarms per category, area (camera location) and priority, and response times."""
    f = AlarmFilter(state="all", since=since, until=until, cameras=cameras)
    area = func.coalesce(Camera.location, "unknown")
    with db.session() as s:

        def grouped(key: Any, *, join: bool = False) -> list[dict[str, Any]]:
            query = select(key, func.count()).select_from(Alarm)
            if join:
                query = query.outerjoin(Camera, Camera.id == Alarm.camera_id)
            rows = s.execute(_filtered(query, f).group_by(key).order_by(func.count().desc()))
            return [{"key": str(k), "count": int(n)} for k, n in rows]

        total = s.scalar(_filtered(select(func.count()).select_from(Alarm), f)) or 0
        open_ = s.scalar(
            _filtered(
                select(func.sum(case((Alarm.state.in_(OPEN), 1), else_=0))).select_from(Alarm), f
            )
        )
        times = s.execute(
            _filtered(select(Alarm.created_at, Alarm.acknowledged_at, Alarm.closed_at), f)
        ).all()
        by_category = grouped(Alarm.category)
        by_area = grouped(area, join=True)
        by_priority = grouped(Alarm.priority)
    ack = [(a - c).total_seconds() for c, a, _ in times if a is not None]
    close = [(d - c).total_seconds() for c, _, d in times if d is not None]
    return {
        "total": int(total),
        "open": int(open_ or 0),
        "by_category": by_category,
        "by_area": by_area,
        "by_priority": by_priority,
        "response": {
            "acknowledged": len(ack),
            "acknowledge_median_s": _percentile(ack, 0.5),
            "acknowledge_p90_s": _percentile(ack, 0.9),
            "close_median_s": _percentile(close, 0.5),
        },
    }

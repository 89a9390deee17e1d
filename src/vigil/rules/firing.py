"""What a rule does when it fires, in the transaction that stores its event: the alarm (new
or repeated) and one outbox row per other action. Nothing is sent from here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vigil.domain.alarms import AlarmChanged, AlarmState
from vigil.domain.events import (
    WATCHLIST_HIT,
    Event,
    event_label,
    event_plate,
    event_reason,
    event_register,
)
from vigil.domain.rules import RaiseAlarm, RuleSpec, render, template_values
from vigil.store import actions as action_store
from vigil.store.alarms import (
    REPEAT,
    add_note,
    alarm_changed,
    open_alarm_for,
    open_alarm_for_plate,
)
from vigil.store.models import Alarm


@dataclass(frozen=True, slots=True)
class LoadedRule:
    """An enabled rule as the engine keeps it: parsed spec, and stored (sealed) actions."""

    id: int
    name: str
    spec: RuleSpec
    stored_actions: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """What templates say about a camera."""

    name: str
    location: str | None


@dataclass(frozen=True, slots=True)
class Fired:
    """The outcome of one firing."""

    rule_id: int
    alarm_id: int | None
    change: AlarmChanged | None
    runs: int


def fire(
    session: Session, rule: LoadedRule, event: Event, camera: CameraInfo | None, now: datetime
) -> Fired:
    """Write the alarm and the action runs of one firing (the event is already added)."""
    raise_alarm = next((a for a in rule.spec.actions if isinstance(a, RaiseAlarm)), None)
    values = template_values(
        rule=rule.name,
        event=event,
        camera_name=camera.name if camera else None,
        location=camera.location if camera else None,
        priority=raise_alarm.priority if raise_alarm else None,
        category=raise_alarm.category if raise_alarm else None,
    )
    alarm: Alarm | None = None
    change = None
    if raise_alarm is not None:
        alarm, repeated = _raise(session, rule, raise_alarm, event, values, now)
        change = alarm_changed(
            alarm, "repeated" if repeated else "raised", at=now, event_id=event.id
        )
        values["alarm_id"] = alarm.id
    runs = 0
    for stored in rule.stored_actions:
        if stored["type"] == "raise_alarm":
            continue
        action_store.add_run(
            session,
            rule_id=rule.id,
            alarm_id=alarm.id if alarm else None,
            event_id=event.id,
            action=stored,
            values={
                "rule_name": rule.name,
                "template": values,
                "event": event.model_dump(mode="json"),
            },
            now=now,
        )
        runs += 1
    return Fired(rule.id, alarm.id if alarm else None, change, runs)


def _raise(
    session: Session,
    rule: LoadedRule,
    spec: RaiseAlarm,
    event: Event,
    values: dict[str, Any],
    now: datetime,
) -> tuple[Alarm, bool]:
    """A new alarm, or the rule's open alarm for this camera counting one more occurrence.
    A register hit follows its vehicle instead: the rule's open alarm for the same plate,
    on any camera, takes each later sighting into its history (the vehicle's trail)."""
    plate = _followed_plate(event)
    if plate is not None:
        existing = open_alarm_for_plate(session, rule.id, plate, event_register(event))
    else:
        existing = open_alarm_for(session, rule.id, event.camera_id)
    if existing is not None:
        existing.occurrences += 1
        existing.last_at = max(existing.last_at, event.at)
        existing.updated_at = now
        if event.snapshot:
            existing.snapshot = event.snapshot
        what = f"{plate} seen on {values['camera']}" if plate else f"{_what(event)} again"
        add_note(
            session,
            existing.id,
            kind=REPEAT,
            text=f"{what} at {event.at:%H:%M:%S} UTC (#{existing.occurrences})",
        )
        return existing, True
    alarm = Alarm(
        rule_id=rule.id,
        rule_name=rule.name,
        event_id=event.id,
        event_type=event.type,
        camera_id=event.camera_id,
        register_id=event_register(event),
        title=render(spec.title, values)[:500],
        category=spec.category,
        priority=spec.priority,
        state=AlarmState.NEW.value,
        sop=[{"text": t, "done": False, "by": None, "at": None} for t in spec.sop],
        occurrences=1,
        first_at=event.at,
        last_at=event.at,
        snapshot=event.snapshot,
        escalate_after_min=spec.escalate_after_min,
        created_at=now,
        updated_at=now,
    )
    session.add(alarm)
    session.flush()
    add_note(session, alarm.id, kind="state", text=f"raised by rule {rule.name!r}: {_what(event)}")
    return alarm, False


def _followed_plate(event: Event) -> str | None:
    """The plate a register hit is about (its alarm follows the vehicle), else None."""
    return event_plate(event) if event.type == WATCHLIST_HIT else None


def _what(event: Event) -> str:
    """The event for the alarm's history: "camera offline (connection refused)"."""
    reason = event_reason(event)
    return f"{event_label(event.type)} ({reason})" if reason else event_label(event.type)

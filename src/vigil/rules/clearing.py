"""Alarms whose condition ended: a camera back online ends its open "offline" and "storage
full" alarms. Done in the transaction that stores the event saying so, after the events
before it, so an offline and an online in one batch keep their order.

Untouched (new) alarms are closed by the system; an alarm an operator took keeps its state
and gets a "condition cleared" note (``domain.alarms.closes_when_cleared``). Either way the
escalation, which only looks at new alarms, never touches it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from vigil.domain.alarms import (
    AlarmChanged,
    AlarmState,
    check_transition,
    closes_when_cleared,
    conditions_ended_by,
)
from vigil.domain.events import Event, event_label
from vigil.store.alarms import CLEARED, add_note, alarm_changed, open_alarms_of_types
from vigil.store.models import Alarm


def clear_ended(session: Session, event: Event, now: datetime) -> list[AlarmChanged]:
    """Resolve or mark the open alarms whose condition this event ends; their changes, to
    publish after the commit."""
    ended = conditions_ended_by(event.type)
    if not ended or event.camera_id is None:
        return []
    alarms = open_alarms_of_types(session, event.camera_id, ended)
    return [_clear(session, alarm, event, now) for alarm in alarms]


def _clear(session: Session, alarm: Alarm, event: Event, now: datetime) -> AlarmChanged:
    state = AlarmState(alarm.state)
    what = f"{event_label(event.type)} at {event.at:%Y-%m-%d %H:%M:%S} UTC"
    alarm.updated_at = now
    if closes_when_cleared(state):
        reason = f"resolved automatically: {what}"
        check_transition(state, AlarmState.CLOSED, closing_reason=reason)
        alarm.state, alarm.closed_at, alarm.closing_reason = AlarmState.CLOSED.value, now, reason
        text = f"{state.value} -> {AlarmState.CLOSED.value}: {reason}"
        add_note(session, alarm.id, kind="state", text=text)
        return alarm_changed(alarm, "resolved", at=now, event_id=event.id)
    text = f"condition cleared: {what}; the alarm stays {state.value} until an operator closes it"
    add_note(session, alarm.id, kind=CLEARED, text=text)
    return alarm_changed(alarm, "cleared", at=now, event_id=event.id)

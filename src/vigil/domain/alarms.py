"""Alarms: what a rule raises for people to work, and the lifecycle they follow."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from vigil.domain.cameras import CameraStatus
from vigil.domain.errors import Conflict
from vigil.domain.events import camera_status_event_type
from vigil.domain.messages import BusMessage


class AlarmState(StrEnum):
    """new -> acknowledged -> in progress <-> on hold -> closed."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


# Which states each state may move to. Closing is allowed from any open state (a false
# alarm is closed straight away, with a reason); a closed alarm stays closed.
TRANSITIONS: dict[AlarmState, frozenset[AlarmState]] = {
    AlarmState.NEW: frozenset({AlarmState.ACKNOWLEDGED, AlarmState.IN_PROGRESS, AlarmState.CLOSED}),
    AlarmState.ACKNOWLEDGED: frozenset(
        {AlarmState.IN_PROGRESS, AlarmState.ON_HOLD, AlarmState.CLOSED}
    ),
    AlarmState.IN_PROGRESS: frozenset({AlarmState.ON_HOLD, AlarmState.CLOSED}),
    AlarmState.ON_HOLD: frozenset({AlarmState.IN_PROGRESS, AlarmState.CLOSED}),
    AlarmState.CLOSED: frozenset(),
}

OPEN_STATES = frozenset(s for s in AlarmState if s is not AlarmState.CLOSED)


class InvalidTransition(Conflict):
    """The alarm cannot move from its state to the one asked for."""


def check_transition(
    current: AlarmState, target: AlarmState, *, closing_reason: str | None
) -> None:
    """Raise :class:`InvalidTransition` with a message an operator understands."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing"
        raise InvalidTransition(
            f"an alarm that is {current.value} can move to {allowed}, not {target.value}"
        )
    if target is AlarmState.CLOSED and not (closing_reason and closing_reason.strip()):
        raise InvalidTransition("closing an alarm needs a closing reason")


# Alarms that report a condition rather than a moment: the event type that ends the condition
# -> the event types whose alarms it ends. A camera back online ends "offline" and "storage
# full" (a recorder with space again reports the camera online).
CONDITIONS_ENDED_BY: dict[str, frozenset[str]] = {
    camera_status_event_type(CameraStatus.ONLINE): frozenset(
        camera_status_event_type(s) for s in (CameraStatus.OFFLINE, CameraStatus.STORAGE_FULL)
    ),
}


def conditions_ended_by(event_type: str) -> frozenset[str]:
    """The event types whose open alarms this event ends (none for most events)."""
    return CONDITIONS_ENDED_BY.get(event_type, frozenset())


def closes_when_cleared(state: AlarmState) -> bool:
    """Whether an alarm whose condition ended is closed by the system.

    Only an untouched (new) alarm is: nobody is working it, so leaving it open would only
    escalate a problem that is gone. Once an operator has acknowledged it, it is theirs:
    it keeps its state, gets a "condition cleared" note, and the operator closes it (their
    report may still be due), as professional VMSs do.
    """
    return state is AlarmState.NEW


class AlarmChanged(BusMessage):
    """An alarm was raised or changed; operators' clients refresh it."""

    kind: ClassVar[str] = "alarm.changed"

    alarm_id: int
    # "raised" | "repeated" | "state" | "assign" | "comment" | "escalated" | "sop" | "action"
    # | "resolved" (closed by the system: its condition ended) | "cleared" (condition ended,
    # the alarm stays open for its operator)
    change: str
    state: AlarmState
    priority: int
    at: datetime
    event_id: str | None = None
    # Whose camera: clients are sent only the alarms of cameras they may see.
    camera_id: int | None = None
    # A watchlist hit's register: only those it alerts are sent it.
    register_id: int | None = None

    def subject(self) -> str:
        """Bus subject: ``alarms.<id>``."""
        return f"alarms.{self.alarm_id}"

    SUBJECTS: ClassVar[str] = "alarms.*"

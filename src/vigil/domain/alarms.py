"""Alarms: what a rule raises for people to work, and the lifecycle they follow."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from vigil.domain.errors import Conflict
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


class AlarmChanged(BusMessage):
    """An alarm was raised or changed; operators' clients refresh it."""

    kind: ClassVar[str] = "alarm.changed"

    alarm_id: int
    change: str  # "raised" | "repeated" | "state" | "comment" | "escalated" | "sop" | "action"
    state: AlarmState
    priority: int
    at: datetime
    event_id: str | None = None
    # Whose camera: clients are sent only the alarms of cameras they may see.
    camera_id: int | None = None

    def subject(self) -> str:
        """Bus subject: ``alarms.<id>``."""
        return f"alarms.{self.alarm_id}"

    SUBJECTS: ClassVar[str] = "alarms.*"

"""Raise an alarm: done by the rule's firing itself, in the event's transaction (no executor)."""

from vigil.domain.rules import RaiseAlarm
from vigil.rules.registry import ActionKind, register_action

KIND = register_action(ActionKind(RaiseAlarm))

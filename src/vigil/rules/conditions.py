"""Conditions that need memory: counts within a window and cooldowns, per (rule, camera).

Kept in the database (``rule_state``), read and written in the engine's transaction under a
lock per (rule, camera): a restarted server, or another server taking the next event,
continues the same count and honours the same cooldown.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.domain.rules import Conditions
from vigil.domain.schedules import TimeProfileSpec, is_active
from vigil.store.db import lock_rule_camera
from vigil.store.models import RuleState

Key = tuple[int, int | None]  # (rule id, camera id)
NO_CAMERA = -1  # the key's camera for events without one


class ConditionState:
    """Counts and last firings; ``check`` says whether a matched event fires its rule."""

    def check(
        self,
        session: Session,
        key: Key,
        conditions: Conditions,
        at: datetime,
        profile: TimeProfileSpec | None,
    ) -> bool:
        """Whether the rule fires for this match, remembering it either way.

        Order: a rule outside its time profile ignores the event; below its count it only
        counts; in its cooldown it neither fires nor resets its count.
        """
        if conditions.time_profile_id is not None and (
            profile is None or not is_active(profile, at)
        ):
            return False
        if conditions.count is None and not conditions.cooldown_s:
            return True  # nothing to remember
        state = _locked_state(session, key)
        seen = [datetime.fromisoformat(t) for t in state.seen]
        fires = True
        if conditions.count is not None:
            horizon = at - timedelta(seconds=conditions.count.within_s)
            seen = [t for t in seen if t > horizon] + [at]
            fires = len(seen) >= conditions.count.at_least
        cooldown = timedelta(seconds=conditions.cooldown_s)
        if fires and cooldown and state.fired_at is not None and at - state.fired_at < cooldown:
            fires = False
        if fires:
            state.fired_at = at
            seen = []  # the next firing needs a full count again
        state.seen = [t.isoformat() for t in seen]
        return fires

    def forget(self, session: Session, rule_ids: set[int]) -> None:
        """Drop the state of rules that no longer exist or changed."""
        if rule_ids:
            session.execute(delete(RuleState).where(RuleState.rule_id.in_(rule_ids)))


def _locked_state(session: Session, key: Key) -> RuleState:
    rule_id, camera_id = key
    camera = camera_id if camera_id is not None else NO_CAMERA
    # The same lock as store/alarms.open_alarm_for: one transaction holds it once.
    lock_rule_camera(session, rule_id, camera_id)
    state = session.scalars(
        select(RuleState)
        .where(RuleState.rule_id == rule_id, RuleState.camera_key == camera)
        .with_for_update()
    ).first()
    if state is None:
        state = RuleState(rule_id=rule_id, camera_key=camera, seen=[], fired_at=None)
        session.add(state)
        session.flush()
    return state

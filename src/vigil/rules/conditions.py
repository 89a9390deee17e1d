"""Conditions that need memory: counts within a window and cooldowns, per (rule, camera).

Kept in memory by the one engine of the server: a restart forgets partial counts, which only
delays a count-based firing by one window.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from vigil.domain.rules import Conditions
from vigil.domain.schedules import TimeProfileSpec, is_active

Key = tuple[int, int | None]  # (rule id, camera id)


class ConditionState:
    """Counts and last firings; ``check`` says whether a matched event fires its rule."""

    def __init__(self) -> None:
        self._seen: dict[Key, deque[datetime]] = {}
        self._fired: dict[Key, datetime] = {}

    def check(
        self,
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
        if conditions.count is not None:
            seen = self._seen.setdefault(key, deque())
            seen.append(at)
            horizon = at - timedelta(seconds=conditions.count.within_s)
            while seen and seen[0] <= horizon:
                seen.popleft()
            if len(seen) < conditions.count.at_least:
                return False
        last = self._fired.get(key)
        cooldown = timedelta(seconds=conditions.cooldown_s)
        if cooldown and last is not None and at - last < cooldown:
            return False
        self._fired[key] = at
        if conditions.count is not None:
            self._seen[key].clear()  # the next firing needs a full count again
        return True

    def forget(self, rule_ids: set[int]) -> None:
        """Drop the state of rules that no longer exist or changed."""
        for table in (self._seen, self._fired):
            for key in [k for k in table if k[0] in rule_ids]:
                del table[key]

"""Failed sign-ins, counted per username and per address in the database (so it works on the
embedded default and across server instances): an exponential delay after a few failures,
a lockout after many. Unknown usernames are counted exactly like known ones, so the answers
never tell which exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from vigil.config import AuthSettings
from vigil.store.db import Database
from vigil.store.models import ThrottleCounter
from vigil.store.types import utcnow


@dataclass(frozen=True, slots=True)
class Rule:
    """When one key starts waiting (after ``free`` failures) and when it is locked."""

    free: int
    lock_after: int


@dataclass(frozen=True, slots=True)
class Throttled:
    """Sign-in refused before checking the password: wait ``retry_after_s``."""

    retry_after_s: int
    locked: bool


def user_key(username: str) -> str:
    """The throttle key of a username (case-insensitive, like usernames)."""
    return f"user:{username.strip().casefold()[:180]}"


def address_key(address: str | None) -> str:
    """The throttle key of a client address."""
    return f"addr:{address or 'unknown'}"


class LoginThrottle:
    """Counts failures and says how long a key must wait.

    Example:
        >>> throttle = LoginThrottle(db, AuthSettings())  # doctest: +SKIP
        >>> throttle.check("alice", "10.0.0.9") is None  # doctest: +SKIP
        True
    """

    def __init__(self, db: Database, policy: AuthSettings) -> None:
        self.db = db
        self.policy = policy
        self.window = timedelta(minutes=policy.lockout_minutes)
        self.user_rule = Rule(policy.free_attempts, policy.lockout_after)
        # An office behind one address has many users who mistype: more failures are free.
        self.address_rule = Rule(
            max(policy.free_attempts, policy.address_lockout_after // 5),
            policy.address_lockout_after,
        )

    def _rules(self, username: str, address: str | None) -> dict[str, Rule]:
        return {user_key(username): self.user_rule, address_key(address): self.address_rule}

    @staticmethod
    def _quiet_since(row: ThrottleCounter) -> datetime:
        # A lockout's end counts as activity: one more failure right after it locks again.
        if row.locked_until is not None and row.locked_until > row.last_failure_at:
            return row.locked_until
        return row.last_failure_at

    def _delay(self, failures: int, rule: Rule) -> float:
        extra = failures - rule.free
        if extra <= 0:
            return 0.0
        return float(min(self.policy.delay_base_s * 2 ** (extra - 1), self.policy.delay_max_s))

    def check(
        self, username: str, address: str | None, *, now: datetime | None = None
    ) -> Throttled | None:
        """Whether a sign-in may be tried now; the longest wait of its keys when not."""
        now = now or utcnow()
        worst: Throttled | None = None
        with self.db.session() as s:
            for key, rule in self._rules(username, address).items():
                row = s.get(ThrottleCounter, key)
                if row is None:
                    continue
                if row.locked_until is not None and now < row.locked_until:
                    wait, locked = (row.locked_until - now).total_seconds(), True
                elif now - self._quiet_since(row) >= self.window:
                    continue  # old failures are forgotten
                else:
                    allowed_at = row.last_failure_at + timedelta(
                        seconds=self._delay(row.failures, rule)
                    )
                    wait, locked = (allowed_at - now).total_seconds(), False
                if wait > 0 and (worst is None or wait > worst.retry_after_s):
                    worst = Throttled(max(1, math.ceil(wait)), locked)
        return worst

    def failure(self, username: str, address: str | None, *, now: datetime | None = None) -> None:
        """Count one failed sign-in for the username and the address."""
        now = now or utcnow()
        for key, rule in self._rules(username, address).items():
            for _ in range(3):  # a concurrent first failure may insert the row first
                try:
                    with self.db.session() as s:
                        row = s.get(ThrottleCounter, key, with_for_update=True)
                        if row is None:
                            row = ThrottleCounter(key=key, failures=0, last_failure_at=now)
                            s.add(row)
                        if now - self._quiet_since(row) >= self.window:
                            row.failures = 0  # forgotten: quiet for a whole window
                        row.failures += 1
                        row.last_failure_at = now
                        if row.failures >= rule.lock_after:
                            row.locked_until = now + self.window
                    break
                except IntegrityError:
                    continue

    def clear(self, username: str) -> None:
        """Forget a username's failures: a right password, or an administrator unlocking it
        (the address keeps its count)."""
        with self.db.session() as s:
            row = s.get(ThrottleCounter, user_key(username))
            if row is not None:
                s.delete(row)

    def locked_until(self, username: str, *, now: datetime | None = None) -> datetime | None:
        """When a username's lockout ends, or None when it is not locked."""
        now = now or utcnow()
        with self.db.session() as s:
            row = s.get(ThrottleCounter, user_key(username))
            if row is None or row.locked_until is None or row.locked_until <= now:
                return None
            return row.locked_until

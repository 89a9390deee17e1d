"""Login throttling: exponential delays, lockout per user and per address, expiry, clearing."""

from __future__ import annotations

from datetime import timedelta

from vigil.config import AuthSettings
from vigil.security.throttle import LoginThrottle
from vigil.store.db import Database
from vigil.store.types import utcnow

POLICY = AuthSettings(
    free_attempts=2,
    delay_base_s=1,
    delay_max_s=8,
    lockout_after=6,
    address_lockout_after=20,
    lockout_minutes=15,
)


def test_delays_double_then_lock(db: Database) -> None:
    throttle = LoginThrottle(db, POLICY)
    t = utcnow()
    waits = []
    for _ in range(5):
        throttle.failure("Alice", "10.0.0.1", now=t)
        found = throttle.check("alice", "10.0.0.1", now=t)
        waits.append(None if found is None else (found.retry_after_s, found.locked))
        if found:
            t += timedelta(seconds=found.retry_after_s)
    assert waits == [None, None, (1, False), (2, False), (4, False)]
    throttle.failure("alice", "10.0.0.1", now=t)  # sixth failure: locked
    locked = throttle.check("alice", "10.0.0.9", now=t)
    assert locked is not None and locked.locked and locked.retry_after_s == 15 * 60
    assert throttle.locked_until("alice", now=t) is not None
    # Another user from the same address is not locked: the address has 6 failures of 20,
    # 2 beyond its 4 free ones, so only its delay applies.
    from_same = throttle.check("bob", "10.0.0.1", now=t)
    assert from_same is not None and (from_same.retry_after_s, from_same.locked) == (2, False)
    assert throttle.check("bob", "10.0.0.2", now=t) is None
    after = t + timedelta(minutes=15)
    assert throttle.check("alice", "10.0.0.9", now=after) is None
    # A failure right after the lockout locks again: the count is not forgotten yet.
    throttle.failure("alice", "10.0.0.9", now=after)
    again = throttle.check("alice", "10.0.0.9", now=after)
    assert again is not None and again.locked


def test_unknown_usernames_are_counted_the_same(db: Database) -> None:
    throttle = LoginThrottle(db, POLICY)
    t = utcnow()
    for _ in range(6):
        throttle.failure("nobody-here", "10.0.0.2", now=t)
    found = throttle.check("nobody-here", "10.0.0.3", now=t)
    assert found is not None and found.locked


def test_address_lockout_across_usernames(db: Database) -> None:
    throttle = LoginThrottle(db, POLICY)
    t = utcnow()
    for i in range(20):
        throttle.failure(f"user{i}", "192.0.2.7", now=t)
    found = throttle.check("someone-else", "192.0.2.7", now=t)
    assert found is not None and found.locked
    assert throttle.check("someone-else", "192.0.2.8", now=t) is None


def test_clear_and_forgetting(db: Database) -> None:
    throttle = LoginThrottle(db, POLICY)
    t = utcnow()
    for _ in range(4):
        throttle.failure("carol", "10.0.0.4", now=t)
    assert throttle.check("carol", "10.0.0.5", now=t) is not None
    throttle.clear("CAROL")
    assert throttle.check("carol", "10.0.0.5", now=t) is None
    for _ in range(4):
        throttle.failure("dave", "10.0.0.6", now=t)
    # Old failures are forgotten after the lockout period without new ones.
    assert throttle.check("dave", "10.0.0.6", now=t + timedelta(minutes=15)) is None
    throttle.failure("dave", "10.0.0.6", now=t + timedelta(minutes=16))
    assert throttle.check("dave", "10.0.0.7", now=t + timedelta(minutes=16)) is None

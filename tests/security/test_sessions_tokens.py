"""Sessions (idle and absolute expiry, revocation, CSRF) and API tokens, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from vigil.config import AuthSettings
from vigil.domain.permissions import Permission
from vigil.security import sessions, tokens
from vigil.security.passwords import hash_password
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.models import ApiToken, AuthSession
from vigil.store.types import utcnow

POLICY = AuthSettings(session_idle_minutes=10, session_absolute_hours=1)


def _user(db: Database, name: str = "alice") -> int:
    return user_store.create_user(db, username=name, password_hash=hash_password("x" * 12)).id


def _open(db: Database, user_id: int, now: object = None) -> sessions.NewSession:
    return sessions.create_session(
        db,
        user_id=user_id,
        policy=POLICY,
        ip="10.0.0.5",
        user_agent="pytest",
        mfa_passed=False,
        now=now,  # type: ignore[arg-type]
    )


def test_session_stored_hashed_and_found(db: Database) -> None:
    new = _open(db, _user(db))
    assert len(new.token) >= 43
    with db.session() as s:
        stored = s.scalars(select(AuthSession)).one()
    assert stored.id_hash != new.token and stored.id_hash == sessions.token_hash(new.token)
    found = sessions.lookup_session(db, new.token, policy=POLICY)
    assert found is not None and found.user_id == new.info.user_id
    assert sessions.lookup_session(db, new.token + "x", policy=POLICY) is None


def test_idle_timeout_and_activity(db: Database) -> None:
    t0 = utcnow()
    new = _open(db, _user(db), now=t0)
    # Active every 8 minutes: the idle limit (10) moves along.
    for minutes in (8, 16, 24):
        at = t0 + timedelta(minutes=minutes)
        assert sessions.lookup_session(db, new.token, policy=POLICY, now=at)
    later = t0 + timedelta(minutes=24 + 10)
    assert sessions.lookup_session(db, new.token, policy=POLICY, now=later) is None
    with db.session() as s:
        assert s.scalars(select(AuthSession)).first() is None, "expired sessions are removed"


def test_absolute_timeout(db: Database) -> None:
    t0 = utcnow()
    new = _open(db, _user(db), now=t0)
    t = t0
    while t < t0 + timedelta(minutes=55):
        t += timedelta(minutes=5)
        assert sessions.lookup_session(db, new.token, policy=POLICY, now=t)
    end = t0 + timedelta(hours=1)
    assert sessions.lookup_session(db, new.token, policy=POLICY, now=end) is None


def test_revoke_and_purge(db: Database) -> None:
    alice, bob = _user(db), _user(db, "bob")
    a1, a2, b1 = _open(db, alice), _open(db, alice), _open(db, bob)
    assert sessions.revoke_session(db, a1.token) is True
    assert sessions.revoke_session(db, a1.token) is False
    assert sessions.lookup_session(db, a1.token, policy=POLICY) is None
    assert sessions.revoke_user_sessions(db, alice) == 1
    assert sessions.lookup_session(db, a2.token, policy=POLICY) is None
    assert sessions.purge_expired(db, policy=POLICY, now=utcnow() + timedelta(hours=2)) == 1
    assert sessions.lookup_session(db, b1.token, policy=POLICY) is None


def test_csrf_double_submit(db: Database) -> None:
    info = _open(db, _user(db)).info
    good = info.csrf_token
    assert sessions.csrf_ok(info, good, good)
    assert not sessions.csrf_ok(info, None, good)
    assert not sessions.csrf_ok(info, good, None)
    assert not sessions.csrf_ok(info, good + "x", good)
    assert not sessions.csrf_ok(info, "forged", "forged"), "both must match the session's"


def test_api_tokens(db: Database) -> None:
    alice = _user(db)
    token, info = tokens.create_token(
        db, user_id=alice, name="vms bridge", scopes=frozenset({Permission.LIVE})
    )
    assert token.startswith(f"vgl_{info.prefix}_")
    with db.session() as s:
        stored = s.scalars(select(ApiToken)).one()
    assert token not in (stored.token_hash, stored.prefix)
    assert stored.token_hash == sessions.token_hash(token)
    found = tokens.authenticate_token(db, token)
    assert found is not None and found.user_id == alice and found.scopes == {Permission.LIVE}
    assert found.last_used_at is not None
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "vgl_nope_x", "Bearer x", "", f"vgl_{info.prefix}_"):
        assert tokens.authenticate_token(db, bad) is None
    assert tokens.revoke_token(db, info.id) is not None
    assert tokens.authenticate_token(db, token) is None
    assert tokens.list_tokens(db, user_id=alice)[0].revoked_at is not None


def test_expired_token(db: Database) -> None:
    token, _ = tokens.create_token(
        db, user_id=_user(db), name="temp", expires_at=utcnow() + timedelta(minutes=5)
    )
    assert tokens.authenticate_token(db, token) is not None
    assert tokens.authenticate_token(db, token, now=utcnow() + timedelta(minutes=6)) is None

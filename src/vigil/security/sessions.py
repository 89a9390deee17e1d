"""Browser sessions: a random token in an HttpOnly cookie, its SHA-256 in the database, an
idle and an absolute timeout, and a CSRF token per session (double submit: cookie + header).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete

from vigil.config import AuthSettings
from vigil.store.db import Database
from vigil.store.models import AuthSession
from vigil.store.types import utcnow

SESSION_COOKIE = "vigil_session"
CSRF_COOKIE = "vigil_csrf"  # readable by the page's JS, which echoes it in the header
CSRF_HEADER = "X-CSRF-Token"
# last_seen_at is written at most this often: a write per request would cost more than the
# idle timeout's precision is worth.
TOUCH_EVERY = timedelta(seconds=30)


def token_hash(token: str) -> str:
    """SHA-256 of a random token: enough for 256-bit random secrets (no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session, without its token."""

    id_hash: str
    user_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    mfa_passed: bool


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just created: the token goes into the cookie and nowhere else."""

    token: str
    info: SessionInfo


def _info(row: AuthSession) -> SessionInfo:
    return SessionInfo(
        row.id_hash, row.user_id, row.csrf_token, row.created_at, row.expires_at, row.mfa_passed
    )


def create_session(
    db: Database,
    *,
    user_id: int,
    policy: AuthSettings,
    ip: str | None,
    user_agent: str | None,
    mfa_passed: bool,
    now: datetime | None = None,
) -> NewSession:
    """Open a session for a user who just signed in."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = AuthSession(
        id_hash=token_hash(token),
        user_id=user_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=policy.session_absolute_hours),
        ip=ip,
        user_agent=(user_agent or "")[:500] or None,
        mfa_passed=mfa_passed,
    )
    with db.session() as s:
        s.add(row)
    return NewSession(token, _info(row))


def lookup_session(
    db: Database, token: str, *, policy: AuthSettings, now: datetime | None = None
) -> SessionInfo | None:
    """The live session of a cookie's token; an expired one is removed and gives None."""
    now = now or utcnow()
    with db.session() as s:
        row = s.get(AuthSession, token_hash(token))
        if row is None:
            return None
        idle_limit = row.last_seen_at + timedelta(minutes=policy.session_idle_minutes)
        if now >= row.expires_at or now >= idle_limit:
            s.delete(row)
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
        return _info(row)


def revoke_session(db: Database, token: str) -> bool:
    """End a session (sign out); False when there was none."""
    with db.session() as s:
        return bool(
            s.execute(delete(AuthSession).where(AuthSession.id_hash == token_hash(token))).rowcount  # type: ignore[attr-defined]
        )


def revoke_user_sessions(db: Database, user_id: int) -> int:
    """End every session of a user (password changed, disabled, removed); how many."""
    with db.session() as s:
        result = s.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]


def purge_expired(db: Database, *, policy: AuthSettings, now: datetime | None = None) -> int:
    """Remove sessions past either timeout; how many."""
    now = now or utcnow()
    idle_before = now - timedelta(minutes=policy.session_idle_minutes)
    with db.session() as s:
        result = s.execute(
            delete(AuthSession).where(
                (AuthSession.expires_at <= now) | (AuthSession.last_seen_at <= idle_before)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def csrf_ok(session: SessionInfo, header: str | None, cookie: str | None) -> bool:
    """Double-submit check of a state-changing request made with a session cookie: the
    header must carry the session's CSRF token, and the CSRF cookie must agree. A page of
    another site can make the browser send cookies but cannot read them to set the header.
    """
    if not header or not cookie:
        return False
    # Bytes: compare_digest refuses str with non-ASCII characters, which a header may carry.
    expected = session.csrf_token.encode()
    return hmac.compare_digest(header.encode(), expected) and hmac.compare_digest(
        cookie.encode(), expected
    )

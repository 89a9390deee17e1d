"""Signing in: throttling, password, second factor, session, audit, in one place that the
API's login route and tests call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.config import AuthSettings
from vigil.security import audit, passwords, totp
from vigil.security.secrets import SecretBox
from vigil.security.sessions import NewSession, create_session
from vigil.security.throttle import LoginThrottle, Throttled
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.types import utcnow

GENERIC_FAILURE = "wrong username, password or code"


class LoginFailed(Exception):
    """Refused, for a reason deliberately not told to the client (``reason`` is audited)."""

    def __init__(self, reason: str) -> None:
        super().__init__(GENERIC_FAILURE)
        self.reason = reason


class SecondFactorRequired(Exception):
    """The password was right; the account needs a TOTP code with it."""


class LoginThrottledError(Exception):
    """Too many failures: try again after ``retry_after_s``."""

    def __init__(self, throttled: Throttled) -> None:
        what = "locked" if throttled.locked else "delayed"
        super().__init__(
            f"too many failed sign-ins: {what}, try again in {throttled.retry_after_s} s"
        )
        self.throttled = throttled


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A signed-in user and the session opened for them."""

    user_id: int
    username: str
    session: NewSession


def login(
    db: Database,
    *,
    secrets: SecretBox,
    policy: AuthSettings,
    username: str,
    password: str,
    code: str | None,
    address: str | None,
    user_agent: str | None,
    now: datetime | None = None,
) -> LoginResult:
    """Check a sign-in and open a session. Every outcome is audited as ``auth.login``.

    Raises:
        LoginThrottledError: before anything is checked, when the username or the address
            must wait or is locked.
        LoginFailed: unknown user, wrong password, disabled, wrong or replayed code.
        SecondFactorRequired: right password, TOTP enabled, no code given (not a failure).
    """
    now = now or utcnow()
    throttle = LoginThrottle(db, policy)
    name = username.strip().casefold()[:64]

    def fail(reason: str) -> LoginFailed:
        throttle.failure(name, address, now=now)
        audit.record(
            db,
            action="auth.login",
            outcome=audit.Outcome.FAILURE,
            username=name,
            address=address,
            details={"reason": reason},
            at=now,
        )
        return LoginFailed(reason)

    if (waiting := throttle.check(name, address, now=now)) is not None:
        audit.record(
            db,
            action="auth.login",
            outcome=audit.Outcome.DENIED,
            username=name,
            address=address,
            details={"reason": "locked" if waiting.locked else "throttled"},
            at=now,
        )
        raise LoginThrottledError(waiting)
    creds = user_store.credentials(db, name)
    ok, new_hash = passwords.verify_password(creds.password_hash if creds else None, password)
    if creds is None:
        raise fail("unknown user")
    if not ok:
        raise fail("wrong password")
    if creds.disabled:
        raise fail("user disabled")
    mfa = False
    if creds.totp_enabled and creds.totp_secret:
        if not code:
            # Counted like a failure: otherwise the answer would be an unthrottled oracle
            # for the password of every account with a second factor.
            throttle.failure(name, address, now=now)
            raise SecondFactorRequired("this account needs its authenticator code")
        counter = totp.verify(
            secrets.decrypt(creds.totp_secret), code, last_counter=creds.totp_last_counter, at=now
        )
        if counter is None or not user_store.use_totp_counter(db, creds.user_id, counter):
            raise fail("wrong or reused code")
        mfa = True
    throttle.clear(name)
    user_store.update_user(db, creds.user_id, password_hash=new_hash, last_login_at=now)
    session = create_session(
        db,
        user_id=creds.user_id,
        policy=policy,
        ip=address,
        user_agent=user_agent,
        mfa_passed=mfa,
        now=now,
    )
    audit.record(
        db,
        action="auth.login",
        username=creds.username,
        address=address,
        details={"mfa": mfa},
        at=now,
    )
    return LoginResult(creds.user_id, creds.username, session)

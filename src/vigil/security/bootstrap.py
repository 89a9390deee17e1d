"""The first administrator, without any default password: ``vigil users create-admin`` on
the machine, or the web client with the one-time setup token the server prints at start
while no user exists."""

from __future__ import annotations

import hmac
import secrets
import threading

from vigil.domain.errors import Conflict
from vigil.security import audit, passwords
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.users import Assigned, UserInfo

ADMIN_ROLE = "administrator"


def create_admin(
    db: Database,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
    first_only: bool = False,
    actor: str | None = None,
    address: str | None = None,
) -> UserInfo:
    """Create a user with the administrator role, audited as ``user.create``.

    Args:
        first_only: refuse (``Conflict``) when any user exists already.

    Raises:
        WeakPassword, InvalidUsername, DuplicateName, Conflict.
    """
    name = user_store.normalise_username(username)
    passwords.check_policy(password, name)
    user = user_store.create_user(
        db,
        username=name,
        password_hash=passwords.hash_password(password),
        display_name=display_name,
        roles=[Assigned(ADMIN_ROLE, None)],
        only_if_none=first_only,
    )
    audit.record(
        db,
        action="user.create",
        username=actor,
        target=f"user:{user.username}",
        address=address,
        details={"roles": [ADMIN_ROLE], "bootstrap": first_only},
    )
    return user


class SetupToken:
    """The one-time token that lets the web client create the first administrator.

    It exists only while no user exists, lives in this server's memory (never stored), and
    is consumed by the first successful use.
    """

    def __init__(self) -> None:
        self._token: str | None = None
        self._lock = threading.Lock()

    def issue_if_needed(self, db: Database) -> str | None:
        """A new token when the installation has no user yet, else None."""
        with self._lock:
            if user_store.count_users(db) > 0:
                self._token = None
                return None
            self._token = secrets.token_urlsafe(24)
            return self._token

    def redeem(
        self, db: Database, *, token: str, username: str, password: str, address: str | None
    ) -> UserInfo:
        """Create the first administrator with the token.

        Raises:
            PermissionError: wrong token, or none issued (users exist already).
            WeakPassword, InvalidUsername, Conflict: as :func:`create_admin`.
        """
        with self._lock:
            # Bytes: compare_digest refuses str with non-ASCII characters (TypeError).
            if self._token is None or not hmac.compare_digest(self._token.encode(), token.encode()):
                audit.record(
                    db,
                    action="auth.setup",
                    outcome=audit.Outcome.DENIED,
                    address=address,
                    details={"reason": "no setup pending" if self._token is None else "token"},
                )
                raise PermissionError("setup is not possible: wrong setup token or done already")
            try:
                user = create_admin(
                    db, username=username, password=password, first_only=True, address=address
                )
            except Conflict:
                self._token = None
                raise
            self._token = None
            return user

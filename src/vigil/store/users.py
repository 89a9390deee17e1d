"""Users, roles and role assignments. Built-in roles are defined in
``domain/permissions.py`` (their grants are read from there, so an upgrade can change them);
their rows exist so that assignments can refer to them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.domain.errors import Conflict, NotFound
from vigil.domain.permissions import (
    BUILTIN_ROLES,
    Grant,
    Role,
    RoleAssignment,
    Scope,
    validate_assignment_scope,
    validate_grant,
)
from vigil.store.db import Database
from vigil.store.models import RoleRecord, User, UserRole
from vigil.store.rules import DuplicateName

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class InvalidUsername(ValueError):
    """A username Vigil does not accept; the message says which characters are."""


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive: stored and compared lower-case.

    Raises:
        InvalidUsername: when it is empty, too long or has other characters.
    """
    name = username.strip().casefold()
    if not USERNAME_RE.match(name):
        raise InvalidUsername(
            "a username has 1 to 64 characters: letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class Assigned:
    """A role held by a user, by name, with the scope that narrows it."""

    role: str
    scope: Scope | None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user without secrets."""

    id: int
    username: str
    display_name: str | None
    totp_enabled: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    roles: tuple[Assigned, ...]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What signing in checks (internal: never returned by the API)."""

    user_id: int
    username: str
    password_hash: str
    totp_secret: str | None
    totp_enabled: bool
    totp_last_counter: int | None
    disabled: bool


def _role(row: RoleRecord) -> Role:
    if row.builtin and row.name in BUILTIN_ROLES:
        return BUILTIN_ROLES[row.name]
    grants = tuple(Grant.from_json(g) for g in row.grants or [])
    return Role(row.name, grants, builtin=row.builtin, description=row.description or "")


def ensure_builtin_roles(db: Database) -> None:
    """Create the rows of the built-in roles that do not exist yet."""
    with db.session() as s:
        have = set(s.scalars(select(RoleRecord.name).where(RoleRecord.builtin)))
        for role in BUILTIN_ROLES.values():
            if role.name not in have:
                s.add(
                    RoleRecord(
                        name=role.name,
                        description=role.description,
                        builtin=True,
                        grants=[g.to_json() for g in role.grants],
                    )
                )
    # A concurrent start may have inserted them first: unique names keep one of each.


def _assigned(s: Session, user_ids: Sequence[int]) -> dict[int, list[Assigned]]:
    rows = s.execute(
        select(UserRole.user_id, RoleRecord.name, UserRole.scope)
        .join(RoleRecord, RoleRecord.id == UserRole.role_id)
        .where(UserRole.user_id.in_(list(user_ids)))
        .order_by(RoleRecord.name)
    )
    found: dict[int, list[Assigned]] = {u: [] for u in user_ids}
    for user_id, name, scope in rows:
        found[user_id].append(Assigned(name, None if scope is None else Scope.from_json(scope)))
    return found


def _info(row: User, roles: list[Assigned]) -> UserInfo:
    return UserInfo(
        row.id,
        row.username,
        row.display_name,
        row.totp_enabled,
        row.disabled,
        row.created_at,
        row.last_login_at,
        tuple(roles),
    )


def _set_roles(s: Session, user_id: int, roles: Sequence[Assigned]) -> None:
    names = {a.role for a in roles}
    if len(names) != len(roles):
        raise Conflict("a role is given twice: give each role once, with one scope")
    rows = s.execute(select(RoleRecord.name, RoleRecord.id).where(RoleRecord.name.in_(names)))
    ids: dict[str, int] = {name: role_id for name, role_id in rows}
    for a in roles:
        if a.role not in ids:
            raise NotFound(f"role {a.role!r} does not exist")
        validate_assignment_scope(a.scope)
    s.execute(delete(UserRole).where(UserRole.user_id == user_id))
    s.add_all(
        UserRole(
            user_id=user_id,
            role_id=ids[a.role],
            scope=None if a.scope is None else a.scope.to_json(),
        )
        for a in roles
    )


def count_users(db: Database) -> int:
    """How many users exist (zero: the installation needs its first administrator)."""
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(User)) or 0)


def create_user(
    db: Database,
    *,
    username: str,
    password_hash: str,
    display_name: str | None = None,
    roles: Sequence[Assigned] = (),
    only_if_none: bool = False,
) -> UserInfo:
    """Add a user.

    Args:
        only_if_none: create only when no user exists yet (first administrator); raises
            :class:`Conflict` otherwise, atomically with the insert.

    Raises:
        DuplicateName: the username is taken. NotFound: a role does not exist.
    """
    name = normalise_username(username)
    ensure_builtin_roles(db)
    try:
        with db.session() as s:
            if only_if_none and s.get_bind().dialect.name == "postgresql":
                # Two first administrators at once: the second waits, then sees the first.
                s.execute(text("SELECT pg_advisory_xact_lock(7411)"))
            # On SQLite the insert comes first: it takes the write lock, so the count after
            # it sees every other committed user.
            row = User(
                username=name,
                display_name=display_name,
                password_hash=password_hash,
                totp_enabled=False,
                disabled=False,
            )
            s.add(row)
            s.flush()
            _set_roles(s, row.id, roles)
            s.flush()
            if only_if_none and s.scalar(select(func.count()).select_from(User)) != 1:
                raise Conflict("the first administrator already exists")
            return _info(row, list(roles))
    except IntegrityError as exc:
        raise DuplicateName(f"a user named {name!r} already exists") from exc


def get_user(db: Database, user_id: int) -> UserInfo | None:
    """One user, or None."""
    with db.session() as s:
        row = s.get(User, user_id)
        return None if row is None else _info(row, _assigned(s, [row.id])[row.id])


def list_users(db: Database) -> list[UserInfo]:
    """All users, by username."""
    with db.session() as s:
        rows = s.scalars(select(User).order_by(User.username)).all()
        roles = _assigned(s, [r.id for r in rows])
        return [_info(r, roles[r.id]) for r in rows]


def credentials(db: Database, username: str) -> Credentials | None:
    """What a sign-in checks, by username (any case); None when there is no such user."""
    try:
        name = normalise_username(username)
    except InvalidUsername:
        return None
    with db.session() as s:
        row = s.scalar(select(User).where(User.username == name))
        if row is None:
            return None
        return Credentials(
            row.id,
            row.username,
            row.password_hash,
            row.totp_secret,
            row.totp_enabled,
            row.totp_last_counter,
            row.disabled,
        )


def credentials_by_id(db: Database, user_id: int) -> Credentials | None:
    """As :func:`credentials`, by id."""
    with db.session() as s:
        row = s.get(User, user_id)
        return None if row is None else credentials(db, row.username)


def update_user(
    db: Database,
    user_id: int,
    *,
    display_name: str | None = None,
    disabled: bool | None = None,
    roles: Sequence[Assigned] | None = None,
    password_hash: str | None = None,
    last_login_at: datetime | None = None,
) -> UserInfo:
    """Change the given fields of a user.

    Raises:
        NotFound: no such user, or a role does not exist.
    """
    with db.session() as s:
        row = s.get(User, user_id)
        if row is None:
            raise NotFound(f"user {user_id} not found")
        if display_name is not None:
            row.display_name = display_name
        if disabled is not None:
            row.disabled = disabled
        if password_hash is not None:
            row.password_hash = password_hash
        if last_login_at is not None:
            row.last_login_at = last_login_at
        if roles is not None:
            _set_roles(s, user_id, roles)
        s.flush()
        return _info(row, _assigned(s, [row.id])[row.id])


def set_totp(
    db: Database,
    user_id: int,
    *,
    secret_encrypted: str | None,
    enabled: bool,
    last_counter: int | None = None,
) -> None:
    """Store a user's TOTP secret (encrypted), whether it is in use, and the last step."""
    with db.session() as s:
        row = s.get(User, user_id)
        if row is None:
            raise NotFound(f"user {user_id} not found")
        row.totp_secret, row.totp_enabled = secret_encrypted, enabled
        row.totp_last_counter = last_counter


def use_totp_counter(db: Database, user_id: int, counter: int) -> bool:
    """Record an accepted TOTP step unless an equal or later one was recorded meanwhile
    (two sign-ins racing with the same code): True when this one wins."""
    with db.session() as s:
        row = s.get(User, user_id, with_for_update=True)
        if row is None:
            return False
        if row.totp_last_counter is not None and counter <= row.totp_last_counter:
            return False
        row.totp_last_counter = counter
        return True


def delete_user(db: Database, user_id: int) -> bool:
    """Remove a user (sessions, tokens and assignments go with it); False if none."""
    with db.session() as s:
        row = s.get(User, user_id)
        if row is None:
            return False
        s.delete(row)
        return True


def assignments_of(db: Database, user_id: int) -> tuple[RoleAssignment, ...]:
    """The user's roles with their grants, for permission checks."""
    with db.session() as s:
        rows = s.execute(
            select(RoleRecord, UserRole.scope)
            .join(UserRole, RoleRecord.id == UserRole.role_id)
            .where(UserRole.user_id == user_id)
        ).all()
        return tuple(
            RoleAssignment(_role(role), None if scope is None else Scope.from_json(scope))
            for role, scope in rows
        )


def holders_of(db: Database, role_name: str) -> list[str]:
    """Usernames holding a role."""
    with db.session() as s:
        return list(
            s.scalars(
                select(User.username)
                .join(UserRole, UserRole.user_id == User.id)
                .join(RoleRecord, RoleRecord.id == UserRole.role_id)
                .where(RoleRecord.name == role_name)
                .order_by(User.username)
            )
        )


# ----- roles ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """A role as stored (built-in ones with their current grants)."""

    id: int
    role: Role


def list_roles(db: Database) -> list[RoleInfo]:
    """All roles, built-in first, then by name."""
    ensure_builtin_roles(db)
    with db.session() as s:
        rows = s.scalars(select(RoleRecord).order_by(RoleRecord.builtin.desc(), RoleRecord.name))
        return [RoleInfo(r.id, _role(r)) for r in rows]


def get_role(db: Database, role_id: int) -> RoleInfo | None:
    """One role, or None."""
    with db.session() as s:
        row = s.get(RoleRecord, role_id)
        return None if row is None else RoleInfo(row.id, _role(row))


def save_role(
    db: Database,
    *,
    role_id: int | None,
    name: str,
    description: str | None,
    grants: Sequence[Grant],
) -> RoleInfo:
    """Add (no id) or replace a custom role.

    Raises:
        InvalidGrant: a grant cannot be honoured. DuplicateName: the name is taken.
        NotFound: no such role. Conflict: the role is built in.
    """
    for grant in grants:
        validate_grant(grant)
    try:
        with db.session() as s:
            if role_id is None:
                row = RoleRecord(name=name, builtin=False)
                s.add(row)
            else:
                found = s.get(RoleRecord, role_id)
                if found is None:
                    raise NotFound(f"role {role_id} not found")
                if found.builtin:
                    raise Conflict(f"role {found.name!r} is built in and cannot be changed")
                row = found
            row.name, row.description = name, description
            row.grants = [g.to_json() for g in grants]
            s.flush()
            return RoleInfo(row.id, _role(row))
    except IntegrityError as exc:
        raise DuplicateName(f"a role named {name!r} already exists") from exc


def delete_role(db: Database, role_id: int) -> str:
    """Remove a custom role that nobody holds; its name.

    Raises:
        NotFound, Conflict (built in, or held by users: the message names them).
    """
    with db.session() as s:
        row = s.get(RoleRecord, role_id)
        if row is None:
            raise NotFound(f"role {role_id} not found")
        if row.builtin:
            raise Conflict(f"role {row.name!r} is built in and cannot be removed")
        holders = s.scalars(
            select(User.username)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role_id == role_id)
            .order_by(User.username)
        ).all()
        if holders:
            raise Conflict(f"role {row.name!r} is held by: {', '.join(holders)}")
        s.delete(row)
        return row.name

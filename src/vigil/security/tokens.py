"""API tokens for integrations: ``vgl_<prefix>_<secret>``, shown once, stored as SHA-256,
found by their prefix, optionally limited to some permissions and an expiry."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from vigil.domain.permissions import Permission
from vigil.security.sessions import token_hash
from vigil.store.db import Database
from vigil.store.models import ApiToken
from vigil.store.types import utcnow

TOKEN_PREFIX = "vgl_"
# last_used_at is written at most this often.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token without its secret."""

    id: int
    prefix: str
    name: str
    user_id: int
    scopes: frozenset[Permission] | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def _info(row: ApiToken) -> TokenInfo:
    scopes = None if row.scopes is None else frozenset(Permission(p) for p in row.scopes)
    return TokenInfo(
        row.id,
        row.prefix,
        row.name,
        row.user_id,
        scopes,
        row.created_at,
        row.last_used_at,
        row.expires_at,
        row.revoked_at,
    )


def create_token(
    db: Database,
    *,
    user_id: int,
    name: str,
    scopes: frozenset[Permission] | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """Issue a token; returns the token itself (show it once) and what is stored."""
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        prefix=prefix,
        token_hash=token_hash(token),
        name=name,
        user_id=user_id,
        scopes=None if scopes is None else sorted(scopes),
        expires_at=expires_at,
    )
    with db.session() as s:
        s.add(row)
    return token, _info(row)


def _prefix_of(token: str) -> str | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, _ = token[len(TOKEN_PREFIX) :].partition("_")
    return prefix if sep and prefix else None


def authenticate_token(
    db: Database, token: str, *, now: datetime | None = None
) -> TokenInfo | None:
    """The live token this secret belongs to, or None (unknown, wrong, revoked, expired)."""
    now = now or utcnow()
    prefix = _prefix_of(token)
    if prefix is None:
        return None
    with db.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
        if row is None or not hmac.compare_digest(row.token_hash, token_hash(token)):
            return None
        if row.revoked_at is not None or (row.expires_at is not None and now >= row.expires_at):
            return None
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            row.last_used_at = now
        return _info(row)


def list_tokens(db: Database, *, user_id: int | None = None) -> list[TokenInfo]:
    """Tokens, newest first; of one user when given."""
    with db.session() as s:
        query = select(ApiToken).order_by(ApiToken.id.desc())
        if user_id is not None:
            query = query.where(ApiToken.user_id == user_id)
        return [_info(r) for r in s.scalars(query)]


def get_token(db: Database, token_id: int) -> TokenInfo | None:
    """One token's record, or None."""
    with db.session() as s:
        row = s.get(ApiToken, token_id)
        return None if row is None else _info(row)


def revoke_token(db: Database, token_id: int, *, now: datetime | None = None) -> TokenInfo | None:
    """Revoke a token (kept for the record); None when it does not exist."""
    with db.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = now or utcnow()
        return _info(row)

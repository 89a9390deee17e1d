"""API tokens for integrations (permission ``manage``): shown once, revoked, never edited."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from vigil.api.auth import ManageUser, client_address
from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.schemas_auth import TokenCreate, TokenCreated, TokenPublic
from vigil.domain.errors import NotFound
from vigil.security import audit
from vigil.security import tokens as token_store
from vigil.security.tokens import TokenInfo
from vigil.store import users as user_store
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/tokens", tags=["users"])


def token_public(info: TokenInfo) -> TokenPublic:
    """A token as shown, without its secret."""
    return TokenPublic(
        id=info.id,
        prefix=info.prefix,
        name=info.name,
        user_id=info.user_id,
        scopes=None if info.scopes is None else sorted(info.scopes),
        created_at=info.created_at,
        last_used_at=info.last_used_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
    )


@router.get("", response_model=list[TokenPublic])
def list_tokens(_: ManageUser, ctx: ContextDep, user_id: int | None = None) -> list[TokenPublic]:
    """Tokens, newest first (of one user with ``user_id``)."""
    return [token_public(t) for t in token_store.list_tokens(ctx.db, user_id=user_id)]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenCreate, request: Request, actor: ManageUser, ctx: ContextDep
) -> TokenCreated:
    """Issue a token acting for a user (default: the caller), limited to ``scopes`` of that
    user's permissions. The answer is the only time the token is shown."""
    user_id = body.user_id if body.user_id is not None else actor.user_id
    user = user_store.get_user(ctx.db, user_id)
    if user is None:
        raise FieldError("user_id", f"user {user_id} does not exist")
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise FieldError("expires_at", "the expiry is in the past")
    scopes = None if body.scopes is None else frozenset(body.scopes)
    token, info = token_store.create_token(
        ctx.db, user_id=user_id, name=body.name, scopes=scopes, expires_at=body.expires_at
    )
    audit.record(
        ctx.db,
        action="token.create",
        username=actor.username,
        target=f"token:{info.prefix}",
        address=client_address(request),
        details={
            "user": user.username,
            "name": body.name,
            "scopes": None if scopes is None else sorted(scopes),
        },
    )
    return TokenCreated(**token_public(info).model_dump(), token=token)


@router.delete("/{token_id}", response_model=TokenPublic)
def revoke_token(
    token_id: int, request: Request, actor: ManageUser, ctx: ContextDep
) -> TokenPublic:
    """Revoke a token at once (its record stays)."""
    info = token_store.revoke_token(ctx.db, token_id)
    if info is None:
        raise NotFound(f"token {token_id} not found")
    audit.record(
        ctx.db,
        action="token.revoke",
        username=actor.username,
        target=f"token:{info.prefix}",
        address=client_address(request),
    )
    return token_public(info)

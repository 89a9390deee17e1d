"""Users and roles (permission ``manage``); every change is audited."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from vigil.api.auth import ManageUser, client_address
from vigil.api.deps import ContextDep, ServerContext
from vigil.api.errors import FieldError
from vigil.api.schemas_auth import (
    AssignmentBody,
    GrantBody,
    RoleBody,
    RolePublic,
    ScopeBody,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from vigil.domain.errors import NotFound
from vigil.domain.permissions import InvalidGrant
from vigil.security import audit, passwords
from vigil.security.sessions import revoke_user_sessions
from vigil.security.throttle import LoginThrottle
from vigil.store import groups as group_store
from vigil.store import users as user_store
from vigil.store.rules import DuplicateName
from vigil.store.users import Assigned, InvalidUsername, RoleInfo, UserInfo

router = APIRouter(tags=["users"])


def assignment_public(a: Assigned) -> AssignmentBody:
    """A role assignment as shown."""
    return AssignmentBody(role=a.role, scope=None if a.scope is None else ScopeBody.of(a.scope))


def user_public(ctx: ServerContext, user: UserInfo) -> UserPublic:
    """A user as shown (with the lockout of their username, if any)."""
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        totp_enabled=user.totp_enabled,
        disabled=user.disabled,
        locked_until=LoginThrottle(ctx.db, ctx.settings.auth).locked_until(user.username),
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        roles=[assignment_public(a) for a in user.roles],
    )


def role_public(info: RoleInfo) -> RolePublic:
    """A role as shown."""
    role = info.role
    return RolePublic(
        id=info.id,
        name=role.name,
        description=role.description or None,
        builtin=role.builtin,
        grants=[
            GrantBody(permissions=sorted(g.permissions), scope=ScopeBody.of(g.scope))
            for g in role.grants
        ],
    )


def _assignments(ctx: ServerContext, roles: list[AssignmentBody]) -> list[Assigned]:
    found = []
    for i, a in enumerate(roles):
        scope = None if a.scope is None else a.scope.to_domain()
        if scope is not None:
            cams, grps = group_store.missing_ids(ctx.db, cameras=scope.cameras, groups=scope.groups)
            if cams or grps:
                what = f"camera {cams[0]}" if cams else f"camera group {grps[0]}"
                raise FieldError(f"roles.{i}.scope", f"{what} does not exist")
        found.append(Assigned(a.role, scope))
    return found


def _audit(
    ctx: ServerContext, request: Request, actor: str, action: str, target: str, **details: object
) -> None:
    audit.record(
        ctx.db,
        action=action,
        username=actor,
        target=target,
        address=client_address(request),
        details=details,
    )


def _roles_detail(roles: list[AssignmentBody]) -> list[dict[str, object]]:
    return [a.model_dump(mode="json") for a in roles]


@router.get("/api/users", response_model=list[UserPublic])
def list_users(_: ManageUser, ctx: ContextDep) -> list[UserPublic]:
    """All users, by username."""
    return [user_public(ctx, u) for u in user_store.list_users(ctx.db)]


@router.post("/api/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserCreate, request: Request, actor: ManageUser, ctx: ContextDep
) -> UserPublic:
    """Add a user with roles; the password must pass the policy."""
    try:
        name = user_store.normalise_username(body.username)
    except InvalidUsername as exc:
        raise FieldError("username", str(exc)) from None
    try:
        passwords.check_policy(body.password, name)
    except passwords.WeakPassword as exc:
        raise FieldError("password", str(exc)) from None
    roles = _assignments(ctx, body.roles)
    try:
        user = user_store.create_user(
            ctx.db,
            username=name,
            password_hash=passwords.hash_password(body.password),
            display_name=body.display_name,
            roles=roles,
        )
    except DuplicateName as exc:
        raise HTTPException(409, str(exc)) from None
    except InvalidGrant as exc:
        raise FieldError("roles", str(exc)) from None
    target = f"user:{user.username}"
    _audit(ctx, request, actor.username, "user.create", target, roles=_roles_detail(body.roles))
    return user_public(ctx, user)


@router.get("/api/users/{user_id}", response_model=UserPublic)
def get_user(user_id: int, _: ManageUser, ctx: ContextDep) -> UserPublic:
    """One user."""
    user = user_store.get_user(ctx.db, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user_public(ctx, user)


@router.patch("/api/users/{user_id}", response_model=UserPublic)
def update_user(
    user_id: int, body: UserUpdate, request: Request, actor: ManageUser, ctx: ContextDep
) -> UserPublic:
    """Change a user; a new password or disabling ends the user's sessions."""
    current = user_store.get_user(ctx.db, user_id)
    if current is None:
        raise NotFound(f"user {user_id} not found")
    password_hash = None
    if body.password is not None:
        try:
            passwords.check_policy(body.password, current.username)
        except passwords.WeakPassword as exc:
            raise FieldError("password", str(exc)) from None
        password_hash = passwords.hash_password(body.password)
    roles = None if body.roles is None else _assignments(ctx, body.roles)
    if user_id == actor.user_id and (body.disabled or roles is not None):
        # Locking oneself out of administration is done by another administrator.
        raise HTTPException(409, "you cannot disable yourself or change your own roles")
    try:
        user = user_store.update_user(
            ctx.db,
            user_id,
            display_name=body.display_name,
            disabled=body.disabled,
            roles=roles,
            password_hash=password_hash,
        )
    except InvalidGrant as exc:
        raise FieldError("roles", str(exc)) from None
    if password_hash is not None or body.disabled:
        revoke_user_sessions(ctx.db, user_id)
    changed = sorted(body.model_dump(exclude_unset=True))
    details: dict[str, object] = {"fields": changed}
    if body.roles is not None:
        details["roles"] = _roles_detail(body.roles)
    _audit(ctx, request, actor.username, "user.update", f"user:{user.username}", **details)
    return user_public(ctx, user)


@router.delete("/api/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(user_id: int, request: Request, actor: ManageUser, ctx: ContextDep) -> Response:
    """Remove a user with their sessions and tokens (their audit entries stay)."""
    if user_id == actor.user_id:
        raise HTTPException(409, "you cannot remove yourself")
    user = user_store.get_user(ctx.db, user_id)
    if user is None or not user_store.delete_user(ctx.db, user_id):
        raise NotFound(f"user {user_id} not found")
    _audit(ctx, request, actor.username, "user.delete", f"user:{user.username}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/api/users/{user_id}/totp", status_code=status.HTTP_204_NO_CONTENT)
def reset_totp(user_id: int, request: Request, actor: ManageUser, ctx: ContextDep) -> Response:
    """Switch a user's second factor off (a lost phone); they can set it up again."""
    user = user_store.get_user(ctx.db, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    user_store.set_totp(ctx.db, user_id, secret_encrypted=None, enabled=False)
    _audit(ctx, request, actor.username, "user.totp.reset", f"user:{user.username}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/users/{user_id}/unlock", status_code=status.HTTP_204_NO_CONTENT)
def unlock_user(user_id: int, request: Request, actor: ManageUser, ctx: ContextDep) -> Response:
    """Forget a user's failed sign-ins and lift their lockout."""
    user = user_store.get_user(ctx.db, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    LoginThrottle(ctx.db, ctx.settings.auth).clear(user.username)
    _audit(ctx, request, actor.username, "user.unlock", f"user:{user.username}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----- roles ----------------------------------------------------------------------------------


@router.get("/api/roles", response_model=list[RolePublic])
def list_roles(_: ManageUser, ctx: ContextDep) -> list[RolePublic]:
    """All roles, built-in first."""
    return [role_public(r) for r in user_store.list_roles(ctx.db)]


@router.get("/api/roles/{role_id}", response_model=RolePublic)
def get_role(role_id: int, _: ManageUser, ctx: ContextDep) -> RolePublic:
    """One role."""
    info = user_store.get_role(ctx.db, role_id)
    if info is None:
        raise NotFound(f"role {role_id} not found")
    return role_public(info)


def _save_role(
    ctx: ServerContext, request: Request, actor: str, role_id: int | None, body: RoleBody
) -> RolePublic:
    grants = [g.to_domain() for g in body.grants]
    for i, g in enumerate(grants):
        cams, grps = group_store.missing_ids(ctx.db, cameras=g.scope.cameras, groups=g.scope.groups)
        if cams or grps:
            what = f"camera {cams[0]}" if cams else f"camera group {grps[0]}"
            raise FieldError(f"grants.{i}.scope", f"{what} does not exist")
    try:
        info = user_store.save_role(
            ctx.db, role_id=role_id, name=body.name, description=body.description, grants=grants
        )
    except InvalidGrant as exc:
        raise FieldError("grants", str(exc)) from None
    except DuplicateName as exc:
        raise HTTPException(409, str(exc)) from None
    action = "role.create" if role_id is None else "role.update"
    target = f"role:{info.role.name}"
    _audit(ctx, request, actor, action, target, grants=[g.to_json() for g in grants])
    return role_public(info)


@router.post("/api/roles", response_model=RolePublic, status_code=status.HTTP_201_CREATED)
def create_role(body: RoleBody, request: Request, actor: ManageUser, ctx: ContextDep) -> RolePublic:
    """Add a custom role."""
    return _save_role(ctx, request, actor.username, None, body)


@router.put("/api/roles/{role_id}", response_model=RolePublic)
def replace_role(
    role_id: int, body: RoleBody, request: Request, actor: ManageUser, ctx: ContextDep
) -> RolePublic:
    """Replace a custom role (built-in roles cannot be changed)."""
    return _save_role(ctx, request, actor.username, role_id, body)


@router.delete("/api/roles/{role_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_role(role_id: int, request: Request, actor: ManageUser, ctx: ContextDep) -> Response:
    """Remove a custom role that nobody holds."""
    name = user_store.delete_role(ctx.db, role_id)
    _audit(ctx, request, actor.username, "role.delete", f"role:{name}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)

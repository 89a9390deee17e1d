"""Authentication and authorisation of every request: the one place that decides who is
calling (session cookie or API token) and what they may do (``require``).

Routes say what they need with a dependency, written once here::

    @router.get("/api/cameras/{camera_id}/live")
    def live(camera_id: int, user: Annotated[Principal, Depends(require(Permission.LIVE))]):
        ...

``require`` checks the permission on the camera named by the path's ``camera_id``; without
one, a global permission (manage, audit) must be held on all cameras, and a camera
permission on at least one (lists then filter with :func:`visible_cameras`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NoReturn

from fastapi import Depends, HTTPException, WebSocketException
from sqlalchemy import select
from starlette.requests import HTTPConnection

from vigil.api.deps import ServerContext
from vigil.domain.permissions import (
    GLOBAL_PERMISSIONS,
    Permission,
    RoleAssignment,
    Visible,
    cameras_visible,
    effective_permissions,
    global_permissions,
    permissions_anywhere,
)
from vigil.security import audit
from vigil.security.sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    SessionInfo,
    csrf_ok,
    lookup_session,
)
from vigil.security.tokens import TokenInfo, authenticate_token
from vigil.store import groups as group_store
from vigil.store import registers as register_store
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.models import Camera

# WebSocket close codes for refusals (HTTP status + 4000), sent before the socket opens.
WS_UNAUTHORISED = 4401
WS_FORBIDDEN = 4403

# Methods that change nothing: no CSRF token needed.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Paths that answer without authentication. Everything else under /api and /media will
# require a signed-in user once enforcement is switched on for every router; adding a
# path here is a decision that a test (walking the OpenAPI spec) makes visible.
PUBLIC_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/setup",
        "/api/auth/status",
        "/api/health",
        "/api/openapi.json",
        "/api/docs",
        "/api/docs/oauth2-redirect",
    }
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, through a session (browser) or an API token."""

    user_id: int
    username: str
    display_name: str | None
    roles: tuple[RoleAssignment, ...]
    via: Literal["session", "token"]
    session: SessionInfo | None = None
    token: TokenInfo | None = None

    def _limit(self, found: frozenset[Permission]) -> frozenset[Permission]:
        # A token acts for its user, never beyond the permissions it was limited to.
        if self.token is not None and self.token.scopes is not None:
            return found & self.token.scopes
        return found

    def global_permissions(self) -> frozenset[Permission]:
        """Permissions held on all cameras."""
        return self._limit(global_permissions(self.roles))

    def permissions_anywhere(self) -> frozenset[Permission]:
        """Permissions held on at least one camera."""
        return self._limit(permissions_anywhere(self.roles))

    def permissions_on(self, camera_id: int, groups: frozenset[int]) -> frozenset[Permission]:
        """Permissions on one camera (given its groups)."""
        return self._limit(effective_permissions(self.roles, camera_id, groups))

    @property
    def role_names(self) -> set[str]:
        """The names of the roles the user holds (a register's access names roles)."""
        return {assignment.role.name for assignment in self.roles}

    def visible(self, permission: Permission, camera_groups: dict[int, frozenset[int]]) -> Visible:
        """The cameras a list may show for a permission."""
        scopes = self.token.scopes if self.token is not None else None
        if scopes is not None and permission not in scopes:
            return Visible()
        return cameras_visible(self.roles, permission, camera_groups)


def _ctx(conn: HTTPConnection) -> ServerContext:
    ctx: ServerContext = conn.app.state.ctx
    return ctx


def client_address(conn: HTTPConnection) -> str | None:
    """The client's address as the server sees it (behind a proxy: uvicorn's
    ``--proxy-headers`` with ``--forwarded-allow-ips`` makes it the real one)."""
    return conn.client.host if conn.client else None


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _principal(db: Database, user_id: int, **via: object) -> Principal | None:
    user = user_store.get_user(db, user_id)
    if user is None or user.disabled:
        return None
    return Principal(
        user.id,
        user.username,
        user.display_name,
        user_store.assignments_of(db, user.id),
        **via,  # type: ignore[arg-type]
    )


def authenticate(conn: HTTPConnection) -> Principal | None:
    """Who is calling, or None; cached on the request. A state-changing request made with
    a session cookie must carry the CSRF token (403 otherwise); one with a bearer token
    needs none, since a browser never adds that header by itself."""
    cached: Principal | None = getattr(conn.state, "principal", None)
    if cached is not None:
        return cached
    ctx = _ctx(conn)
    principal: Principal | None = None
    if (presented := bearer(conn)) is not None:
        token = authenticate_token(ctx.db, presented)
        if token is not None:
            principal = _principal(ctx.db, token.user_id, via="token", token=token)
    elif (cookie := conn.cookies.get(SESSION_COOKIE)) is not None:
        session = lookup_session(ctx.db, cookie, policy=ctx.settings.auth)
        if session is not None:
            principal = _principal(ctx.db, session.user_id, via="session", session=session)
            method = conn.scope.get("method", "GET")
            if (
                principal is not None
                and conn.scope["type"] == "http"
                and method not in SAFE_METHODS
                and not csrf_ok(
                    session, conn.headers.get(CSRF_HEADER), conn.cookies.get(CSRF_COOKIE)
                )
            ):
                raise HTTPException(
                    403,
                    f"CSRF token missing or wrong: send the {CSRF_COOKIE} cookie's value in "
                    f"the {CSRF_HEADER} header",
                )
    conn.state.principal = principal
    return principal


def current_user(conn: HTTPConnection) -> Principal:
    """The signed-in caller; 401 when nobody is signed in (or the session expired)."""
    principal = authenticate(conn)
    if principal is None:
        raise HTTPException(
            401, "sign in first (session expired or missing)", {"WWW-Authenticate": "Bearer"}
        )
    return principal


# Marks a dependency as the route's access check; ``api/guard.py`` refuses to start a
# server with a route under /api that has none.
GUARD_ATTR = "vigil_guard"
setattr(current_user, GUARD_ATTR, "signed-in")

CurrentUser = Annotated[Principal, Depends(current_user)]


def all_camera_groups(db: Database) -> dict[int, frozenset[int]]:
    """Every camera id with the ids of its groups."""
    in_groups = group_store.groups_by_camera(db)
    with db.session() as s:
        ids = s.scalars(select(Camera.id)).all()
    return {c: frozenset(in_groups.get(c, ())) for c in ids}


def _deny(
    conn: HTTPConnection,
    user: Principal,
    permissions: tuple[Permission, ...],
    camera: int | None,
) -> NoReturn:
    ctx = _ctx(conn)
    needed = " or ".join(str(p) for p in permissions)
    audit.record(
        ctx.db,
        action="access.denied",
        outcome=audit.Outcome.DENIED,
        username=user.username,
        camera_id=camera,
        target=conn.url.path,
        address=client_address(conn),
        details={"permission": needed, "method": conn.scope.get("method", "WS")},
    )
    where = f" on camera {camera}" if camera is not None else ""
    if conn.scope["type"] == "websocket":
        raise WebSocketException(WS_FORBIDDEN, f"permission {needed} needed{where}")
    raise HTTPException(403, f"permission {needed} needed{where}")


def _admits(
    conn: HTTPConnection, user: Principal, permissions: tuple[Permission, ...]
) -> Literal[True] | int | None:
    """True when admitted; else the camera refused (None when the path names none)."""
    if not user.global_permissions().isdisjoint(permissions):
        return True  # held on all cameras
    on_camera = set(permissions) - GLOBAL_PERMISSIONS
    raw = conn.path_params.get("camera_id")
    if raw is None:
        return True if on_camera and not user.permissions_anywhere().isdisjoint(on_camera) else None
    try:
        camera_id = int(raw)
    except (TypeError, ValueError):
        raise HTTPException(422, f"camera id {raw!r} is not a number") from None
    held = user.permissions_on(camera_id, group_store.groups_of_camera(_ctx(conn).db, camera_id))
    return True if not held.isdisjoint(on_camera) else camera_id


def require(*permissions: Permission) -> Callable[[HTTPConnection, Principal], Principal]:
    """A dependency that admits callers holding any of ``permissions``: on the path's camera
    when the path has ``{camera_id}``; else on all cameras for a global permission, on at
    least one camera for the others. Refusals answer 403 and are audited."""
    if not permissions:
        raise ValueError("require() needs at least one permission")

    def dependency(conn: HTTPConnection, user: CurrentUser) -> Principal:
        admitted = _admits(conn, user, permissions)
        if admitted is not True:
            _deny(conn, user, permissions, admitted if isinstance(admitted, int) else None)
        return user

    dependency.__name__ = "require_" + "_or_".join(permissions)
    setattr(dependency, GUARD_ATTR, " or ".join(permissions))
    return dependency


def holds(conn: HTTPConnection, user: Principal, permission: Permission, camera_id: int) -> bool:
    """Whether the caller holds a permission on one camera (e.g. unmask, for privacy masks)."""
    return permission in user.permissions_on(
        camera_id, group_store.groups_of_camera(_ctx(conn).db, camera_id)
    )


def ensure_camera(
    conn: HTTPConnection, user: Principal, camera_id: int | None, *permissions: Permission
) -> None:
    """Refuse (403, audited) a caller holding none of ``permissions`` on the camera an object
    belongs to (an alarm's, an event's, a bookmark's). Objects of no camera need the
    permission on some camera, which ``require`` has checked already."""
    if camera_id is None:
        return
    held = user.permissions_on(camera_id, group_store.groups_of_camera(_ctx(conn).db, camera_id))
    if held.isdisjoint(permissions):
        _deny(conn, user, permissions, camera_id)


def visible_cameras(conn: HTTPConnection, user: Principal, *permissions: Permission) -> Visible:
    """The cameras a list may show this caller for any of ``permissions`` (``Visible.all``
    when no filtering is needed), and the registers whose hits it must leave out. Filter
    with ``camera_id in visible``, or ``visible.shows(camera_id, register_id)``."""
    db = _ctx(conn).db
    hidden = register_store.hidden_registers(db, user.role_names)
    if user.token is None and not set(permissions).isdisjoint(global_permissions(user.roles)):
        return Visible(all=True, hidden_registers=hidden)
    groups = all_camera_groups(db)
    found = [user.visible(p, groups) for p in permissions]
    if any(v.all for v in found):
        return Visible(all=True, hidden_registers=hidden)
    cameras = frozenset().union(*(v.camera_ids for v in found))
    return Visible(camera_ids=cameras, hidden_registers=hidden)


def ensure_alerted(conn: HTTPConnection, user: Principal, register_id: int | None) -> None:
    """404 for a hit on a register whose access alerts other roles than the caller's, as
    for one that does not exist (its existence is not the caller's to know either)."""
    if register_id is not None and register_id in register_store.hidden_registers(
        _ctx(conn).db, user.role_names
    ):
        raise HTTPException(404, "not found")


def visible_for(*permissions: Permission) -> Callable[[HTTPConnection, Principal], Visible]:
    """A dependency giving :func:`visible_cameras` for permissions, after ``require``."""

    def dependency(conn: HTTPConnection, user: Principal) -> Visible:
        return visible_cameras(conn, user, *permissions)

    # Set as an object, not a string: FastAPI cannot resolve a closure's names.
    dependency.__annotations__["user"] = Annotated[Principal, Depends(require(*permissions))]
    setattr(dependency, GUARD_ATTR, " or ".join(permissions))
    return dependency


# Any of these on a camera lets a user see that the camera exists (lists, its settings).
CAMERA_ACCESS = (
    Permission.LIVE,
    Permission.PLAYBACK,
    Permission.EXPORT,
    Permission.PTZ,
    Permission.SEARCH,
    Permission.ALARMS,
    Permission.MANAGE,
)


ManageUser = Annotated[Principal, Depends(require(Permission.MANAGE))]
AuditUser = Annotated[Principal, Depends(require(Permission.AUDIT))]


def audit_action(
    conn: HTTPConnection,
    user: Principal | None,
    action: str,
    *,
    camera_id: int | None = None,
    target: str | None = None,
    outcome: audit.Outcome = audit.Outcome.SUCCESS,
    **details: Any,
) -> None:
    """Record what a caller did (a view, an export, a configuration change) in the audit
    trail, with their name and address."""
    audit.record(
        _ctx(conn).db,
        action=action,
        outcome=outcome,
        username=user.username if user is not None else None,
        camera_id=camera_id,
        target=target,
        address=client_address(conn),
        details=details or None,
    )

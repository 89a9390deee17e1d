"""No way around authentication: every request under ``/api`` and ``/metrics`` (HTTP and
WebSocket) is authenticated before routing, and every route must declare its access check.

Two layers, so that a route added later cannot skip the checks:

- :class:`AuthGate`, an ASGI middleware, answers 401 to anyone not signed in (an expired
  session cannot open a WebSocket either) before any route runs; only
  :data:`~vigil.api.auth.PUBLIC_PATHS` pass. Internal paths (the bus hub) take the
  installation's service token instead of a user.
- :func:`check_routes_guarded` runs when the app is built and refuses to start a server
  with a route that declares no ``require(...)`` or ``CurrentUser`` dependency, since the
  gate alone knows who is calling, not what they may do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.api.auth import (
    GUARD_ATTR,
    PUBLIC_PATHS,
    WS_FORBIDDEN,
    WS_UNAUTHORISED,
    authenticate,
    bearer,
)
from vigil.security.service_token import is_service_token

GUARDED_PREFIXES = ("/api/", "/metrics")
INTERNAL_PREFIX = "/api/internal/"


def is_public(path: str) -> bool:
    """Paths that answer without signing in: the web client's files, login, health."""
    return path in PUBLIC_PATHS or not path.startswith(GUARDED_PREFIXES)


class AuthGate:
    """Refuses unauthenticated requests to guarded paths before they reach a route."""

    def __init__(self, app: ASGIApp, *, data_dir: Path) -> None:
        self.app = app
        self.data_dir = data_dir

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        refusal = await self._refusal(conn)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            code = WS_UNAUTHORISED if refusal[0] == 401 else WS_FORBIDDEN
            await send({"type": "websocket.close", "code": code, "reason": refusal[1]})
        else:
            await _send_json(send, refusal[0], refusal[1])

    async def _refusal(self, conn: HTTPConnection) -> tuple[int, str] | None:
        if conn.url.path.startswith(INTERNAL_PREFIX):
            if is_service_token(bearer(conn), self.data_dir):
                return None
            return 401, "internal path: the installation's service token is required"
        try:
            principal = await run_in_threadpool(authenticate, conn)
        except HTTPException as exc:  # a session request without its CSRF token
            return exc.status_code, str(exc.detail)
        if principal is None:
            return 401, "sign in first (session expired or missing)"
        if conn.scope["type"] == "websocket" and principal.via == "session":
            # A browser sends cookies on cross-site WebSockets too: refuse other origins.
            origin = conn.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != conn.headers.get("host"):
                return 403, f"WebSocket from another origin ({origin}) refused"
        return None


class ServiceGate:
    """The recorder's media API answers only its installation (the server's live relay and
    snapshot requests carry the service token); ``/media/health`` stays open for probes."""

    def __init__(self, app: ASGIApp, *, data_dir: Path, public: frozenset[str]) -> None:
        self.app = app
        self.data_dir = data_dir
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        if is_service_token(bearer(HTTPConnection(scope)), self.data_dir):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WS_UNAUTHORISED, "reason": SERVICE_ONLY})
        else:
            await _send_json(send, 401, SERVICE_ONLY)


SERVICE_ONLY = "the installation's service token is required (recorder media API)"


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def route_guard(route: APIRoute | APIWebSocketRoute) -> str | None:
    """The access check a route declares (a permission name or "signed-in"), if any."""
    for call in _calls(route.dependant):
        if (guard := getattr(call, GUARD_ATTR, None)) is not None:
            return str(guard)
    return None


def check_routes_guarded(routers: Iterable[APIRouter]) -> None:
    """Refuse to build a server with an unguarded route under a guarded prefix.

    Raises:
        RuntimeError: naming each route without an access check.
    """
    missing = [
        route.path
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute | APIWebSocketRoute)
        and not is_public(route.path)
        and not route.path.startswith(INTERNAL_PREFIX)
        and route_guard(route) is None
    ]
    if missing:
        raise RuntimeError(
            "routes without an access check (add require(Permission...) or CurrentUser): "
            + ", ".join(sorted(missing))
        )

"""Security headers on every HTTP response of the server and the recorder's media API.

A pure ASGI middleware (no response buffering, so video streams pass straight through):

- ``Content-Security-Policy``: the web client loads only its own scripts and styles (no
  inline code anywhere), plays ``blob:`` media (Media Source Extensions), shows ``data:``
  and ``blob:`` images (favicon, snapshots) and connects only to its own origin, WebSockets
  included; it cannot be framed, and it sets no ``<base>``. The API docs page, which loads
  Swagger UI from its CDN and has one inline script, gets a policy naming just those (the
  script by hash).
- ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy``,
  ``Permissions-Policy``, ``Cross-Origin-Opener-Policy`` and ``-Resource-Policy``.
- ``Strict-Transport-Security`` only over HTTPS (a browser ignores it over a connection
  whose certificate it did not trust, so a generated certificate locks no one out), and
  not for ``localhost``.
- ``Cache-Control: no-store`` on ``/api`` and ``/media`` responses that set none: they are
  personal or live, and must not stay in shared or disk caches. ``/static`` keeps caching.

A header a route sets itself is left as it is.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The web client: check src/vigil/web/static before widening (no inline scripts, styles or
# handlers there; element.style from script is CSSOM, which 'self' styles allow).
APP_POLICY = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",  # the Web Push service worker
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
)
# FastAPI's Swagger UI page: its assets come from this CDN, the logo from FastAPI's site.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (
    "default-src 'none'",
    f"style-src 'self' {DOCS_CDN}",
    "img-src 'self' data: https://fastapi.tiangolo.com",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
)
DOCS_PATHS = frozenset({"/api/docs", "/api/docs/oauth2-redirect"})
NO_STORE_PREFIXES = ("/api/", "/media/")
HSTS = "max-age=31536000"
# Features the client never uses are off; autoplay and fullscreen stay for live video.
PERMISSIONS_POLICY = ", ".join(
    (
        "camera=()",
        "microphone=()",
        "geolocation=()",
        "payment=()",
        "usb=()",
        "serial=()",
        "hid=()",
        "midi=()",
        "display-capture=()",
        "autoplay=(self)",
        "fullscreen=(self)",
    )
)
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
# What a Host header may hold to be named in connect-src (anything else: 'self' only).
HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
INLINE_SCRIPT_RE = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def _host(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            return host if HOST_RE.match(host) else None
    return None


def hsts_applies(scope: Scope) -> bool:
    """HSTS over HTTPS, except for ``localhost``: browsers keep it for that name on every
    port, so a trusted local HTTPS server would break a plain-HTTP demo on localhost later.
    (They ignore it for IP addresses anyway.)"""
    if scope.get("scheme") != "https":
        return False
    host = _host(scope) or ""
    name = host if host.startswith("[") else host.rsplit(":", 1)[0].lower()
    return not (name == "localhost" or name.endswith(".localhost"))


def app_policy(scope: Scope) -> str:
    """The web client's CSP for one request: its own origin, and its WebSocket form
    (``'self'`` covers ws/wss only in recent browsers, so it is named as well)."""
    connect = "connect-src 'self'"
    if (host := _host(scope)) is not None:
        connect += f" {'wss' if scope.get('scheme') == 'https' else 'ws'}://{host}"
    return "; ".join((*APP_POLICY, connect))


def docs_policy(body: bytes) -> str:
    """The API docs page's CSP: its CDN, and its inline scripts by SHA-256 hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT_RE.findall(body)
    )
    return "; ".join((*DOCS_POLICY, f"script-src 'self' {DOCS_CDN} {hashes}".rstrip()))


def _add(headers: MutableHeaders, pairs: Iterable[tuple[str, str]]) -> None:
    for name, value in pairs:
        if name not in headers:
            headers[name] = value


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        hsts = hsts_applies(scope)
        if path in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                _add(headers, COMMON_HEADERS)
                _add(headers, [("Content-Security-Policy", app_policy(scope))])
                if hsts:
                    _add(headers, [("Strict-Transport-Security", HSTS)])
                if path.startswith(NO_STORE_PREFIXES):
                    _add(headers, [("Cache-Control", "no-store")])
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The docs page is small and never streamed: hold it to hash its inline scripts."""
        start: Message | None = None
        body = b""

        async def hold(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body", False):
                return
            headers = MutableHeaders(scope=start)
            _add(headers, COMMON_HEADERS)
            _add(headers, [("Content-Security-Policy", docs_policy(body))])
            if hsts_applies(scope):
                _add(headers, [("Strict-Transport-Security", HSTS)])
            _add(headers, [("Cache-Control", "no-store")])
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, hold)

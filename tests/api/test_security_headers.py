"""Security headers on the server's and the recorder's responses, and the web client
working under its Content-Security-Policy in a real browser (over HTTPS)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.api.test_tls import TlsStack
from tests.conftest import ADMIN_PASSWORD, wait_until
from vigil.api.app import WEB_DIR, create_app
from vigil.api.recorder_app import create_recorder_app
from vigil.api.security_headers import SecurityHeaders
from vigil.config import RecorderSettings, Settings
from vigil.devices.simulator import Simulator
from vigil.security import bootstrap
from vigil.store.db import Database

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def csp(value: str) -> dict[str, list[str]]:
    """A policy as {directive: sources}."""
    directives = (d.strip().split() for d in value.split(";") if d.strip())
    return {d[0]: d[1:] for d in directives}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as c:
        yield c


def test_web_client_page_has_a_strict_policy(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    for name, value in COMMON.items():
        assert r.headers[name] == value
    assert "camera=()" in r.headers["permissions-policy"]
    policy = csp(r.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["media-src"] == ["'self'", "blob:"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["connect-src"] == ["'self'", "ws://testserver"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert "unsafe" not in r.headers["content-security-policy"]
    # Plain HTTP: no HSTS; the page itself may be cached (it is the same for everyone).
    assert "strict-transport-security" not in r.headers
    assert r.headers.get("cache-control") != "no-store"


def test_static_files_keep_caching_and_api_answers_are_not_stored(client: TestClient) -> None:
    static = client.get("/static/js/app.js")
    assert static.status_code == 200 and "content-security-policy" in static.headers
    assert static.headers.get("cache-control") != "no-store"
    health = client.get("/api/health")
    assert health.status_code == 200 and health.headers["cache-control"] == "no-store"
    assert health.headers["x-content-type-options"] == "nosniff"
    # The auth gate's refusal carries them too (the headers wrap everything).
    refused = client.get("/api/cameras")
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-frame-options"] == "DENY"


def test_https_adds_hsts_and_wss(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path)), base_url="https://vigil.lan") as c:
        r = c.get("/")
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    assert csp(r.headers["content-security-policy"])["connect-src"] == [
        "'self'",
        "wss://vigil.lan",
    ]


def test_no_hsts_for_localhost(tmp_path: Path) -> None:
    """Browsers would keep it for localhost on every port, plain-HTTP demos included."""
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app, base_url="https://localhost:8443") as c:
        assert "strict-transport-security" not in c.get("/").headers
    with TestClient(app, base_url="https://[::1]:8443") as c:
        assert "strict-transport-security" in c.get("/").headers


def test_a_strange_host_header_is_not_written_into_the_policy(client: TestClient) -> None:
    r = client.get("/", headers={"host": "evil.example; script-src *"})
    assert csp(r.headers["content-security-policy"])["connect-src"] == ["'self'"]
    assert csp(r.headers["content-security-policy"])["script-src"] == ["'self'"]


def test_api_docs_allow_their_inline_script_by_hash_only(client: TestClient) -> None:
    r = client.get("/api/docs")
    assert r.status_code == 200
    inline = re.findall(rb"<script>(.*?)</script>", r.content, re.DOTALL)
    assert inline, "Swagger UI's page has an inline script"
    digest = base64.b64encode(hashlib.sha256(inline[0]).digest()).decode()
    policy = csp(r.headers["content-security-policy"])
    assert f"'sha256-{digest}'" in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert r.headers["x-frame-options"] == "DENY"


def test_headers_a_route_sets_itself_are_kept() -> None:
    def cached(_: object) -> PlainTextResponse:
        headers = {"Cache-Control": "max-age=60", "X-Frame-Options": "SAMEORIGIN"}
        return PlainTextResponse("x", headers=headers)

    app = Starlette(routes=[Route("/api/cached", cached)])
    app.add_middleware(SecurityHeaders)
    with TestClient(app) as c:
        r = c.get("/api/cached")
    assert r.headers["cache-control"] == "max-age=60"
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_recorder_media_api_has_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, recorder=RecorderSettings(reconnect_max_s=1))
    with TestClient(create_recorder_app(settings)) as c:
        r = c.get("/media/health")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    for name, value in COMMON.items():
        assert r.headers[name] == value


def test_web_client_source_needs_nothing_the_policy_forbids() -> None:
    """What a strict CSP blocks, looked for in the client's files (the browser test below
    proves it in Chromium; this one also runs where Chromium is missing)."""
    html = (WEB_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"<style\b", html), "inline <style>"
    assert not re.search(r"\s(on[a-z]+|style)\s*=", html), "inline handler or style"
    for js in sorted(WEB_DIR.rglob("*.js")):
        text = js.read_text()
        if "vendor" in js.parts:  # a published library: its doc comments show examples
            text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
        for pattern in (r"\beval\(", r"new Function\(", r"setAttribute\(\s*['\"]style"):
            assert not re.search(pattern, text), f"{js.name}: {pattern}"
        assert not re.search(r"innerHTML\s*=.*(<script|\son[a-z]+=|style=)", text), js.name


# In a real browser -------------------------------------------------------------------------
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'}`);
});
"""
VIEWS = (
    "#/cameras",
    "#/camera/{id}",
    "#/camera/{id}/analytics",
    "#/alarms",
    "#/rules",
    "#/search",
    "#/map",
)


@pytest.mark.browser
def test_web_client_runs_under_its_policy_over_https(tmp_path: Path, simulator: Simulator) -> None:
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT

    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required under CI=true")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    stack = TlsStack(tmp_path / "data")
    stack.data_dir.mkdir(parents=True)
    try:
        stack.start_server()
        stack.start_recorder()
        camera = stack.add_camera("pattern", simulator.urls["pattern"])
        stack.wait_status(camera["id"], "online")
        db = Database(stack.db_url)
        try:
            bootstrap.create_admin(db, username="operator1", password=ADMIN_PASSWORD)
        finally:
            db.dispose()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            # The generated certificate is not in Chromium's store: accept it for this test.
            context = browser.new_context(
                base_url=stack.url, viewport=VIEWPORT, ignore_https_errors=True
            )
            context.add_init_script(CSP_WATCH)
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto("/")  # signed out: the sign-in page
            page.wait_for_load_state("networkidle")
            login = {"username": "operator1", "password": ADMIN_PASSWORD}
            assert context.request.post("/api/auth/login", data=login).ok

            page.goto("/#/grid")
            page.reload()  # only the hash changed: load the client again, signed in
            # Live video: the WebSocket (wss, connect-src) into MSE (blob:, media-src).
            page.wait_for_function(
                "() => [...document.querySelectorAll('video')]"
                ".some((v) => v.getVideoPlaybackQuality().totalVideoFrames > 0)",
                timeout=30_000,
            )
            page.wait_for_selector("[data-testid=events-status][data-connected=true]")
            for view in VIEWS:
                page.goto(f"/{view.format(id=camera['id'])}")
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(700)
            violations = page.evaluate("() => window.__cspViolations")
            csp_console = [m for m in console if "Content Security Policy" in m]
            # The watch itself works: an injected inline script is refused and reported.
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.__ran = 1'; document.head.append(s); }"
            )
            wait_until(
                lambda: bool(page.evaluate("() => window.__cspViolations.length")),
                5,
                "the injected inline script reported",
            )
            assert page.evaluate("() => window.__ran") is None
            context.close()
            browser.close()
        assert violations == [] and csp_console == [], (violations, csp_console)
        assert errors == [], errors
    finally:
        stack.stop()

"""Signing in, sessions ending, and pages that follow the user's permissions (an operator's
cameras, the administrator's users and tokens, the auditor's trail), in Chromium against a
running Vigil server."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ADMIN_PASSWORD, Stack
from tests.web.conftest import open_page
from vigil.security import audit
from vigil.security.sessions import revoke_user_sessions
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.types import utcnow

pytestmark = pytest.mark.browser

PASSWORD = "olga's own long passphrase 3"
# What the live players and the event stream do when their WebSocket closes.
SOCKET_CLOSED_JS = """async ({ code, opened }) => {
  const { socketClosed } = await import('/static/js/api.js');
  socketClosed(new CloseEvent('close', { code }), opened);
}"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A server alone (nothing here plays video), locking a user after two failures."""
    s = Stack(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'data' / 'vigil.db'}",
        env={"VIGIL_AUTH__FREE_ATTEMPTS": "1", "VIGIL_AUTH__LOCKOUT_AFTER": "2"},
    )
    s.data_dir.mkdir(parents=True)
    s.start_server()
    yield s
    s.stop()


def create_user(stack: Stack, username: str, roles: list[dict[str, Any]]) -> dict[str, Any]:
    r = stack.client.post(
        "/api/users", json={"username": username, "password": PASSWORD, "roles": roles}
    )
    assert r.status_code == 201, r.text
    user: dict[str, Any] = r.json()
    return user


def login_form(page: Page, username: str, password: str) -> None:
    form = page.get_by_test_id("login-form")
    form.get_by_test_id("login-username").fill(username)
    form.get_by_test_id("login-password").fill(password)
    form.get_by_test_id("login-submit").click()


def test_wrong_password_and_lockout_are_told_then_the_right_one_opens_the_page_asked_for(
    anonymous_page: Page, stack: Stack
) -> None:
    page = anonymous_page
    create_user(stack, "olga", [{"role": "operator", "scope": {"all": True}}])
    page.goto("/#/cameras")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("login-totp")).to_be_hidden()
    error = page.get_by_test_id("signin-error")

    login_form(page, "olga", "not her password")
    expect(error).to_have_text("wrong username, password or code")
    expect(page.get_by_test_id("login-password")).to_have_value("")
    # The second failure locks her (two allowed here): the server's words, with the wait.
    login_form(page, "olga", "still not it")
    expect(error).to_have_text("wrong username, password or code")
    login_form(page, "olga", PASSWORD)
    locked = re.compile(r"^too many failed sign-ins: locked, try again in \d+ s$")
    expect(error).to_have_text(locked)

    login_form(page, "admin", ADMIN_PASSWORD)
    expect(page.get_by_test_id("camera-table")).to_be_visible()
    assert page.url.endswith("#/cameras"), page.url
    expect(page.get_by_test_id("user-menu-button")).to_contain_text("admin")
    expect(page.get_by_test_id("nav-cameras")).to_have_class("active")


def test_a_session_that_ends_returns_to_the_sign_in_form_and_then_to_the_same_page(
    page: Page, stack: Stack
) -> None:
    stack.add_camera("Gate", "rtsp://127.0.0.1:9/gate")
    page.goto("/#/cameras")
    expect(page.get_by_test_id("camera-row")).to_have_count(1)

    # Ended on the server (an administrator disabled the account, a password change...):
    # the next request answers 401 and the page asks to sign in again, keeping its place.
    db = Database(stack.db_url)
    try:
        admin = next(u for u in user_store.list_users(db) if u.username == "admin")
        assert revoke_user_sessions(db, admin.id) >= 1
    finally:
        db.dispose()
    expect(page.get_by_test_id("login-form")).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("signin-notice")).to_contain_text("session has ended")
    expect(page.locator("header.topbar")).to_be_hidden()
    assert page.url.endswith("#/cameras"), page.url

    login_form(page, "admin", ADMIN_PASSWORD)
    expect(page.get_by_test_id("camera-row")).to_have_count(1)
    assert page.url.endswith("#/cameras"), page.url

    # Sockets: a browser sees no close code for a socket refused before it opened (1006), so
    # the page asks the server whether the session holds (here it does: it stays)...
    with page.expect_response("**/api/auth/me") as checked:
        page.evaluate(SOCKET_CLOSED_JS, {"code": 1006, "opened": False})
    assert checked.value.status == 200
    expect(page.get_by_test_id("camera-row")).to_have_count(1)
    # ... while 4401 from an open socket means the session is over.
    page.evaluate(SOCKET_CLOSED_JS, {"code": 4401, "opened": True})
    expect(page.get_by_test_id("login-form")).to_be_visible()
    login_form(page, "admin", ADMIN_PASSWORD)
    expect(page.get_by_test_id("camera-row")).to_have_count(1)

    # Changes carry the CSRF header of the new session: disabling the camera works.
    page.get_by_test_id("toggle-camera").click()
    expect(page.get_by_test_id("camera-row")).to_have_attribute("data-status", "disabled")


def test_an_operator_of_one_camera_sees_only_that_camera_and_only_their_pages(
    browser: Browser, stack: Stack
) -> None:
    gate = stack.add_camera("Gate", "rtsp://127.0.0.1:9/gate")
    stack.add_camera("Yard", "rtsp://127.0.0.1:9/yard")
    create_user(stack, "olga", [{"role": "operator", "scope": {"cameras": [gate["id"]]}}])

    with open_page(browser, stack, user=("olga", PASSWORD)) as page:
        page.goto("/")
        expect(page).to_have_url(re.compile(r"#/grid$"))  # her start page: the live grid
        tiles = page.get_by_test_id("tile")
        expect(tiles).to_have_count(1)
        expect(tiles.get_by_test_id("tile-name")).to_have_text("Gate")
        expect(page.get_by_test_id("summary")).to_have_text(re.compile(r"/1 online$"))
        for shown in ("nav-grid", "nav-cameras", "nav-alarms", "nav-rules", "nav-search"):
            expect(page.get_by_test_id(shown)).to_be_visible()
        for hidden in ("nav-admin", "nav-audit"):
            expect(page.get_by_test_id(hidden)).to_be_hidden()

        page.get_by_test_id("nav-cameras").click()
        rows = page.get_by_test_id("camera-row")
        expect(rows).to_have_count(1)
        expect(rows.get_by_test_id("camera-name")).to_have_text("Gate")
        expect(rows.get_by_test_id("view-camera")).to_be_visible()
        for absent in ("edit-camera", "remove-camera", "toggle-camera", "camera-analytics"):
            expect(rows.get_by_test_id(absent)).to_have_count(0)
        expect(page.get_by_test_id("add-camera")).to_have_count(0)

        # Her camera: live and recordings, but no export and no configuration.
        rows.get_by_test_id("view-camera").click()
        expect(page.get_by_test_id("camera-view")).to_be_visible()
        expect(page.get_by_test_id("live-button")).to_be_visible()
        expect(page.get_by_test_id("export-form")).to_be_hidden()
        expect(page.get_by_test_id("analytics-link")).to_have_count(0)

        # Pages beyond her role say so instead of failing request by request.
        page.goto("/#/admin/users")
        expect(page.get_by_test_id("forbidden")).to_contain_text("manage")
        page.goto("/#/rules")
        expect(page.get_by_test_id("rules-view")).to_be_visible()
        expect(page.get_by_test_id("add-rule")).to_have_count(0)
        expect(page.get_by_test_id("rules-error")).to_be_hidden()

        page.get_by_test_id("user-menu-button").click()
        expect(page.get_by_test_id("user-roles")).to_have_text("operator")


def test_administrator_creates_a_user_unlocks_them_and_issues_a_token_shown_once(
    page: Page, stack: Stack
) -> None:
    gate = stack.add_camera("Gate", "rtsp://127.0.0.1:9/gate")
    stack.add_camera("Yard", "rtsp://127.0.0.1:9/yard")
    page.goto("/#/admin/users")
    expect(page.get_by_test_id("user-row")).to_have_count(1)  # the administrator

    page.get_by_test_id("add-user").click()
    form = page.get_by_test_id("user-form")
    form.get_by_test_id("field-username").fill("olga")
    form.get_by_test_id("field-display_name").fill("Olga Petrova")
    form.get_by_test_id("field-password").fill("short")
    assignment = form.get_by_test_id("assignment")
    expect(assignment.get_by_test_id("assignment-role")).to_have_value("operator")
    assignment.get_by_test_id("assignment-scope-kind").select_option("listed")
    assignment.get_by_test_id("assignment-scope-cameras").locator(
        f'[data-value="{gate["id"]}"] input'
    ).check()
    form.get_by_test_id("save-user").click()
    # The password policy speaks next to the field; nothing is created.
    expect(form.get_by_test_id("error-password")).to_contain_text("at least")
    form.get_by_test_id("field-password").fill(PASSWORD)
    form.get_by_test_id("save-user").click()
    expect(form).to_have_count(0)

    row = page.locator('[data-testid="user-row"][data-username="olga"]')
    expect(row.get_by_test_id("user-roles")).to_have_text("operator (Gate)")
    users = {u["username"]: u for u in stack.client.get("/api/users").json()}
    scope = {"all": False, "assigned": False, "groups": [], "cameras": [gate["id"]]}
    assert users["olga"]["roles"] == [{"role": "operator", "scope": scope}]

    # Locked out by failed sign-ins: the page shows it and lifts it.
    with httpx.Client(base_url=stack.url) as anonymous:
        for _ in range(2):
            anonymous.post("/api/auth/login", json={"username": "olga", "password": "wrong one"})
        locked = anonymous.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
        assert locked.status_code == 429, locked.text
        page.reload()
        expect(row.get_by_test_id("user-locked")).to_be_visible()
        row.get_by_test_id("unlock-user").click()
        expect(row.get_by_test_id("user-locked")).to_have_count(0)
        signed = anonymous.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
        assert signed.status_code == 200, signed.text

    # A token for her, limited to live view and expiring; its secret is shown this once.
    page.get_by_test_id("admin-tab-tokens").click()
    tokens = page.get_by_test_id("token-form")
    tokens.get_by_test_id("field-token-name").fill("door controller")
    tokens.get_by_test_id("field-token-user").select_option(label="olga")
    tokens.get_by_test_id("token-scopes").locator('[data-value="live"] input').check()
    expiry = (utcnow() + timedelta(days=30)).astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    tokens.get_by_test_id("field-token-expires").fill(expiry)
    tokens.get_by_test_id("create-token").click()
    secret = page.get_by_test_id("new-token-value")
    expect(secret).to_have_text(re.compile(r"^vgl_"))
    token = secret.inner_text()
    line = page.locator('[data-testid="token-row"][data-name="door controller"]')
    expect(line).to_have_attribute("data-state", "active")
    expect(line).to_contain_text("olga")
    assert token not in page.get_by_test_id("token-table").inner_text()

    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}) as client:
        assert [c["name"] for c in client.get("/api/cameras").json()] == ["Gate"]
        assert client.get("/api/users").status_code == 403
        page.get_by_test_id("dismiss-token").click()
        expect(secret).to_have_count(0)
        line.get_by_test_id("revoke-token").click()
        page.get_by_test_id("confirm-ok").click()
        expect(line).to_have_attribute("data-state", "revoked")
        assert client.get("/api/cameras").status_code == 401


def test_password_change_and_second_factor_from_the_user_menu(page: Page, stack: Stack) -> None:
    new_password = "a brand new admin passphrase 9"
    page.goto("/#/cameras")
    menu = page.get_by_test_id("user-menu")

    # Change the password: a wrong current one is named; then every session ends.
    page.get_by_test_id("user-menu-button").click()
    menu.get_by_test_id("menu-password").click()
    dialog = page.get_by_test_id("password-dialog")
    dialog.get_by_test_id("field-current_password").fill("not the password")
    dialog.get_by_test_id("field-new_password").fill(new_password)
    dialog.get_by_test_id("field-confirm").fill(new_password)
    dialog.get_by_test_id("password-save").click()
    expect(dialog.get_by_test_id("error-current_password")).to_contain_text("wrong")
    dialog.get_by_test_id("field-current_password").fill(ADMIN_PASSWORD)
    dialog.get_by_test_id("password-save").click()
    expect(page.get_by_test_id("signin-notice")).to_contain_text("Password changed")
    login_form(page, "admin", new_password)
    expect(page.get_by_test_id("camera-table")).to_be_visible()

    # Second factor: the secret and its otpauth URI as text, switched on by a first code.
    page.get_by_test_id("user-menu-button").click()
    menu.get_by_test_id("menu-totp").click()
    totp = page.get_by_test_id("totp-dialog")
    totp.get_by_test_id("totp-start").click()
    secret = totp.get_by_test_id("totp-secret").inner_text()
    expect(totp.get_by_test_id("totp-uri")).to_have_text(
        re.compile(rf"^otpauth://totp/Vigil:admin\?secret={secret}")
    )
    totp.get_by_test_id("totp-code").fill("000000")
    totp.get_by_test_id("totp-confirm").click()
    expect(totp.get_by_test_id("error-code")).to_contain_text("wrong code")
    generator = pyotp.TOTP(secret)
    totp.get_by_test_id("totp-code").fill(generator.now())
    totp.get_by_test_id("totp-confirm").click()
    expect(totp).to_have_count(0)
    page.get_by_test_id("user-menu-button").click()
    expect(menu.get_by_test_id("menu-totp")).to_have_text("Two-factor sign-in: on")

    # Signing in again now asks for the code after the password.
    menu.get_by_test_id("menu-signout").click()
    expect(page.get_by_test_id("signin-notice")).to_have_text("You are signed out.")
    login_form(page, "admin", new_password)
    expect(page.get_by_test_id("signin-error")).to_contain_text("authenticator code")
    code = page.get_by_test_id("login-totp")
    expect(code).to_be_visible()
    # The code of the next time step: the one used to switch it on cannot be replayed.
    code.fill(generator.at(utcnow() + timedelta(seconds=30)))
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("camera-table")).to_be_visible()


def test_auditor_pages_filters_exports_and_verifies_the_audit_trail(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    create_user(stack, "audrey", [{"role": "auditor"}])
    with httpx.Client(base_url=stack.url) as anonymous:
        r = anonymous.post("/api/auth/login", json={"username": "mallory", "password": "guess"})
        assert r.status_code == 401
    db = Database(stack.db_url)
    try:
        for n in range(55):
            audit.record(db, action="test.entry", username="script", details={"n": n})
    finally:
        db.dispose()

    with open_page(browser, stack, user=("audrey", PASSWORD)) as page:
        page.goto("/")
        expect(page).to_have_url(re.compile(r"#/audit$"))  # the only page of her role
        expect(page.get_by_test_id("nav-audit")).to_be_visible()
        for hidden in ("nav-grid", "nav-cameras", "nav-alarms", "nav-rules", "nav-admin"):
            expect(page.get_by_test_id(hidden)).to_be_hidden()
        expect(page.get_by_test_id("summary")).to_be_hidden()
        expect(page.get_by_test_id("audit-row").first).to_be_visible()

        # Pages of 50, newest first; the filters and the page are kept in the address.
        page.get_by_test_id("audit-action").fill("test.")
        page.get_by_test_id("audit-apply").click()
        expect(page.get_by_test_id("audit-range")).to_have_text("1\u201350 of 55 entries")
        rows = page.get_by_test_id("audit-row")
        expect(rows).to_have_count(50)
        expect(rows.first.locator("td").last).to_have_text("n=54")
        expect(page.get_by_test_id("audit-prev")).to_be_disabled()
        page.get_by_test_id("audit-next").click()
        expect(page.get_by_test_id("audit-range")).to_have_text("51\u201355 of 55 entries")
        expect(rows).to_have_count(5)
        expect(page.get_by_test_id("audit-next")).to_be_disabled()
        assert page.url.endswith("#/audit?action=test.&page=1"), page.url

        # The failed sign-in, by action prefix and outcome.
        page.get_by_test_id("audit-action").fill("auth.")
        page.get_by_test_id("audit-outcome").select_option("failure")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-action", "auth.login")
        expect(rows.first.locator('[data-field="username"]')).to_have_text("mallory")

        # The CSV holds what the filters select.
        with page.expect_download() as download_info:
            page.get_by_test_id("audit-export").click()
        path = tmp_path / "audit.csv"
        download_info.value.save_as(path)
        table = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert [(e["username"], e["action"], e["outcome"]) for e in table] == [
            ("mallory", "auth.login", "failure")
        ]

        page.get_by_test_id("audit-verify").click()
        verdict = page.get_by_test_id("audit-verify-result")
        expect(verdict).to_have_attribute("data-ok", "true")
        expect(verdict).to_contain_text("Chain intact")

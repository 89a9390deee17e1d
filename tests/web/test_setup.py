"""First run in the browser: no user exists, the first administrator is created through the
setup form with the token the server printed, and the application opens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack, wait_until
from vigil.store import users as user_store
from vigil.store.db import Database

pytestmark = pytest.mark.browser

SETUP_TOKEN = re.compile(r"setup token (\S+), or run")
PASSWORD = "a long and proper passphrase 7"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A server on an installation without any user (no recorder: setup needs none)."""
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    # Stack makes an administrator when it has no token yet: this one must stay empty.
    s.token = "no administrator on purpose"
    s.start_server()
    yield s
    s.stop()


def setup_token(stack: Stack) -> str:
    """The one-time token the server logged at start."""
    found: list[str] = []

    def logged() -> bool:
        found[:] = SETUP_TOKEN.findall((stack.data_dir / "server.log").read_text(errors="replace"))
        return bool(found)

    wait_until(logged, 10, "the setup token in the server's log", stack.logs)
    return found[-1]


def test_first_administrator_is_created_through_the_setup_form(
    anonymous_page: Page, stack: Stack
) -> None:
    page = anonymous_page
    page.goto("/#/cameras")
    form = page.get_by_test_id("setup-form")
    expect(form).to_be_visible()
    expect(page.get_by_test_id("login-form")).to_have_count(0)
    expect(page.locator("header.topbar")).to_be_hidden()

    # A wrong token is refused in the server's words; nothing is created.
    form.get_by_test_id("field-setup_token").fill("not the token")
    form.get_by_test_id("field-username").fill("chief")
    form.get_by_test_id("field-display_name").fill("Chief Officer")
    form.get_by_test_id("field-password").fill(PASSWORD)
    form.get_by_test_id("field-confirm").fill(PASSWORD)
    form.get_by_test_id("setup-submit").click()
    expect(form.get_by_test_id("setup-error")).to_contain_text("wrong setup token")

    # A password the policy refuses is explained next to its field.
    form.get_by_test_id("field-setup_token").fill(setup_token(stack))
    form.get_by_test_id("field-password").fill("short")
    form.get_by_test_id("field-confirm").fill("short")
    form.get_by_test_id("setup-submit").click()
    expect(form.get_by_test_id("error-password")).to_be_visible()
    expect(form.get_by_test_id("field-password")).to_have_attribute("aria-invalid", "true")

    form.get_by_test_id("field-password").fill(PASSWORD)
    form.get_by_test_id("field-confirm").fill(PASSWORD)
    form.get_by_test_id("setup-submit").click()

    # Signed in at once, on the page asked for, with the administrator's navigation.
    expect(page.get_by_test_id("camera-table")).to_be_visible()
    assert page.url.endswith("#/cameras"), page.url
    expect(page.get_by_test_id("signin")).to_be_hidden()
    expect(page.get_by_test_id("user-menu-button")).to_contain_text("Chief Officer")
    for entry in ("nav-grid", "nav-cameras", "nav-alarms", "nav-rules", "nav-admin", "nav-audit"):
        expect(page.get_by_test_id(entry)).to_be_visible()

    db = Database(stack.db_url)
    try:
        (user,) = user_store.list_users(db)
    finally:
        db.dispose()
    assert (user.username, user.display_name) == ("chief", "Chief Officer")
    assert [a.role for a in user.roles] == ["administrator"]

    # The token is spent: a reload offers the login form, not the setup again.
    page.reload()
    expect(page.get_by_test_id("camera-table")).to_be_visible()  # the session holds
    page.context.clear_cookies()
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()

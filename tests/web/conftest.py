"""Browser fixtures: Debian's Chromium driven by Playwright, one browser per test module.

Pages are signed in as the stack's administrator (``page``) unless a test asks for a page
nobody is signed in on (``anonymous_page``); ``open_page`` signs in another user.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import ADMIN_PASSWORD, Stack

CHROMIUM = Path(os.environ.get("VIGIL_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Play video without a user gesture, as the control room expects.
    "--autoplay-policy=no-user-gesture-required",
]
VIEWPORT = {"width": 1366, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium shared by the tests of a module."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required under CI=true")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def sign_in(
    context: BrowserContext, username: str = "admin", password: str = ADMIN_PASSWORD
) -> None:
    """Sign a browser context in through the API: the session and CSRF cookies land in it."""
    r = context.request.post("/api/auth/login", data={"username": username, "password": password})
    assert r.ok, f"signing in as {username} failed: {r.status} {r.text()}"


@contextmanager
def open_page(
    browser: Browser, stack: Stack, *, user: tuple[str, str] | None = ("admin", ADMIN_PASSWORD)
) -> Iterator[Page]:
    """A fresh browser context on a Vigil, signed in as ``user`` (None: nobody); fails the
    test on uncaught script errors."""
    context = browser.new_context(base_url=stack.url, viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(15_000)
    if user is not None:
        sign_in(context, *user)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A page signed in as the stack's administrator."""
    with open_page(browser, stack) as page:
        yield page


@pytest.fixture
def anonymous_page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A page on which nobody is signed in."""
    with open_page(browser, stack, user=None) as page:
        yield page

"""A camera that refuses Vigil's credentials shows "Wrong credentials" in the camera list,
with what to do, and the API names the kind of problem."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack, wait_until
from tests.rtsp_refusing import refusing_camera

pytestmark = pytest.mark.browser


def test_wrong_credentials_are_named_on_the_camera(page: Page, stack: Stack) -> None:
    with refusing_camera() as refusing:
        cam = stack.add_camera("Door", refusing.url, username="admin", password="not-it")
        wait_until(
            lambda: stack.camera(cam["id"])["health"]["problem"] == "wrong_credentials",
            60,
            "the problem reported",
            stack.logs,
        )
        page.goto("/#/cameras")
        row = page.locator(f'[data-testid="camera-row"][data-camera-id="{cam["id"]}"]')
        problem = row.get_by_test_id("camera-problem")
        expect(problem).to_have_text("Wrong credentials")
        expect(problem).to_have_attribute(
            "title", "Correct the user name and password in the camera's settings"
        )
        assert "not-it" not in (stack.camera(cam["id"])["health"]["last_error"] or "")

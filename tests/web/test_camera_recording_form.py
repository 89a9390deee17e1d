"""The camera form's recording mode and event retention, in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack

pytestmark = pytest.mark.browser


def test_recording_mode_and_event_retention_are_set_and_changed(page: Page, stack: Stack) -> None:
    page.goto("/#/cameras")
    page.get_by_test_id("add-camera").click()
    mode = page.get_by_test_id("field-recording_mode")
    expect(mode).to_have_value("continuous")
    page.get_by_test_id("field-name").fill("Yard")
    page.get_by_test_id("field-main_url").fill("rtsp://192.0.2.7/stream")
    page.get_by_test_id("field-enabled").uncheck()
    mode.select_option(label="Only around events")
    page.get_by_test_id("field-event_retention_days").fill("0")
    page.get_by_test_id("save-camera").click()
    # The server's word on a bad value appears next to its field.
    expect(page.get_by_test_id("error-event_retention_days")).to_contain_text("greater than 0")
    page.get_by_test_id("field-event_retention_days").fill("30")
    page.get_by_test_id("save-camera").click()
    expect(page.get_by_test_id("camera-form")).to_be_hidden()
    (camera,) = stack.client.get("/api/cameras").json()
    assert (camera["recording_mode"], camera["event_retention_days"]) == ("events", 30)

    page.goto(f"/#/cameras/{camera['id']}/edit")
    expect(mode).to_have_value("events")
    expect(page.get_by_test_id("field-event_retention_days")).to_have_value("30")
    mode.select_option("continuous")
    page.get_by_test_id("field-event_retention_days").fill("")
    page.get_by_test_id("save-camera").click()
    expect(page.get_by_test_id("camera-form")).to_be_hidden()
    camera = stack.camera(camera["id"])
    assert (camera["recording_mode"], camera["event_retention_days"]) == ("continuous", None)

"""The "Sites" administration page and a site's items in the client, in Chromium: an
administrator links a real site (HTTPS, its generated certificate) by confirming the
fingerprint the server shows, and sees it online; the site's alarm and camera carry its
badge, the centre's own camera none; a site's camera view asks the centre's relay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack, wait_until
from tests.federation.stacks import TlsStack, centre_stack, site_state, site_token

# Two servers and a browser on a busy machine: a hang guard, not a speed bar.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

NO_CAMERA = "rtsp://127.0.0.1:9/none"  # cameras to list, not to record: no recorder runs


@pytest.fixture(scope="module")
def north(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    """A site's server (no recorder: nothing here plays its video) with a door rule and a
    camera."""
    site = TlsStack(tmp_path_factory.mktemp("sites-page") / "north", "north")
    try:
        site.start_server()
        site.door_rules(1)
        site.add_camera("gate", NO_CAMERA)
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The centre the browser signs in to."""
    centre = centre_stack(tmp_path_factory.mktemp("sites-page") / "centre")
    try:
        centre.start_server()
        yield centre
    finally:
        centre.stop()


def of_north(stack: Stack, what: str) -> list[dict[str, Any]]:
    params = {"site": "north", **({"state": "all"} if what == "alarms" else {})}
    r = stack.client.get(f"/api/{what}", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    items: list[dict[str, Any]] = body["items"] if what == "alarms" else body
    return items


def test_an_administrator_links_a_site_and_sees_its_items_marked(
    page: Page, stack: Stack, north: TlsStack
) -> None:
    lobby = stack.add_camera("lobby", NO_CAMERA)
    page.goto("/#/admin")
    page.get_by_test_id("admin-tab-sites").click()
    form = page.get_by_test_id("site-form")
    form.get_by_test_id("field-site-name").fill("north")
    form.get_by_test_id("field-site-url").fill(north.url)
    form.get_by_test_id("field-site-token").fill(site_token(north))
    form.get_by_test_id("add-site").click()

    # Trust on first use, explicit: the certificate's fingerprint is shown, nothing stored.
    expect(form.get_by_test_id("site-fingerprint")).to_have_text(north.fingerprint)
    assert stack.client.get("/api/sites").json() == []
    form.get_by_test_id("trust-site").click()
    row = page.locator('[data-testid="site-row"][data-name="north"]')
    expect(row).to_have_attribute("data-state", "online", timeout=60_000)
    expect(form.get_by_test_id("site-confirm")).to_be_hidden()
    assert site_state(stack, "north")["fingerprint"] == north.fingerprint

    # The site's alarm in the centre's queue, with its badge.
    north.raise_door(0)
    wait_until(lambda: len(of_north(stack, "alarms")) == 1, 60, "north's alarm at the centre")
    page.goto("/#/alarms")
    alarm = page.get_by_test_id("alarm-row").filter(has_text="door 0 forced")
    expect(alarm.get_by_test_id("site-badge")).to_have_text("north")

    # The site's camera marked in the camera list; the centre's own is not.
    wait_until(lambda: len(of_north(stack, "cameras")) == 1, 60, "north's camera at the centre")
    gate = of_north(stack, "cameras")[0]
    page.goto("/#/cameras")
    rows = '[data-testid="camera-row"][data-camera-id="{}"]'
    expect(page.locator(rows.format(gate["id"])).get_by_test_id("site-badge")).to_have_text("north")
    expect(page.locator(rows.format(lobby["id"]))).to_contain_text("lobby")
    expect(page.locator(rows.format(lobby["id"])).get_by_test_id("site-badge")).to_have_count(0)

    # Opening the site's camera: its timeline and live view come through the centre's relay.
    relay = f"/api/federation/cameras/{gate['id']}/"
    with (
        page.expect_request(lambda r: relay + "timeline" in r.url, timeout=30_000),
        page.expect_websocket(lambda ws: relay + "live" in ws.url, timeout=30_000),
    ):
        page.goto(f"/#/camera/{gate['id']}")

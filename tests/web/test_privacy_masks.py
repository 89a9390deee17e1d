"""Privacy masks in the web client: the mask editor on the camera's snapshot, and an
operator without the unmask permission watching live video with the masks filled in, in a
real browser against a running Vigil."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.test_privacy import as_json
from tests.conftest import ADMIN_PASSWORD, Stack
from tests.media.test_privacy import WINDOW
from tests.web.conftest import open_page
from tests.web.test_analytics_ui import click_at
from tests.web.test_browser import assert_plays_live
from vigil.devices.simulator import Simulator
from vigil.domain.permissions import Scope
from vigil.media.privacy import FILL_LEVEL
from vigil.security.passwords import hash_password
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.users import Assigned

pytestmark = pytest.mark.browser

OPERATOR = ("olga", "a long enough password 1")
CANVAS = "privacy-canvas"

# The largest difference from the fill grey inside a box (fractions of the frame) of the
# current frame of a <video>, drawn at its own size.
DEVIATION_JS = """([selector, box, fill]) => {
  const v = document.querySelector(selector);
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const [x0, x1] = [box[0], box[2]].map((v) => Math.round(v * c.width));
  const [y0, y1] = [box[1], box[3]].map((v) => Math.round(v * c.height));
  const d = g.getImageData(x0, y0, x1 - x0, y1 - y0).data;
  let worst = 0;
  for (let i = 0; i < d.length; i += 4) {
    for (let k = 0; k < 3; k += 1) worst = Math.max(worst, Math.abs(d[i + k] - fill));
  }
  return worst;
}"""
# WINDOW (0.1..0.45 x 0.2..0.7), a macroblock (16 px of 640x360) inside its edges.
WINDOW_INSIDE = (0.125, 0.245, 0.425, 0.655)


def masks_of(stack: Stack, camera_id: int) -> list[dict[str, Any]]:
    r = stack.client.get(f"/api/cameras/{camera_id}/privacy-masks")
    assert r.status_code == 200, r.text
    masks: list[dict[str, Any]] = r.json()["masks"]
    return masks


def draw(page: Page, corners: list[tuple[float, float]], close: str = "first") -> None:
    """Draw a mask by clicking its corners; close it on the first corner, or by Enter."""
    page.get_by_test_id("draw-mask").click()
    for x, y in corners:
        click_at(page, CANVAS, x, y)
    if close == "first":
        click_at(page, CANVAS, *corners[0])
    else:
        page.keyboard.press("Enter")


def close_to(points: list[list[float]], expected: list[tuple[float, float]]) -> bool:
    return len(points) == len(expected) and all(
        abs(p[0] - e[0]) < 0.01 and abs(p[1] - e[1]) < 0.01
        for p, e in zip(points, expected, strict=True)
    )


def test_the_editor_draws_saves_and_shows_the_servers_refusal(page: Page, stack: Stack) -> None:
    camera = stack.add_camera("Yard", "rtsp://127.0.0.1:9/none")
    page.goto("/#/cameras")
    page.get_by_test_id("camera-privacy-masks").click()
    expect(page.get_by_test_id("privacy-editor")).to_be_visible()
    expect(page.get_by_test_id("no-masks")).to_be_visible()
    # An unreachable camera has no snapshot: drawing happens on a dark frame.
    expect(page.get_by_test_id("snapshot-message")).to_contain_text("No live snapshot")

    window = [(0.1, 0.2), (0.45, 0.2), (0.45, 0.7), (0.1, 0.7)]
    draw(page, window)
    page.get_by_test_id("mask-name").fill("Window")
    door = [(0.6, 0.1), (0.9, 0.1), (0.75, 0.6)]
    draw(page, door, close="enter")
    expect(page.get_by_test_id("mask-shape")).to_have_count(2)
    expect(page.get_by_test_id("privacy-dirty")).to_have_text("unsaved changes")
    # The door's apex dragged down (the new mask is selected: its corners have handles).
    box = page.get_by_test_id(CANVAS).bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 0.75 * box["width"], box["y"] + 0.6 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.75 * box["width"], box["y"] + 0.8 * box["height"], steps=5)
    page.mouse.up()
    door[2] = (0.75, 0.8)
    page.get_by_test_id("privacy-save").click()
    expect(page.get_by_test_id("privacy-dirty")).to_have_text("")
    saved = masks_of(stack, camera["id"])
    assert [m["name"] for m in saved] == ["Window", "Mask 2"]
    assert close_to(saved[0]["points"], window) and close_to(saved[1]["points"], door), saved

    # Shown again after a reload; the preview fills them as viewers without unmask see them.
    page.reload()
    expect(page.get_by_test_id("mask-shape")).to_have_count(2)
    page.get_by_test_id("preview-masks").check()
    polygon = page.get_by_test_id("mask-shape").first.locator("polygon")
    expect(polygon).to_have_attribute("fill-opacity", "1")
    page.get_by_test_id("preview-masks").uncheck()

    # A bow-tie is refused by the server: the mask is marked with its message, nothing saved.
    draw(page, [(0.55, 0.75), (0.95, 0.95), (0.95, 0.75), (0.55, 0.95)])
    page.get_by_test_id("privacy-save").click()
    bad = page.locator('[data-testid="mask-shape"][data-name="Mask 3"]')
    expect(bad).to_have_attribute("data-invalid", "true")
    expect(page.get_by_test_id("error-masks.2")).to_contain_text("crosses itself")
    expect(page.get_by_test_id("privacy-error")).to_contain_text("Not saved")
    assert len(masks_of(stack, camera["id"])) == 2
    page.get_by_test_id("delete-mask").nth(2).click()
    page.get_by_test_id("privacy-save").click()
    expect(page.get_by_test_id("privacy-dirty")).to_have_text("")
    expect(page.get_by_test_id("privacy-error")).to_be_hidden()

    # Two masks of one name: both rows say so.
    page.get_by_test_id("mask-name").nth(1).fill("window")
    page.get_by_test_id("privacy-save").click()
    expect(page.get_by_test_id("error-masks.1")).to_contain_text("both named")
    expect(page.get_by_test_id("error-masks.0")).to_contain_text("both named")
    page.get_by_test_id("delete-mask").nth(1).click()
    page.get_by_test_id("delete-mask").first.click()
    page.get_by_test_id("privacy-save").click()
    expect(page.get_by_test_id("no-masks")).to_be_visible()
    expect(page.get_by_test_id("privacy-dirty")).to_have_text("")
    assert masks_of(stack, camera["id"]) == []


def test_an_operator_watches_live_with_the_masks_filled_in(
    browser: Browser, stack: Stack, simulator: Simulator
) -> None:
    camera = stack.add_camera("Lobby", simulator.url_for("pattern"))
    camera_id = camera["id"]
    stack.wait_status(camera_id, "online")
    r = stack.client.put(f"/api/cameras/{camera_id}/privacy-masks", json=as_json([WINDOW]))
    assert r.status_code == 200, r.text
    db = Database(stack.db_url)
    try:
        user_store.create_user(
            db,
            username=OPERATOR[0],
            password_hash=hash_password(OPERATOR[1]),
            roles=[Assigned("operator", Scope.everywhere())],
        )
    finally:
        db.dispose()

    video = '[data-testid="camera-video"]'
    for user, masked in ((OPERATOR, True), (("admin", ADMIN_PASSWORD), False)):
        with open_page(browser, stack, user=user) as page:
            page.goto(f"/#/camera/{camera_id}")
            assert_plays_live(page, video, 1, seconds=1)
            worst: list[int] = []
            for _ in range(3):  # three frames, 0.3 s apart
                page.wait_for_timeout(300)
                worst.append(page.evaluate(DEVIATION_JS, [video, WINDOW_INSIDE, FILL_LEVEL]))
            if masked:
                assert max(worst) <= 10, f"the operator sees what is masked: {worst}"
                # The editor is not offered to an operator.
                expect(page.get_by_test_id("privacy-masks-link")).to_have_count(0)
            else:
                assert min(worst) > 50, f"the administrator (unmask) sees the scene: {worst}"

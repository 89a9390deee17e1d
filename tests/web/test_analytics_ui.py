"""Analytics in the web client: the zone/line/behaviour editor, the live event feed and the
boxes over the live view, in a real browser against a running Vigil. Events, frames and
status reach the server's bus through its hub WebSocket, as a recorder's would."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Stack, wait_until
from tests.web.test_browser import recorded, shown_time
from vigil.bus.base import Envelope
from vigil.bus.hub import HUB_PATH
from vigil.devices.simulator import Simulator
from vigil.domain.events import AnalyticsFrame, AnalyticsStatus, Event, ObjectRef, TrackEnded
from vigil.security.service_token import service_headers
from vigil.store.types import utcnow

pytestmark = pytest.mark.browser

Message = AnalyticsFrame | AnalyticsStatus | Event | TrackEnded
SHOWN = re.compile(r"^\d{4}-")
# How many pixels of a canvas are painted (not transparent).
PAINTED_JS = """(c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data
  .filter((v, i) => i % 4 === 3 && v > 0).length"""


@contextmanager
def hub(stack: Stack) -> Iterator[ClientConnection]:
    """A connection to the server's bus hub, the way a recorder publishes."""
    url = stack.url.replace("http://", "ws://") + f"{HUB_PATH}?origin=test"
    with connect(url, additional_headers=service_headers(stack.data_dir)) as ws:
        yield ws


def publish(ws: ClientConnection, message: Message) -> None:
    envelope = Envelope.wrap(message.subject(), message).model_dump(mode="json")
    ws.send(json.dumps({"op": "pub", "envelope": envelope}))


def click_at(page: Page, testid: str, x: float, y: float) -> None:
    """Click at a normalised point of an element (0..1 across its width and height)."""
    box = page.get_by_test_id(testid).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def analytics_config(stack: Stack, camera_id: int) -> dict[str, Any]:
    r = stack.client.get(f"/api/cameras/{camera_id}/analytics")
    assert r.status_code == 200, r.text
    config: dict[str, Any] = r.json()
    return config


def close_to(a: list[float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) < 0.01 and abs(a[1] - b[1]) < 0.01


# -------------------------------------------------------------------------------------------


def test_editor_draws_zones_and_lines_saves_behaviours_and_shows_the_servers_refusal(
    page: Page, stack: Stack
) -> None:
    # An unreachable camera has no snapshot: the editor says so and draws on a dark frame.
    camera = stack.add_camera("Gate", "rtsp://127.0.0.1:9/none")
    page.goto("/#/cameras")
    page.get_by_test_id("camera-analytics").click()
    expect(page.get_by_test_id("analytics-editor")).to_be_visible()
    expect(page.get_by_test_id("snapshot-message")).to_contain_text("No live snapshot")
    surface = page.get_by_test_id("analytics-surface")
    box = surface.bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - 16 / 9) < 0.02

    # A zone of four corners, closed by clicking the first one again, then named.
    page.get_by_test_id("draw-zone").click()
    corners = [(0.1, 0.5), (0.5, 0.5), (0.5, 0.9), (0.1, 0.9)]
    for x, y in [*corners, corners[0]]:
        click_at(page, "analytics-canvas", x, y)
    expect(page.get_by_test_id("zone-shape")).to_have_count(1)
    page.get_by_test_id("zone-name").fill("Door")
    # Its second corner dragged up and to the right.
    box = page.get_by_test_id("analytics-canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.45 * box["height"], steps=5)
    page.mouse.up()
    corners[1] = (0.55, 0.45)
    expect(page.get_by_test_id("zone-shape")).to_have_attribute("data-name", "Door")

    # A line drawn left to right counts "in" downwards; Flip turns the arrow round.
    page.get_by_test_id("draw-line").click()
    click_at(page, "analytics-canvas", 0.6, 0.2)
    click_at(page, "analytics-canvas", 0.9, 0.2)
    arrow = page.get_by_test_id("in-arrow")
    expect(arrow).to_have_attribute("data-dy", "1.000")
    page.get_by_test_id("flip-line").click()
    expect(arrow).to_have_attribute("data-dy", "-1.000")
    page.get_by_test_id("flip-line").click()
    page.get_by_test_id("line-name").fill("Kerb")

    # Loitering on the zone, for people, after 30 s; and the pipeline's settings.
    page.get_by_test_id("add-behaviour-type").select_option("loitering")
    page.get_by_test_id("add-behaviour").click()
    card = page.get_by_test_id("behaviour-card")
    expect(card.get_by_test_id("field-behaviours.0.zone")).to_have_value("Door")
    card.get_by_test_id("field-behaviours.0.dwell_s").fill("30")
    card.locator('[data-testid="option"][data-value="person"] input').check()
    page.get_by_test_id("field-enabled").check()
    page.get_by_test_id("field-fps").fill("4")
    page.get_by_test_id("field-detector").select_option("motion")
    page.get_by_test_id("analytics-save").click()
    expect(page.get_by_test_id("toast")).to_contain_text("saved")
    expect(page.get_by_test_id("analytics-dirty")).to_have_text("")

    saved = analytics_config(stack, camera["id"])
    assert [z["name"] for z in saved["zones"]] == ["Door"]
    assert all(close_to(p, c) for p, c in zip(saved["zones"][0]["points"], corners, strict=True))
    (line,) = saved["lines"]
    assert line["name"] == "Kerb" and close_to(line["start"], (0.6, 0.2))
    assert close_to(line["end"], (0.9, 0.2))
    (behaviour,) = saved["behaviours"]
    assert behaviour["type"] == "loitering" and behaviour["zone"] == "Door"
    assert behaviour["dwell_s"] == 30 and behaviour["classes"] == ["person"]
    assert saved["enabled"] is True and saved["fps"] == 4
    assert saved["detector"]["type"] == "motion"

    # Back after a reload, as stored.
    page.reload()
    expect(page.get_by_test_id("zone-shape")).to_have_attribute("data-name", "Door")
    expect(page.get_by_test_id("line-shape")).to_have_attribute("data-name", "Kerb")
    expect(page.get_by_test_id("field-behaviours.0.dwell_s")).to_have_value("30")
    expect(page.get_by_test_id("behaviour-card")).to_have_attribute("data-type", "loitering")

    # A bow tie crosses itself: refused, with the server's message at that zone.
    page.get_by_test_id("draw-zone").click()
    for x, y in [(0.6, 0.5), (0.9, 0.9), (0.9, 0.5), (0.6, 0.9), (0.6, 0.5)]:
        click_at(page, "analytics-canvas", x, y)
    expect(page.get_by_test_id("zone-shape")).to_have_count(2)
    page.get_by_test_id("analytics-save").click()
    error = page.get_by_test_id("error-zones.1")
    expect(error).to_contain_text("crosses itself")
    expect(page.locator('[data-testid="zone-shape"][data-name="Zone 2"]')).to_have_attribute(
        "data-invalid", "true"
    )
    expect(page.get_by_test_id("error-zones.0")).to_be_hidden()
    assert len(analytics_config(stack, camera["id"])["zones"]) == 1

    # Deleting the zone that a behaviour uses: the server names the behaviour.
    page.get_by_test_id("delete-zone").nth(1).click()
    page.get_by_test_id("zone-row").first.click()
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("zone-shape")).to_have_count(0)
    page.get_by_test_id("analytics-save").click()
    expect(page.get_by_test_id("error-behaviours.0.zone")).to_be_visible()
    expect(page.get_by_test_id("behaviour-card")).to_have_attribute("data-invalid", "true")


def test_detector_and_motion_gate_options_are_set_within_the_servers_limits(
    page: Page, stack: Stack
) -> None:
    camera = stack.add_camera("Highway", "rtsp://127.0.0.1:9/none")
    page.goto("/#/cameras")
    page.get_by_test_id("camera-analytics").click()
    expect(page.get_by_test_id("analytics-editor")).to_be_visible()
    page.get_by_test_id("field-detector").select_option("nanodet")

    # The detector's options come from its schema: defaults as placeholders, its limits.
    page.get_by_test_id("detector-options").locator("summary").click()
    tiles = page.get_by_test_id("field-detector.tiles")
    expect(tiles).to_have_attribute("placeholder", "1")
    expect(tiles).to_have_attribute("max", "4")
    tiles.fill("2")
    size = page.get_by_test_id("field-detector.input_size")
    expect(size).to_have_attribute("step", "32")
    size.fill("330")
    page.get_by_test_id("motion-options").locator("summary").click()
    page.get_by_test_id("field-motion.tracked_fps").fill("2.5")
    page.get_by_test_id("field-motion.enabled").uncheck()

    # Refused at the option itself; nothing is stored.
    page.get_by_test_id("analytics-save").click()
    expect(page.get_by_test_id("error-detector.input_size")).to_contain_text("multiple of 32")
    expect(page.get_by_test_id("error-detector.tiles")).to_be_hidden()
    assert "tiles" not in analytics_config(stack, camera["id"])["detector"]

    size.fill("320")
    page.get_by_test_id("analytics-save").click()
    expect(page.get_by_test_id("toast")).to_contain_text("saved")
    saved = analytics_config(stack, camera["id"])
    assert saved["detector"] == {"type": "nanodet", "tiles": 2, "input_size": 320}
    assert saved["motion"]["tracked_fps"] == 2.5 and saved["motion"]["enabled"] is False

    # Back after a reload; another detector starts from its own defaults.
    page.reload()
    page.get_by_test_id("detector-options").locator("summary").click()
    expect(page.get_by_test_id("field-detector.input_size")).to_have_value("320")
    page.get_by_test_id("field-detector").select_option("motion")
    expect(page.get_by_test_id("field-detector.tiles")).to_have_count(0)
    expect(page.get_by_test_id("field-detector.history")).to_have_value("")
    page.get_by_test_id("analytics-save").click()
    expect(page.get_by_test_id("toast")).to_contain_text("saved")
    assert analytics_config(stack, camera["id"])["detector"] == {"type": "motion"}


def test_event_feed_shows_events_live_and_opens_the_recording_at_their_moment(
    page: Page, stack: Stack, simulator: Simulator
) -> None:
    camera = stack.add_camera("Lobby", simulator.url_for("pattern"))
    stack.wait_status(camera["id"], "online")
    first = recorded(stack, camera["id"], 8)
    moment = datetime.fromisoformat(first["start"]) + timedelta(seconds=3)

    # The evidence: a snapshot file under the data directory, as the pipeline writes it.
    snapshot = f"snapshots/{camera['id']}/{moment:%Y-%m-%d}/feed-test.jpg"
    image = np.full((90, 160, 3), (40, 160, 40), np.uint8)
    path = Path(stack.data_dir, snapshot)
    path.parent.mkdir(parents=True)
    assert cv2.imwrite(str(path), image)

    page.goto("/#/grid")
    feed = page.get_by_test_id("event-feed")
    expect(feed.get_by_test_id("event-feed-note")).to_contain_text("No analytics events")
    loitering = Event(
        type="loitering",
        at=moment,
        camera_id=camera["id"],
        zone="Door",
        object=ObjectRef(class_name="person", track_id=7, box=(0.1, 0.2, 0.3, 0.9)),
        attributes={"dwell_s": 42.0},
        snapshot=snapshot,
        source="node-1",
    )
    with hub(stack) as ws:
        # Not analytics: a sensor's input is not listed.
        publish(ws, Event(type="input.mqtt", at=utcnow(), camera_id=camera["id"]))
        publish(ws, loitering)
    item = feed.locator(f'[data-testid="event-item"][data-event-id="{loitering.id}"]')
    expect(item.get_by_test_id("event-type")).to_have_text("Loitering")
    expect(item.get_by_test_id("event-where")).to_contain_text("Lobby")
    expect(item.get_by_test_id("event-where")).to_contain_text("Door")
    expect(item.get_by_test_id("event-detail")).to_have_text("person #7 · 42 s")
    expect(feed.get_by_test_id("event-item")).to_have_count(1)
    thumb = item.get_by_test_id("event-thumb")
    wait_until(
        lambda: thumb.evaluate("(img) => img.complete && img.naturalWidth") == 160,
        15,
        "the snapshot thumbnail",
    )

    # A click plays the camera's recording from the event's moment.
    item.click()
    expect(page.get_by_test_id("mode")).to_have_text("PLAYBACK")
    clock = page.get_by_test_id("video-clock")
    expect(clock).to_have_attribute("data-time", SHOWN)
    assert abs((shown_time(clock.inner_text()) - moment).total_seconds()) <= 3

    # The camera view lists this camera's events only, the stored one included.
    camera_feed = page.get_by_test_id("camera-view").get_by_test_id("event-feed")
    expect(camera_feed.locator(f'[data-event-id="{loitering.id}"]')).to_be_visible()
    crossing = Event(type="line_crossing", at=utcnow(), camera_id=camera["id"], zone="Kerb",
                     attributes={"direction": "in"})  # fmt: skip
    with hub(stack) as ws:
        publish(ws, Event(type="intrusion", at=utcnow(), camera_id=camera["id"] + 1))
        publish(ws, crossing)
    expect(camera_feed.get_by_test_id("event-item").first).to_have_attribute(
        "data-event-id", crossing.id
    )
    expect(camera_feed.get_by_test_id("event-item")).to_have_count(2)


def test_boxes_over_the_live_view_follow_the_analysed_frames(
    page: Page, stack: Stack, simulator: Simulator
) -> None:
    camera = stack.add_camera("Yard", simulator.url_for("pattern"))
    stack.wait_status(camera["id"], "online")
    page.goto(f"/#/camera/{camera['id']}")
    canvas = page.get_by_test_id("analytics-boxes")
    expect(canvas).to_be_hidden()
    page.get_by_test_id("overlay-toggle").click()
    expect(canvas).to_be_visible()
    status = page.get_by_test_id("analytics-status")
    expect(status).to_be_visible()

    objects = [
        ObjectRef(class_name="person", track_id=7, confidence=0.9, box=(0.1, 0.2, 0.3, 0.9)),
        ObjectRef(class_name="car", track_id=8, confidence=0.8, box=(0.5, 0.5, 0.9, 0.8)),
    ]
    with hub(stack) as ws:

        def boxes_drawn() -> bool:
            publish(ws, AnalyticsFrame(camera_id=camera["id"], at=utcnow(), objects=objects))
            return canvas.get_attribute("data-objects") == "2"

        wait_until(boxes_drawn, 15, "boxes over the live view")
        assert canvas.get_attribute("data-labels") == "person #7|car #8"
        assert canvas.evaluate(PAINTED_JS) > 0

        def unavailable_shown() -> bool:
            publish(
                ws,
                AnalyticsStatus(
                    camera_id=camera["id"], state="unavailable", detector="nanodet", at=utcnow(),
                    error="model nanodet.onnx is missing: run `vigil models install`",
                ),
            )  # fmt: skip
            return "vigil models install" in status.inner_text()

        wait_until(unavailable_shown, 15, "the analytics status")

    # No more frames: the boxes go.
    expect(canvas).to_have_attribute("data-objects", "0")
    assert canvas.evaluate(PAINTED_JS) == 0
    page.get_by_test_id("overlay-toggle").click()
    expect(canvas).to_be_hidden()
    expect(status).to_be_hidden()

    # The editor draws on the camera's live snapshot, in its shape.
    page.get_by_test_id("analytics-link").click()
    surface = page.get_by_test_id("analytics-surface")
    expect(surface).to_have_attribute("data-snapshot", "ok")
    expect(page.get_by_test_id("snapshot-message")).to_be_hidden()
    natural = surface.locator("img").evaluate("(img) => img.naturalWidth / img.naturalHeight")
    box = surface.bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - natural) < 0.02


def test_traffic_counts_offer_the_drawn_zones_as_lanes(page: Page, stack: Stack) -> None:
    camera = stack.add_camera("Boulevard", "rtsp://127.0.0.1:9/none")
    lanes = {
        "zones": [
            {"name": "north", "points": [[0, 0.4], [1, 0.4], [1, 0.6], [0, 0.6]]},
            {"name": "south", "points": [[0, 0.6], [1, 0.6], [1, 0.9], [0, 0.9]]},
        ],
        "lines": [{"name": "count", "start": [0.5, 0.3], "end": [0.5, 1.0]}],
    }
    r = stack.client.put(f"/api/cameras/{camera['id']}/analytics", json=lanes)
    assert r.status_code == 200, r.text
    page.goto("/#/cameras")
    page.get_by_test_id("camera-analytics").click()
    page.get_by_test_id("add-behaviour-type").select_option("traffic_counts")
    page.get_by_test_id("add-behaviour").click()
    card = page.get_by_test_id("behaviour-card")
    field = card.get_by_test_id("field-behaviours.0.lanes")
    expect(field.get_by_test_id("option")).to_have_count(2)
    field.locator('[data-testid="option"][data-value="south"] input').check()
    page.get_by_test_id("analytics-save").click()
    expect(page.get_by_test_id("toast")).to_contain_text("saved")
    (behaviour,) = analytics_config(stack, camera["id"])["behaviours"]
    assert behaviour["type"] == "traffic_counts" and behaviour["lanes"] == ["south"]
    assert behaviour["line"] == "count"

"""The map, as an operator and an administrator use it: a camera placed on a site plan is a
pin with its field of view; a click on the pin plays it live beside the plan; an alarm of
the camera makes its pin flash; an administrator places a camera by clicking the plan; and
the street map shows the tile server's tiles with the cameras on them."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.api.test_security_headers import CSP_WATCH
from tests.conftest import Stack, wait_until
from tests.map_tiles import TileServer, tile_server
from tests.web.test_browser import assert_plays_live
from vigil.devices.simulator import Simulator

pytestmark = pytest.mark.browser


@pytest.fixture
def tiles() -> Iterator[TileServer]:
    with tile_server() as server:
        yield server


@pytest.fixture
def stack(tmp_path: Path, tiles: TileServer) -> Iterator[Stack]:
    """Server and recorder, with the street map's tiles from the test's tile server."""
    env = {"VIGIL_MAP__TILE_URL": tiles.template, "VIGIL_MAP__ATTRIBUTION": "Test survey"}
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}", env=env)
    s.data_dir.mkdir(parents=True)
    s.start_server()
    s.start_recorder()
    yield s
    s.stop()


def floor_plan() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 500), (200, 205, 210)).save(out, "PNG")
    return out.getvalue()


def add_plan(stack: Stack, name: str) -> int:
    r = stack.client.post(
        "/api/plans",
        params={"name": name},
        content=floor_plan(),
        headers={"Content-Type": "image/png"},
    )
    assert r.status_code == 201, r.text
    plan_id: int = r.json()["id"]
    return plan_id


def test_click_a_pin_on_a_plan_and_its_camera_plays_live_and_flashes_on_an_alarm(
    page: Page, stack: Stack, simulator: Simulator
) -> None:
    plan = add_plan(stack, "Concourse")
    gate = stack.add_camera(
        "Gate",
        simulator.url_for("pattern"),
        position={"plan_id": plan, "x": 0.3, "y": 0.6, "heading": 45, "fov": 70},
    )
    stack.add_camera("Platform", simulator.url_for("pattern-audio"))  # not placed
    stack.wait_status(gate["id"], "online")

    page.goto("/#/map")  # the street map first (a tile server is set), then the plan
    expect(page.get_by_test_id("map-view")).to_have_value("street")
    page.get_by_test_id("map-view").select_option(f"plan-{plan}")
    expect(page).to_have_url(re.compile(rf"#/map\?view=plan-{plan}$"))
    gate_pin = page.locator(f'[data-testid="map-pin"][data-camera-id="{gate["id"]}"]')
    expect(gate_pin).to_have_count(1)
    expect(gate_pin.locator("path.cone")).to_have_count(1)
    expect(page.get_by_test_id("map-pin")).to_have_count(1)
    expect(gate_pin).to_have_attribute("data-alarm", "false")

    gate_pin.click()
    expect(page.get_by_test_id("map-live-name")).to_have_text("Gate")
    assert_plays_live(page, '[data-testid="map-live-video"]', 1)

    rule = stack.client.post(
        "/api/rules",
        json={
            "name": "Panic",
            "trigger": {"kind": "manual"},
            "actions": [{"type": "raise_alarm", "priority": 1, "category": "panic"}],
        },
    ).json()
    fired = stack.client.post(f"/api/rules/{rule['id']}/trigger", json={"camera_id": gate["id"]})
    assert fired.status_code == 202, fired.text
    expect(gate_pin).to_have_attribute("data-alarm", "true")
    expect(gate_pin).to_have_class("map-pin status-online alarm selected")


def test_an_administrator_places_a_camera_by_clicking_the_plan(page: Page, stack: Stack) -> None:
    plan = add_plan(stack, "Depot")
    cam = stack.add_camera("Yard", "rtsp://127.0.0.1:9/yard")
    page.goto(f"/#/map?view=plan-{plan}")
    row = page.locator(f'[data-testid="map-camera"][data-camera-id="{cam["id"]}"]')
    row.get_by_test_id("map-place").click()
    layer = page.get_by_test_id("plan-layer")
    box = layer.bounding_box()
    assert box is not None
    # The plan (800x500) is drawn to fit the layer, centred: aim at its middle.
    layer.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    expect(page.get_by_test_id("map-pin")).to_have_count(1)

    def placed() -> dict[str, object] | None:
        position: dict[str, object] | None = stack.camera(cam["id"])["position"]
        return position

    wait_until(lambda: placed() is not None, 10, "the camera placed")
    position = placed()
    assert position is not None and position["plan_id"] == plan
    assert abs(float(position["x"]) - 0.5) < 0.02 and abs(float(position["y"]) - 0.5) < 0.02  # type: ignore[arg-type]
    page.get_by_test_id("map-heading").fill("90")
    page.get_by_test_id("map-heading").press("Enter")
    page.get_by_test_id("map-heading").blur()
    wait_until(lambda: (placed() or {}).get("heading") == 90, 10, "the heading saved")


def test_the_street_map_shows_the_tile_servers_tiles_and_the_cameras_on_it(
    page: Page, stack: Stack, tiles: TileServer
) -> None:
    cam = stack.add_camera(
        "Square",
        "rtsp://127.0.0.1:9/square",
        position={
            "latitude": 42.6977,
            "longitude": 23.3219,
            "heading": 180,
            "fov": 90,
            "range_m": 60,
        },
    )
    page.add_init_script(CSP_WATCH)  # Leaflet runs under the client's content policy
    page.goto("/#/map?view=street")
    expect(page.get_by_test_id("street-surface")).to_be_visible()
    expect(page.locator("img.leaflet-tile-loaded").first).to_be_visible()
    assert tiles.served, "tiles came from the tile server, through Vigil"
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("Test survey")
    square = page.locator(f'[data-testid="map-pin"][data-camera-id="{cam["id"]}"]')
    expect(square).to_have_count(1)
    expect(page.locator("path.map-cone")).to_have_count(1)
    square.click()
    expect(page.get_by_test_id("map-live-name")).to_have_text("Square")
    assert page.evaluate("window.__cspViolations") == []

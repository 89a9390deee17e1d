"""Stolen vehicles end to end through real processes: a simulated camera shows a vehicle
whose plate is on a register; the recorder reads the plate, the server finds it on the
register and a rule raises a priority-1 alarm that reaches the operator's WebSocket with the
plate crop; the reading's crop and the vehicle's snapshot are served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.analytics.clips import plate_car_clip
from tests.conftest import Stack, require_service, wait_until
from vigil.devices.simulator import Simulator, gstreamer_missing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """A camera where a vehicle with plate CA 1234 AB drives through every 9 s."""
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)
    clips = tmp_path_factory.mktemp("plate-clips")
    files = {"street": plate_car_clip(clips / "car.mp4")}
    with Simulator(files, port=0, cache_dir=clips / "sim-cache") as simulator:
        yield simulator


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    s.start_recorder()
    yield s
    s.stop()


def post(stack: Stack, path: str, body: Any, status: int = 201) -> Any:
    r = stack.client.post(path, json=body)
    assert r.status_code == status, r.text
    return r.json()


def test_a_stolen_vehicle_on_camera_raises_a_priority_1_alarm_with_its_plate(
    stack: Stack, sim: Simulator
) -> None:
    register = post(stack, "/api/registers", {"name": "Stolen", "category": "stolen"})
    entry = {"plate": "CA 1234 AB", "reason": "stolen 2026-12-01", "source": "MVR"}
    post(stack, f"/api/registers/{register['id']}/entries", {"entries": [entry]}, 200)
    rule = {
        "name": "Stolen vehicle",
        "trigger": {
            "kind": "event",
            "event_types": ["watchlist.hit"],
            "attributes": [{"path": "list.category", "op": "eq", "value": "stolen"}],
        },
        "actions": [{"type": "raise_alarm", "priority": 1, "title": "Stolen {plate}"}],
    }
    post(stack, "/api/rules", rule)
    cam = stack.add_camera("Boulevard", sim.url_for("street"))
    stack.wait_status(cam["id"], "online")
    url = f"ws://127.0.0.1:{stack.port}/api/events?topics=alarms,events"
    with connect(url, open_timeout=10, additional_headers=stack.auth_headers) as ws:
        analytics = {
            "enabled": True,
            "detector": {"type": "motion"},
            "behaviours": [{"type": "plate_reading", "classes": ["object"], "countries": ["BG"]}],
        }
        r = stack.client.put(f"/api/cameras/{cam['id']}/analytics", json=analytics)
        assert r.status_code == 200, r.text
        seen: list[dict[str, Any]] = []

        def alarm_raised() -> bool:
            try:
                seen.append(json.loads(ws.recv(timeout=1)))
            except TimeoutError:
                return False
            return any(m["kind"] == "alarm.changed" for m in seen)

        wait_until(alarm_raised, 90, "a stolen-vehicle alarm on the WebSocket", stack.logs)
    hit = next(m["payload"] for m in seen if m["payload"].get("type") == "watchlist.hit")
    assert hit["attributes"]["plate"] == "CA1234AB" and hit["attributes"]["score"] == 1.0
    assert hit["attributes"]["entry"]["reason"] == "stolen 2026-12-01"
    changed = next(m["payload"] for m in seen if m["kind"] == "alarm.changed")
    alarm = stack.client.get(f"/api/alarms/{changed['alarm_id']}").json()
    assert alarm["priority"] == 1 and alarm["event_id"] == hit["id"], alarm
    assert alarm["title"] == "Stolen CA1234AB"
    # The pictures come with it: the vehicle with its plate boxed, and the plate's crop.
    r = stack.client.get(f"/api/events/{hit['id']}/snapshot")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    found = stack.client.get("/api/search", params={"plate": "CA1234AB", "kind": "events"})
    types = {h["type"] for h in found.json()["items"]}
    assert {"plate.read", "watchlist.hit"} <= types, found.text

"""Simulated cameras through real server and recorder processes: record, drop, return,
crash, and report health across the bus."""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests.conftest import Stack, free_port, wait_until
from vigil.devices.simulator import Simulator

pytestmark = pytest.mark.slow


def recorded_seconds(
    timeline: dict[str, object], start: datetime | None = None, end: datetime | None = None
) -> float:
    """Seconds recorded in the timeline's ranges, within [start, end) where given."""
    ranges = timeline["ranges"]
    assert isinstance(ranges, list)
    total = 0.0
    for r in ranges:
        a, b = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
        a, b = max(a, start) if start else a, min(b, end) if end else b
        total += max((b - a).total_seconds(), 0.0)
    return total


def test_camera_is_recorded_gap_free_with_health_and_metrics(
    stack: Stack, simulator: Simulator
) -> None:
    cam = stack.add_camera("entrance", simulator.url_for("pattern"))
    online = stack.wait_status(cam["id"], "online")
    assert online["health"]["video_codec"] == "h264"
    assert (online["health"]["width"], online["health"]["height"]) == (640, 360)
    wait_until(lambda: recorded_seconds(stack.timeline(cam["id"])) >= 7, 30, "7 s recorded")
    timeline = stack.timeline(cam["id"])
    assert timeline["recording"] is True
    assert len(timeline["ranges"]) == 1 and timeline["gaps"] == [], "continuous, no gap"
    health = stack.camera(cam["id"])["health"]
    assert 20 <= health["fps"] <= 30 and health["bitrate_bps"] > 100_000
    samples = {
        (s.name, s.labels.get("camera")): s.value
        for f in text_string_to_metric_families(stack.client.get("/metrics").text)
        for s in f.samples
    }
    assert samples[("vigil_camera_online", "entrance")] == 1.0
    assert samples[("vigil_camera_fps", "entrance")] > 15
    assert samples[("vigil_recorded_bytes", None)] > 0
    # Segments on disk are valid fragmented MP4 starting at keyframes.
    files = sorted((stack.data_dir / "recordings" / str(cam["id"])).rglob("*.mp4"))
    assert len(files) >= 3
    with av.open(str(files[0])) as c:
        assert next(c.decode(video=0)).key_frame


def test_camera_that_drops_mid_segment_leaves_a_gap_and_resumes(
    stack: Stack, clip_dir: Path, h264_clip: Path
) -> None:
    port = free_port()
    with Simulator([h264_clip], port=port, cache_dir=clip_dir / "sim-cache") as sim:
        cam = stack.add_camera("dropper", sim.url_for("pattern"))
        stack.wait_status(cam["id"], "online")
        wait_until(lambda: recorded_seconds(stack.timeline(cam["id"])) >= 3, 20, "3 s recorded")
    # The camera vanished: status says so, and why.
    offline = stack.wait_status(cam["id"], "offline")
    assert offline["health"]["last_error"]
    # Offline can be announced first by the health round ("no frames for 5 s") while the
    # ingest still waits out its read timeout; the segment ends and the gap opens then.
    wait_until(lambda: stack.timeline(cam["id"])["recording"] is False, 30, "recording stopped")
    before = stack.timeline(cam["id"])
    with Simulator([h264_clip], port=port, cache_dir=clip_dir / "sim-cache"):
        stack.wait_status(cam["id"], "online", timeout=40)
        wait_until(
            lambda: (
                len(stack.timeline(cam["id"])["ranges"]) == 2
                and stack.timeline(cam["id"])["recording"]
            ),
            30,
            "recording resumed",
        )
    after = stack.timeline(cam["id"])
    assert len(after["gaps"]) == 1
    assert after["gaps"][0]["reason"], "the gap says why"
    # What was recorded before the drop is still all there.
    assert recorded_seconds(after) >= recorded_seconds(before)
    first_before = before["ranges"][0]
    assert after["ranges"][0]["start"] == first_before["start"]


def wait_failed_attempt(stack: Stack, camera_id: int) -> dict[str, Any]:
    """The health of a camera once an attempt to reach it failed."""
    wait_until(
        lambda: bool(stack.camera(camera_id)["health"]["last_error"]),
        30,
        f"a failed attempt of camera {camera_id}",
        stack.logs,
    )
    health: dict[str, Any] = stack.camera(camera_id)["health"]
    return health


def test_unreachable_camera_is_connecting_and_shows_why(stack: Stack) -> None:
    cam = stack.add_camera("nowhere", f"rtsp://127.0.0.1:{free_port()}/none")
    health = wait_failed_attempt(stack, cam["id"])
    # Offline only after the connect timeout (tests/media/test_ingest.py): a camera still
    # coming at the recorder's start raises no "offline" alarm.
    assert health["status"] == "connecting"
    assert "cannot open stream" in health["last_error"]


def test_status_changes_travel_on_the_bus_to_clients(stack: Stack, simulator: Simulator) -> None:
    ws_url = stack.url.replace("http", "ws") + "/api/events"
    with connect(ws_url, open_timeout=5, additional_headers=stack.auth_headers) as ws:
        cam = stack.add_camera("bus-cam", simulator.url_for("pattern"))
        deadline = datetime.now() + timedelta(seconds=30)
        seen = []
        while datetime.now() < deadline:
            msg = json.loads(ws.recv(timeout=30))
            seen.append(msg)
            if msg["payload"]["camera_id"] == cam["id"] and msg["payload"]["status"] == "online":
                break
        else:
            pytest.fail(f"no online status for camera {cam['id']} on the bus: {seen}")
    assert msg["kind"] == "camera.status" and msg["subject"] == f"cameras.{cam['id']}.status"


def test_recorder_killed_and_restarted_loses_at_most_the_last_fragment(
    stack: Stack, simulator: Simulator
) -> None:
    cam = stack.add_camera("crashy", simulator.url_for("pattern"))
    stack.wait_status(cam["id"], "online")
    wait_until(lambda: recorded_seconds(stack.timeline(cam["id"])) >= 5, 30, "5 s recorded")
    stack.kill_recorder(signal.SIGKILL)
    killed_at = datetime.now().astimezone()
    stack.start_recorder()
    wait_until(lambda: stack.timeline(cam["id"])["recording"], 30, "recording again")
    wait_until(lambda: len(stack.timeline(cam["id"])["ranges"]) >= 2, 30, "second range")
    timeline = stack.timeline(cam["id"])
    assert "recorder stopped unexpectedly" in timeline["gaps"][0]["reason"]
    first_end = datetime.fromisoformat(timeline["ranges"][0]["end"])
    # The open segment was repaired: footage reaches to within one GOP (1 s) of the kill.
    assert killed_at - first_end < timedelta(seconds=2.5)
    # Every finished segment file is readable (the newest one is being written).
    files = sorted((stack.data_dir / "recordings" / str(cam["id"])).rglob("*.mp4"))
    for path in files[:-1]:
        with av.open(str(path)) as c:
            assert next(c.decode(video=0)).key_frame


def test_disabled_camera_stops_recording_and_removed_camera_loses_its_files(
    stack: Stack, simulator: Simulator
) -> None:
    cam = stack.add_camera("temp", simulator.url_for("pattern"))
    stack.wait_status(cam["id"], "online")
    stack.client.patch(f"/api/cameras/{cam['id']}", json={"enabled": False})
    wait_until(lambda: not stack.timeline(cam["id"])["recording"], 20, "recording stopped")
    assert stack.camera(cam["id"])["health"]["status"] == "disabled"
    assert stack.client.delete(f"/api/cameras/{cam['id']}").status_code == 204
    assert not (stack.data_dir / "recordings" / str(cam["id"])).exists()
    r = stack.client.get(f"/api/cameras/{cam['id']}/timeline")
    assert r.status_code == 404


def test_camera_credentials_are_used_but_never_logged_or_returned(
    stack: Stack, simulator: Simulator
) -> None:
    secret = "Zebra-Crossing-9931"
    cam = stack.add_camera(
        "secured", simulator.url_for("pattern"), username="viewer", password=secret
    )
    stack.wait_status(cam["id"], "online")
    unreachable = stack.add_camera(
        "secured-down", f"rtsp://127.0.0.1:{free_port()}/x", username="viewer", password=secret
    )
    failing = wait_failed_attempt(stack, unreachable["id"])
    assert secret not in str(failing)
    assert secret not in stack.client.get("/api/cameras").text
    assert secret not in stack.client.get("/metrics").text
    assert secret not in stack.logs()
    assert secret not in (stack.data_dir / "vigil.db").read_bytes().decode(errors="replace")

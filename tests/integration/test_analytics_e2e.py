"""Live analytics end to end: simulated cameras through real server and recorder processes;
zone, line and dwell events with snapshots; a missing model leaves the camera recording;
invalid zones are refused; the live snapshot zones are drawn on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.clips import scene_clip
from tests.conftest import Stack, require_service, wait_until
from vigil.devices.simulator import Simulator, gstreamer_missing

pytestmark = pytest.mark.slow

SHARED = Path(__file__).resolve().parents[3] / "shared"
PERSON_CLIP = SHARED / "media" / "intel-sample-videos" / "one-by-one-person-detection.mp4"
SHARED_MODELS = SHARED / "models"
WHOLE_IMAGE = [[0, 0], [1, 0], [1, 1], [0, 1]]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """Cameras: ``moving`` (a box crosses a grey scene every 9 s) and, with the shared
    media, ``person`` (people walk into an office, one by one)."""
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)
    clips = tmp_path_factory.mktemp("analytics-clips")
    files = {"moving": scene_clip(clips / "moving.mp4")}
    if PERSON_CLIP.is_file():
        files["person"] = PERSON_CLIP
    with Simulator(files, port=0, cache_dir=clips / "sim-cache") as simulator:
        yield simulator


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One server and recorder for the module (each test uses its own cameras); models
    from the shared folder when it is there."""
    root = tmp_path_factory.mktemp("analytics-stack")
    models = SHARED_MODELS if SHARED_MODELS.is_dir() else root / "models"
    s = Stack(
        root / "data",
        f"sqlite:///{root / 'data' / 'vigil.db'}",
        env={"VIGIL_ANALYTICS__MODELS_DIR": str(models)},
    )
    s.data_dir.mkdir(parents=True)
    s.start_server()
    s.start_recorder()
    yield s
    s.stop()


def put_analytics(stack: Stack, camera_id: int, config: dict[str, Any]) -> dict[str, Any]:
    r = stack.client.put(f"/api/cameras/{camera_id}/analytics", json=config)
    assert r.status_code == 200, r.text
    saved: dict[str, Any] = r.json()
    return saved


def events_of(stack: Stack, camera_id: int) -> list[dict[str, Any]]:
    r = stack.client.get("/api/events", params={"camera_id": camera_id, "limit": 500})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def status_of(stack: Stack, camera_id: int) -> dict[str, Any] | None:
    statuses = stack.client.get("/api/analytics/status").json()
    return next((s for s in statuses if s["camera_id"] == camera_id), None)


def recorded_seconds(stack: Stack, camera_id: int) -> float:
    ranges = stack.timeline(camera_id)["ranges"]
    return sum(
        (datetime.fromisoformat(r["end"]) - datetime.fromisoformat(r["start"])).total_seconds()
        for r in ranges
    )


def test_zone_line_and_dwell_events_appear_with_snapshots(stack: Stack, sim: Simulator) -> None:
    cam = stack.add_camera("box-walk", sim.url_for("moving"))
    stack.wait_status(cam["id"], "online")
    # The motion detector (no model) reports blobs as class "object".
    objects = ["object"]
    put_analytics(
        stack,
        cam["id"],
        {
            "enabled": True,
            "detector": {"type": "motion"},
            "zones": [{"name": "right", "points": [[0.5, 0.3], [1, 0.3], [1, 1], [0.5, 1]]}],
            "lines": [{"name": "middle", "start": [0.45, 1], "end": [0.45, 0]}],
            "behaviours": [
                {"type": "intrusion", "zone": "right", "classes": objects},
                {"type": "line_crossing", "line": "middle", "classes": objects},
                {"type": "loitering", "zone": "right", "dwell_s": 1, "classes": objects},
            ],
        },
    )
    wanted = {"intrusion", "line_crossing", "loitering"}
    wait_until(
        lambda: wanted <= {e["type"] for e in events_of(stack, cam["id"])},
        60,
        f"{wanted} events",
        stack.logs,
    )
    events = {e["type"]: e for e in events_of(stack, cam["id"]) if e["type"] in wanted}
    assert events["intrusion"]["zone"] == "right"
    assert events["line_crossing"]["attributes"]["direction"] == "in"
    assert events["loitering"]["attributes"]["dwell_s"] >= 1
    for event in events.values():
        assert event["object"] and event["object"]["class_name"] == "object", event
        assert event["track"], event
        r = stack.client.get(event["snapshot_url"])
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", event
    status = status_of(stack, cam["id"])
    assert status is not None and status["state"] == "running", status
    wait_until(
        lambda: (status_of(stack, cam["id"]) or {}).get("frames_analysed", 0) > 0,
        20,
        "a status report with rates",
    )
    r = stack.client.get(f"/api/cameras/{cam['id']}/snapshot.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"


def test_a_missing_model_is_reported_and_the_camera_keeps_recording(
    stack: Stack, sim: Simulator
) -> None:
    cam = stack.add_camera("no-model", sim.url_for("moving"))
    stack.wait_status(cam["id"], "online")
    put_analytics(
        stack, cam["id"], {"enabled": True, "detector": {"type": "nanodet", "model": "gone.onnx"}}
    )
    wait_until(
        lambda: (status_of(stack, cam["id"]) or {}).get("state") == "unavailable",
        30,
        "analytics unavailable",
        stack.logs,
    )
    status = status_of(stack, cam["id"])
    assert status is not None and "gone.onnx" in status["error"]
    assert "vigil models install" in status["error"]
    before = recorded_seconds(stack, cam["id"])
    wait_until(lambda: recorded_seconds(stack, cam["id"]) >= before + 4, 30, "recording goes on")
    timeline = stack.timeline(cam["id"])
    assert timeline["recording"] and timeline["gaps"] == []
    assert stack.camera(cam["id"])["health"]["status"] == "online"


def test_invalid_zones_and_references_are_refused_naming_the_field(
    stack: Stack, sim: Simulator
) -> None:
    cam = stack.add_camera("bad-zones", sim.url_for("moving"))
    url = f"/api/cameras/{cam['id']}/analytics"
    bow_tie = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
    r = stack.client.put(url, json={"zones": [{"name": "z", "points": bow_tie}]})
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["field"] == "zones.0.points" and "crosses itself" in error["message"]
    r = stack.client.put(url, json={"zones": [{"name": "z", "points": [[0, 0], [2, 0], [1, 1]]}]})
    assert r.status_code == 422 and "0..1" in r.json()["errors"][0]["message"]
    r = stack.client.put(url, json={"behaviours": [{"type": "intrusion", "zone": "nowhere"}]})
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["field"] == "behaviours.0.zone" and "'nowhere'" in error["message"]
    r = stack.client.put(url, json={"detector": {"type": "yolo-9000"}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "detector" and "known" in r.text
    # Each option that does not fit the detector is named, with the detector's own limits.
    r = stack.client.put(url, json={"detector": {"type": "nanodet", "tiles": 9, "input_size": 330}})
    assert r.status_code == 422
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert set(fields) == {"detector.tiles", "detector.input_size"}, fields
    assert "multiple of 32" in fields["detector.input_size"]
    r = stack.client.put(url, json={"detector": {"type": "motion", "tiles": 2}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "detector.tiles"
    # Nothing was saved.
    assert stack.client.get(url).json()["zones"] == []


def test_snapshot_with_analytics_off_and_the_detector_list(stack: Stack, sim: Simulator) -> None:
    cam = stack.add_camera("zones-to-draw", sim.url_for("moving"))
    stack.wait_status(cam["id"], "online")
    assert stack.client.get(f"/api/cameras/{cam['id']}/analytics").json()["enabled"] is False
    wait_until(
        lambda: stack.client.get(f"/api/cameras/{cam['id']}/snapshot.jpg").status_code == 200,
        20,
        "a snapshot from the live keyframe",
        stack.logs,
    )
    r = stack.client.get(f"/api/cameras/{cam['id']}/snapshot.jpg")
    assert r.content[:2] == b"\xff\xd8"
    detectors = {d["key"]: d for d in stack.client.get("/api/analytics/detectors").json()}
    assert detectors["motion"]["available"] is True
    assert {"centernet", "nanodet"} <= set(detectors)
    # Each with the schema of its options, for the editor (its type is not one).
    nanodet = detectors["nanodet"]["options"]["properties"]
    assert "type" not in nanodet and nanodet["input_size"]["multipleOf"] == 32
    assert nanodet["tiles"] == {**nanodet["tiles"], "default": 1, "minimum": 1, "maximum": 4}
    assert "tiles" not in detectors["motion"]["options"]["properties"]
    # And the motion gate's, with the server's own defaults and limits.
    gate = stack.client.get("/api/analytics/motion-gate").json()["properties"]
    assert gate["tracked_fps"]["default"] == 5.0 and gate["tracked_fps"]["exclusiveMinimum"] == 0
    assert gate["enabled"]["type"] == "boolean"


@pytest.mark.skipif(
    not (PERSON_CLIP.is_file() and (SHARED_MODELS / "nanodet.onnx").is_file()),
    reason="needs the shared media and models",
)
def test_people_in_a_real_clip_raise_person_events(stack: Stack, sim: Simulator) -> None:
    cam = stack.add_camera("office", sim.url_for("person"))
    stack.wait_status(cam["id"], "online")
    put_analytics(
        stack,
        cam["id"],
        {
            "enabled": True,
            "detector": {"type": "nanodet"},
            "zones": [{"name": "office", "points": WHOLE_IMAGE}],
            "behaviours": [{"type": "intrusion", "zone": "office"}],
        },
    )
    wait_until(
        lambda: any(e["type"] == "intrusion" for e in events_of(stack, cam["id"])),
        90,
        "a person event",
        stack.logs,
    )
    event = next(e for e in events_of(stack, cam["id"]) if e["type"] == "intrusion")
    assert event["object"]["class_name"] == "person"
    assert stack.client.get(event["snapshot_url"]).status_code == 200
    status = status_of(stack, cam["id"])
    assert status is not None and status["state"] == "running" and status["detector"] == "nanodet"

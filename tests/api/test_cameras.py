"""Cameras API on SQLite and PostgreSQL: add, list, change, disable, remove, validation."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from vigil.store.db import Database
from vigil.store.models import Camera

CAM = {"name": "Gate 1", "main_url": "rtsp://10.1.2.3:554/main", "location": "North gate"}


def test_add_list_get_change_remove(client: TestClient) -> None:
    r = client.post("/api/cameras", json=CAM)
    assert r.status_code == 201, r.text
    cam = r.json()
    assert cam["name"] == "Gate 1" and cam["enabled"] is True
    assert cam["health"]["status"] == "connecting"
    assert client.get("/api/cameras").json() == [cam]
    assert client.get(f"/api/cameras/{cam['id']}").json() == cam

    r = client.patch(f"/api/cameras/{cam['id']}", json={"notes": "faces the car park"})
    assert r.status_code == 200 and r.json()["notes"] == "faces the car park"
    assert r.json()["location"] == "North gate", "fields left out stay as they are"

    r = client.patch(f"/api/cameras/{cam['id']}", json={"enabled": False})
    assert r.json()["enabled"] is False and r.json()["health"]["status"] == "disabled"

    assert client.delete(f"/api/cameras/{cam['id']}").status_code == 204
    assert client.get(f"/api/cameras/{cam['id']}").status_code == 404
    assert client.get("/api/cameras").json() == []


def test_password_is_encrypted_and_never_returned_or_logged(
    client: TestClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {**CAM, "username": "admin", "password": "Tr0ub4dor&3"}
    r = client.post("/api/cameras", json=body)
    assert r.status_code == 201
    assert "Tr0ub4dor" not in r.text and r.json()["has_password"] is True
    assert "Tr0ub4dor" not in client.get("/api/cameras").text
    with db.session() as s:
        stored = s.get(Camera, r.json()["id"])
        assert stored is not None and stored.password_encrypted
        assert "Tr0ub4dor" not in stored.password_encrypted
    bad = client.post("/api/cameras", json={**body, "name": "x" * 500})
    assert bad.status_code == 422 and "Tr0ub4dor" not in bad.text
    assert "Tr0ub4dor" not in caplog.text


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"name": "", "main_url": "rtsp://h/x"}, "name", "at least 1"),
        ({"name": "a", "main_url": "ftp://h/x"}, "main_url", "unsupported URL scheme"),
        ({"name": "a", "main_url": "rtsp://"}, "main_url", "no host"),
        ({"name": "a", "main_url": "rtsp://u:p@h/x"}, "main_url", "credentials"),
        (
            {"name": "a", "main_url": "rtsp://h/x", "retention_days": -1},
            "retention_days",
            "greater than 0",
        ),
        ({"name": "a", "main_url": "rtsp://h/x", "colour": "red"}, "colour", "not permitted"),
        ({"main_url": "rtsp://h/x"}, "name", "required"),
    ],
)
def test_invalid_camera_is_refused_naming_the_field(
    client: TestClient, body: dict[str, object], field: str, fragment: str
) -> None:
    r = client.post("/api/cameras", json=body)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert any(e["field"] == field and fragment in e["message"] for e in errors), errors


def test_malformed_requests_get_clear_4xx(client: TestClient) -> None:
    r = client.post(
        "/api/cameras", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert client.get("/api/cameras/abc").status_code == 422
    assert client.get("/api/cameras/999").json()["detail"] == "camera 999 not found"
    assert client.patch("/api/cameras/999", json={"notes": "x"}).status_code == 404
    assert client.delete("/api/cameras/999").status_code == 404


def test_duplicate_name_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/cameras", json=CAM).status_code == 201
    r = client.post("/api/cameras", json=CAM)
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    other = client.post("/api/cameras", json={**CAM, "name": "Gate 2"}).json()
    r = client.patch(f"/api/cameras/{other['id']}", json={"name": "Gate 1"})
    assert r.status_code == 409


def test_required_fields_cannot_be_cleared(client: TestClient) -> None:
    cam = client.post("/api/cameras", json=CAM).json()
    assert client.patch(f"/api/cameras/{cam['id']}", json={"name": None}).status_code == 422
    assert client.patch(f"/api/cameras/{cam['id']}", json={"main_url": None}).status_code == 422


def test_timeline_validates_its_window(client: TestClient) -> None:
    cam = client.post("/api/cameras", json=CAM).json()
    base = f"/api/cameras/{cam['id']}/timeline"
    empty = client.get(base).json()
    assert empty["ranges"] == [] and empty["gaps"] == [] and empty["recording"] is False
    r = client.get(base, params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
    assert r.status_code == 422
    r = client.get(base, params={"start": "2026-01-01T00:00:00"})
    assert r.status_code == 422 and "timezone" in r.json()["detail"]
    r = client.get(
        f"/api/cameras/{cam['id']}/export",
        params={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"},
    )
    assert r.status_code == 404 and "no recording" in r.json()["detail"]


def test_openapi_and_metrics_are_published(client: TestClient) -> None:
    client.post("/api/cameras", json=CAM)
    spec = client.get("/api/openapi.json").json()
    assert "/api/cameras" in spec["paths"]
    samples = {
        (sample.name, sample.labels.get("camera")): sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
    }
    assert samples[("vigil_camera_online", "Gate 1")] == 0.0, "no recorder has reported yet"
    assert samples[("vigil_recorded_bytes", None)] == 0.0


def test_health_of_a_silent_recorder_turns_offline(client: TestClient, db: Database) -> None:
    from datetime import timedelta

    from vigil.store import cameras as camera_store
    from vigil.store.models import CameraHealth
    from vigil.store.types import utcnow

    cam = client.post("/api/cameras", json=CAM).json()
    report = camera_store.HealthReport(
        camera_id=cam["id"], node="rec-9", status="online", fps=25.0, bitrate_bps=1e6,
        last_frame_at=utcnow(), last_error=None, video_codec="h264", width=640, height=360,
    )  # fmt: skip
    camera_store.save_health(db, [report])
    assert client.get(f"/api/cameras/{cam['id']}").json()["health"]["status"] == "online"
    with db.session() as s:
        row = s.get(CameraHealth, cam["id"])
        assert row is not None
        row.updated_at = utcnow() - timedelta(minutes=5)
    health = client.get(f"/api/cameras/{cam['id']}").json()["health"]
    assert health["status"] == "offline" and health["fps"] == 0
    assert "recorder rec-9 has not reported since" in health["last_error"]


def test_recording_mode_and_event_retention(client: TestClient, db: Database) -> None:
    cam = client.post("/api/cameras", json=CAM).json()
    assert (cam["recording_mode"], cam["event_retention_days"]) == ("continuous", None)
    body = {**CAM, "name": "Gate 2", "recording_mode": "events", "event_retention_days": 90}
    r = client.post("/api/cameras", json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["recording_mode"], r.json()["event_retention_days"]) == ("events", 90)
    with db.session() as s:
        stored = s.get(Camera, r.json()["id"])
        assert stored is not None and stored.recording_mode == "events"

    r = client.patch(f"/api/cameras/{cam['id']}", json={"recording_mode": "events"})
    assert r.status_code == 200 and r.json()["recording_mode"] == "events"
    r = client.patch(f"/api/cameras/{cam['id']}", json={"event_retention_days": 7.5})
    assert r.json()["event_retention_days"] == 7.5 and r.json()["recording_mode"] == "events"
    r = client.patch(f"/api/cameras/{cam['id']}", json={"event_retention_days": None})
    assert r.json()["event_retention_days"] is None, "event retention can be cleared"

    r = client.patch(f"/api/cameras/{cam['id']}", json={"recording_mode": "sometimes"})
    assert r.status_code == 422
    assert any(e["field"] == "recording_mode" for e in r.json()["errors"]), r.json()
    r = client.patch(f"/api/cameras/{cam['id']}", json={"recording_mode": None})
    assert r.status_code == 422 and "continuous" in r.json()["detail"]
    r = client.post("/api/cameras", json={**CAM, "name": "G3", "event_retention_days": 0})
    assert r.status_code == 422
    assert any(e["field"] == "event_retention_days" for e in r.json()["errors"])


def test_switching_to_events_mode_keeps_what_was_recorded(client: TestClient, db: Database) -> None:
    from datetime import timedelta

    from vigil.store.models import Segment
    from vigil.store.recording_requests import requests_between
    from vigil.store.types import utcnow

    cam = client.post("/api/cameras", json=CAM).json()
    start = utcnow() - timedelta(hours=2)
    with db.session() as s:
        s.add(Segment(camera_id=cam["id"], node="n", path="x.mp4", start=start, end=start))
    assert client.patch(f"/api/cameras/{cam['id']}", json={"recording_mode": "events"}).is_success
    (kept,) = requests_between(db, cam["id"], start, utcnow())
    assert kept.start == start and kept.keep_until is None
    assert "before switching to events mode" in kept.reason
    # Already in events mode: nothing more is asked.
    client.patch(f"/api/cameras/{cam['id']}", json={"recording_mode": "events"})
    assert len(requests_between(db, cam["id"], start, utcnow())) == 1

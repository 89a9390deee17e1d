"""Evidence API: chain integrity, evidence locks, signed export packages."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.media.test_recording import record_file, segments_of
from vigil.config import Settings
from vigil.evidence.verify import verify_package
from vigil.store.db import Database
from vigil.store.types import utcnow


def test_integrity_reports_an_altered_segment(
    client: TestClient, db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    now = utcnow()
    # A file is recorded faster than real time: its segments reach past now.
    window = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }
    good = client.get(f"/api/cameras/{camera_id}/integrity", params=window)
    assert good.status_code == 200 and good.json()["ok"] and good.json()["verified"] == 3
    seg = segments_of(db, camera_id)[2]
    path = settings.recordings_dir / seg.path
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    bad = client.get(f"/api/cameras/{camera_id}/integrity", params=window).json()
    assert not bad["ok"] and bad["problems"][0]["kind"] == "altered"
    assert client.get("/api/cameras/999/integrity").status_code == 404
    naive = client.get(f"/api/cameras/{camera_id}/integrity?start=2026-01-01T00:00:00")
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "start"


def test_locks_are_created_listed_and_released_with_who_and_why(
    client: TestClient, db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    now = utcnow()
    body = {
        "camera_id": camera_id,
        "start": (now - timedelta(minutes=5)).isoformat(),
        "end": now.isoformat(),
        "reason": "case 118",
    }
    created = client.post("/api/evidence-locks", json=body)
    assert created.status_code == 201, created.text
    lock = created.json()
    assert lock["active"] and lock["until"] is None
    listed = client.get(f"/api/evidence-locks?camera_id={camera_id}&active=true").json()
    assert [x["id"] for x in listed] == [lock["id"]]
    released = client.post(
        f"/api/evidence-locks/{lock['id']}/release",
        json={"reason": "case closed"},
    )
    assert released.status_code == 200
    assert released.json()["released_by"] == "admin", "the signed-in user, not a claim"
    assert lock["created_by"] == "admin" and not released.json()["active"]
    again = client.post(f"/api/evidence-locks/{lock['id']}/release", json={"reason": "y"})
    assert again.status_code == 409
    assert client.get(f"/api/evidence-locks?camera_id={camera_id}&active=true").json() == []
    who = {"reason": "y"}
    missing = client.post("/api/evidence-locks/9999/release", json=who)
    assert missing.status_code == 404
    bad = client.post("/api/evidence-locks", json={**body, "camera_id": 999})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "camera_id"
    backwards = client.post("/api/evidence-locks", json={**body, "end": body["start"]})
    assert backwards.status_code == 422
    no_reason = client.post("/api/evidence-locks", json={**body, "reason": ""})
    assert no_reason.status_code == 422


def test_evidence_export_is_a_package_that_verifies(
    client: TestClient, db: Database, settings: Settings, h264_clip: Path, tmp_path: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    assert segs[-1].end is not None
    body = {
        "start": segs[0].start.isoformat(),
        "end": segs[-1].end.isoformat(),
        "reason": "case 118",
        "requested_by": "investigator 7",
    }
    response = client.post(f"/api/cameras/{camera_id}/evidence-export", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    out = tmp_path / "package.zip"
    out.write_bytes(response.content)
    verdict = verify_package(out)
    assert verdict.ok, verdict.problems
    assert verdict.metadata["camera"]["id"] == camera_id
    # The plain MP4 export still works beside it.
    plain = client.get(
        f"/api/cameras/{camera_id}/export", params={"start": body["start"], "end": body["end"]}
    )
    assert plain.status_code == 200 and plain.headers["content-type"] == "video/mp4"
    assert io.BytesIO(plain.content).read(12)[4:8] == b"ftyp"
    nothing = client.post(
        f"/api/cameras/{camera_id}/evidence-export",
        json={**body, "start": "2001-01-01T00:00:00Z", "end": "2001-01-01T01:00:00Z"},
    )
    assert nothing.status_code == 404
    naive = client.post(
        f"/api/cameras/{camera_id}/evidence-export", json={**body, "start": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422


def test_a_camera_with_locked_footage_cannot_be_removed(
    client: TestClient, db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    now = utcnow()
    lock = client.post(
        "/api/evidence-locks",
        json={
            "camera_id": camera_id,
            "start": (now - timedelta(minutes=5)).isoformat(),
            "end": (now + timedelta(minutes=5)).isoformat(),
            "reason": "case 118",
        },
    ).json()
    refused = client.delete(f"/api/cameras/{camera_id}")
    assert refused.status_code == 409 and "evidence lock" in refused.json()["detail"]
    assert segments_of(db, camera_id), "nothing was deleted"
    client.post(
        f"/api/evidence-locks/{lock['id']}/release",
        json={"reason": "case closed"},
    )
    assert client.delete(f"/api/cameras/{camera_id}").status_code == 204

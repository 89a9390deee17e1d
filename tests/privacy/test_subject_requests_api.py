"""The data-subject request API: input checks (uploads included), the whole workflow over
HTTP on generated footage (search, review, erasure; search, redacted signed export, close),
conflicts, permissions and the audit trail."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.media.test_recording import record_file, segments_of
from tests.privacy.footage import clip, draw_plate, shared_face
from vigil.analytics.plates import find_and_read_plates
from vigil.config import Settings
from vigil.evidence.verify import verify_package
from vigil.security import audit
from vigil.security.passwords import hash_password
from vigil.security.tokens import create_token
from vigil.store import cameras as camera_store
from vigil.store import subject_requests as store
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.evidence_locks import create_lock, release_lock
from vigil.store.types import utcnow

BASE = "/api/privacy/requests"
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def plate_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip(tmp_path_factory.mktemp("privacy-api") / "plate.mp4", draw_plate())


def body(
    camera_id: int, *, kind: str = "erasure", plate: str | None = "KA 482 BX"
) -> dict[str, Any]:
    now = utcnow()
    return {
        "kind": kind,
        "subject": "driver of the grey van",
        "legal_reference": "GDPR art. 17, letter 2026-11-20",
        "requester_contact": "subject@example.org",
        "criteria": {
            "camera_ids": [camera_id],
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
            "plate": plate,
        },
    }


def multipart(fields: dict[str, Any], face: tuple[str, bytes, str]) -> dict[str, Any]:
    return {"data": {"request": json.dumps(fields)}, "files": {"face": face}}


def fields_of(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def wait_job(client: TestClient, request_id: int, timeout: float = 90) -> dict[str, Any]:
    """The request once its background job has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row: dict[str, Any] = client.get(f"{BASE}/{request_id}").json()
        if row["job"] is not None and row["job"]["state"] != "running":
            return row
        time.sleep(0.2)
    pytest.fail(f"request {request_id}'s job did not end within {timeout}s")


def jpeg(width: int = 320, height: int = 240) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


def test_requests_are_checked_before_anything_is_stored(client: TestClient, db: Database) -> None:
    camera = camera_store.create_camera(db, name="gate", main_url="rtsp://cam/1")
    ok = client.post(BASE, json=body(camera.id))
    assert ok.status_code == 201, ok.text
    created = ok.json()
    assert (created["status"], created["has_face"], created["hits"]) == ("open", False, 0)
    assert [e["action"] for e in created["record"]] == ["created"]
    assert created["record"][0]["username"] == "admin"

    refused = [
        (client.post(BASE, json=body(999)), 422, "criteria.camera_ids"),
        (client.post(BASE, json=body(camera.id, plate=None)), 422, "criteria.plate"),
        (client.post(BASE, json={**body(camera.id), "kind": "delete"}), 422, "kind"),
    ]
    wrong_range = body(camera.id)
    wrong_range["criteria"]["end"] = wrong_range["criteria"]["start"]
    refused.append((client.post(BASE, json=wrong_range), 422, "criteria"))
    no_face = body(camera.id, plate=None)
    refused += [
        (client.post(BASE, **multipart(no_face, ("f.txt", b"hello", "text/plain"))), 422, "face"),
        (
            client.post(BASE, **multipart(no_face, ("f.jpg", jpeg(), "image/png"))),
            422,
            "face",
        ),
        (client.post(BASE, **multipart(no_face, ("f.jpg", jpeg(), "image/jpeg"))), 422, "face"),
    ]
    for response, status, field in refused:
        assert response.status_code == status, response.text
        assert field in fields_of(response), response.text
    assert "no face found" in refused[-1][0].json()["errors"][0]["message"]
    big = client.post(
        BASE, **multipart(no_face, ("f.jpg", b"\xff\xd8\xff" * 2_000_000, "image/jpeg"))
    )
    assert big.status_code == 413 and "smaller photo" in big.json()["detail"]
    text = client.post(BASE, content=b"kind=access", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert [r["id"] for r in client.get(BASE).json()] == [created["id"]], "nothing else stored"


@sqlite_only
def test_a_reference_face_is_kept_until_the_request_closes(
    client: TestClient, db: Database, settings: Settings
) -> None:
    photo = shared_face("obama.jpg").read_bytes()
    camera = camera_store.create_camera(db, name="hall", main_url="rtsp://cam/2")
    made = client.post(
        BASE, **multipart(body(camera.id, plate=None), ("me.jpg", photo, "image/jpeg"))
    )
    assert made.status_code == 201, made.text
    request_id = made.json()["id"]
    assert made.json()["has_face"]
    face = client.get(f"{BASE}/{request_id}/face")
    assert face.status_code == 200 and face.content == photo
    rejected = client.post(f"{BASE}/{request_id}/reject", json={"reason": "identity not proven"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert not rejected.json()["has_face"]
    assert client.get(f"{BASE}/{request_id}/face").status_code == 404
    assert list((settings.data_dir / "privacy" / "references").iterdir()) == []


@sqlite_only
def test_erasure_workflow_over_the_api(
    client: TestClient, db: Database, settings: Settings, plate_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, plate_clip)
    segs = segments_of(db, camera_id)
    request_id = client.post(BASE, json=body(camera_id)).json()["id"]
    started = client.post(f"{BASE}/{request_id}/search")
    assert started.status_code == 202 and started.json()["status"] == "searching"
    assert client.post(f"{BASE}/{request_id}/search").status_code == 409, "one job at a time"
    row = wait_job(client, request_id)
    assert (row["status"], row["job"]["state"], row["hits"]) == ("review", "done", 1)

    hits = client.get(f"{BASE}/{request_id}/hits").json()
    assert [(h["kind"], h["text"]) for h in hits] == [("plate", "KA482BX")]
    thumb = client.get(hits[0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    aside = client.patch(f"{BASE}/{request_id}/hits/{hits[0]['id']}", json={"selected": False})
    assert aside.status_code == 200 and not aside.json()["selected"]
    erase = {"confirm": "ERASE", "reason": "granted", "pad_s": 0}
    nothing = client.post(f"{BASE}/{request_id}/erase", json=erase)
    assert nothing.status_code == 422 and "nothing to erase" in nothing.text
    client.patch(f"{BASE}/{request_id}/hits/{hits[0]['id']}", json={"selected": True})
    unconfirmed = client.post(f"{BASE}/{request_id}/erase", json={**erase, "confirm": "yes"})
    assert unconfirmed.status_code == 422 and fields_of(unconfirmed) == ["confirm"]
    assert client.post(f"{BASE}/{request_id}/export", json={}).status_code == 409

    erased = client.post(f"{BASE}/{request_id}/erase", json=erase)
    assert erased.status_code == 200, erased.text
    result = erased.json()
    assert result["complete"] and result["request"]["status"] == "completed"
    # The plate was seen at 2 s and 3 s (no padding asked): the 2-4 s segment, whole.
    assert [s["id"] for s in result["record"]["segments"]] == [segs[1].id]
    assert [s.id for s in segments_of(db, camera_id)] == [segs[0].id, segs[2].id]
    window = {
        "start": (utcnow() - timedelta(hours=1)).isoformat(),
        "end": (utcnow() + timedelta(hours=1)).isoformat(),
    }
    integrity = client.get(f"/api/cameras/{camera_id}/integrity", params=window).json()
    assert integrity["ok"] and integrity["deleted_by_policy"] == 1
    assert client.get(hits[0]["thumbnail_url"]).status_code == 404, "photos go at the close"
    again = client.post(f"{BASE}/{request_id}/erase", json=erase)
    assert again.status_code == 409

    record = [e["action"] for e in client.get(f"{BASE}/{request_id}").json()["record"]]
    assert record[:3] == ["created", "search_started", "search_done"]
    assert {"hit_set_aside", "hit_selected", "erase", "completed"} <= set(record)
    trail = audit.iter_entries(db, audit.AuditFilter(action="privacy.request."))
    actions = [(e.action, e.username) for e in trail]
    for action in ("create", "search", "hits", "hit", "erase"):
        assert (f"privacy.request.{action}", "admin") in actions, actions
    assert ("privacy.request.search", None) in actions, "the job's end is audited too"


@sqlite_only
def test_access_export_is_redacted_signed_and_removed_at_the_close(
    client: TestClient, db: Database, settings: Settings, plate_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, plate_clip)
    request_id = client.post(BASE, json=body(camera_id, kind="access")).json()["id"]
    client.post(f"{BASE}/{request_id}/search")
    assert wait_job(client, request_id)["hits"] == 1
    erase = {"confirm": "ERASE", "reason": "x"}
    assert client.post(f"{BASE}/{request_id}/erase", json=erase).status_code == 409
    assert client.post(f"{BASE}/{request_id}/export", json={"hit_ids": [999]}).status_code == 404
    assert client.get(f"{BASE}/{request_id}/export.zip").status_code == 404

    started = client.post(f"{BASE}/{request_id}/export", json={"pad_s": 0.5})
    assert started.status_code == 202, started.text
    row = wait_job(client, request_id, timeout=180)
    assert row["job"]["state"] == "done" and row["export_ready"], row["job"]
    download = client.get(f"{BASE}/{request_id}/export.zip")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    package = settings.data_dir / "download.zip"
    package.write_bytes(download.content)
    verdict = verify_package(package)
    assert verdict.ok, verdict.problems
    clips = verdict.metadata["clips"]
    assert len(clips) == 1 and clips[0]["camera"]["id"] == camera_id
    assert clips[0]["redaction"]["plates_blurred"] >= 1
    with zipfile.ZipFile(package) as zf:
        video = zf.read(clips[0]["file"])
    with av.open(io.BytesIO(video)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) >= 25, "about two seconds around the sightings"
    for frame in frames[:: max(1, len(frames) // 4)]:
        assert all(p.text != "KA482BX" for p in find_and_read_plates(frame)), "plate blurred"

    closed = client.post(f"{BASE}/{request_id}/close", json={"note": "sent to the subject"})
    assert closed.status_code == 200 and closed.json()["status"] == "completed"
    assert not closed.json()["export_ready"]
    assert client.get(f"{BASE}/{request_id}/export.zip").status_code == 404
    assert not any((settings.data_dir / "privacy").rglob("*.zip")), "export deleted at the close"
    assert client.post(f"{BASE}/{request_id}/search").status_code == 409, "closed stays closed"
    trail = [e.action for e in audit.iter_entries(db, audit.AuditFilter(action="privacy."))]
    assert {"privacy.request.export_start", "privacy.request.export"} <= set(trail)
    assert {"privacy.request.download", "privacy.request.close"} <= set(trail)


def test_conflicts_and_permissions(client: TestClient, db: Database, settings: Settings) -> None:
    camera = camera_store.create_camera(db, name="yard", main_url="rtsp://cam/3")
    request_id = client.post(BASE, json=body(camera.id)).json()["id"]
    assert client.post(f"{BASE}/{request_id}/cancel").status_code == 409, "nothing running"
    assert client.post(f"{BASE}/{request_id}/close", json={"note": "n"}).status_code == 409
    assert client.get(f"{BASE}/4242").status_code == 404
    rejected = client.post(f"{BASE}/{request_id}/reject", json={"reason": "not ours"})
    assert rejected.status_code == 200
    assert client.post(f"{BASE}/{request_id}/reject", json={"reason": "x"}).status_code == 409

    user = user_store.create_user(
        db,
        username="op",
        password_hash=hash_password("a long operator password 9"),
        roles=[user_store.Assigned("operator", None)],
    )
    token, _ = create_token(db, user_id=user.id, name="op")
    operator = {"Authorization": f"Bearer {token}"}
    assert client.get(BASE, headers=operator).status_code == 403
    assert client.post(BASE, json=body(camera.id), headers=operator).status_code == 403
    assert client.get(BASE, headers={"Authorization": "Bearer nope"}).status_code == 401
    denied = audit.iter_entries(db, audit.AuditFilter(username="op", outcome="denied"))
    assert [e.target for e in denied] == [BASE, BASE]


def test_a_whole_range_is_erased_once_its_evidence_lock_is_released(
    client: TestClient, db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    request_id = client.post(BASE, json=body(camera_id)).json()["id"]
    store.claim_job(db, request_id, kind="search", username="admin")
    store.finish_job(db, request_id, state="done", detail={})  # searched: nothing found
    lock = create_lock(
        db,
        camera_id=camera_id,
        start=segs[2].start,
        end=segs[2].start + timedelta(seconds=1),
        created_by="investigator 7",
        reason="case 118",
        until=None,
    )
    whole = {"camera_id": camera_id, "start": segs[0].start.isoformat()}
    whole["end"] = (segs[-1].start + timedelta(seconds=1)).isoformat()
    erase = {"confirm": "ERASE", "reason": "granted", "include_hits": False, "ranges": [whole]}
    elsewhere = {**erase, "ranges": [{**whole, "camera_id": camera_id + 1}]}
    outside = client.post(f"{BASE}/{request_id}/erase", json=elsewhere)
    assert outside.status_code == 422 and fields_of(outside) == ["ranges"]
    refused = client.post(f"{BASE}/{request_id}/erase", json=erase)
    assert refused.status_code == 409, refused.text
    assert f"lock {lock.id}" in refused.json()["detail"] and "Nothing was erased" in refused.text
    assert len(segments_of(db, camera_id)) == 3
    release_lock(db, lock.id, released_by="investigator 7", reason="case closed")
    erased = client.post(f"{BASE}/{request_id}/erase", json=erase)
    assert erased.status_code == 200 and erased.json()["complete"], erased.text
    assert segments_of(db, camera_id) == []
    outcomes = [
        e["outcome"]
        for e in client.get(f"{BASE}/{request_id}").json()["record"]
        if e["action"] == "erase"
    ]
    assert outcomes == ["denied", "success"]

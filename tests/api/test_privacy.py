"""Privacy masks through the API: editing (managers only, validated field by field,
audited), and the video of a masked camera for users with and without the unmask
permission: playback, export, evidence export, snapshots and live view."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Stack, wait_until
from tests.media.test_privacy import DOOR, WINDOW, assert_all_masked, deviation, interior
from tests.media.test_recording import record_file, segments_of
from vigil.config import Settings
from vigil.devices.simulator import Simulator
from vigil.domain.permissions import Scope
from vigil.domain.privacy import PrivacyMask
from vigil.evidence.verify import verify_package
from vigil.security.passwords import hash_password
from vigil.security.tokens import create_token
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.privacy import save_masks
from vigil.store.types import utcnow
from vigil.store.users import Assigned

SQUARE = [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.1, 0.3]]


def token_of(db: Database | str, username: str, role: str) -> dict[str, str]:
    """The Authorization header of a new user holding a built-in role on all cameras."""
    database = Database(db) if isinstance(db, str) else db
    try:
        user = user_store.create_user(
            database,
            username=username,
            password_hash=hash_password("a long enough password 1"),
            roles=[Assigned(role, Scope.everywhere())],
        )
        token, _ = create_token(database, user_id=user.id, name="tests")
    finally:
        if isinstance(db, str):
            database.dispose()
    return {"Authorization": f"Bearer {token}"}


def as_json(masks: list[PrivacyMask]) -> dict[str, Any]:
    return {"masks": [m.model_dump(mode="json") for m in masks]}


def camera_id_of(client: TestClient) -> int:
    r = client.post("/api/cameras", json={"name": "Yard", "main_url": "rtsp://127.0.0.1:9/x"})
    assert r.status_code == 201, r.text
    camera_id: int = r.json()["id"]
    return camera_id


def frames_of(data: bytes) -> list[Any]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def shows_window(frames: list[Any]) -> bool:
    hidden = interior([WINDOW], 640, 360)
    return all(deviation(f, hidden) > 50 for f in frames)


# --------------------------------------------------------------------------- editing


def test_masks_are_saved_audited_and_leave_the_camera_running(
    client: TestClient, db: Database
) -> None:
    camera_id = camera_id_of(client)
    url = f"/api/cameras/{camera_id}/privacy-masks"
    assert client.get(url).json() == {"camera_id": camera_id, "masks": []}
    before = client.get(f"/api/cameras/{camera_id}").json()["updated_at"]
    saved = client.put(url, json=as_json([WINDOW, DOOR]))
    assert saved.status_code == 200, saved.text
    expected = {"camera_id": camera_id, **as_json([WINDOW, DOOR])}
    assert client.get(url).json() == saved.json() == expected
    # A mask change is applied live: the camera's row keeps its change time, which the
    # recorder reads as "restart the ingest".
    assert client.get(f"/api/cameras/{camera_id}").json()["updated_at"] == before
    assert client.put(url, json={"masks": []}).json()["masks"] == []
    entries = [
        e
        for e in client.get("/api/audit", params={"limit": 100}).json()["entries"]
        if e["action"] == "camera.privacy_masks"
    ]
    assert len(entries) == 2
    latest = max(entries, key=lambda e: e["id"])
    assert latest["camera_id"] == camera_id and latest["username"] == "admin"
    assert latest["details"]["before"] == ["window", "door"] and latest["details"]["after"] == []
    assert client.get("/api/cameras/999/privacy-masks").status_code == 404
    assert client.put("/api/cameras/999/privacy-masks", json={"masks": []}).status_code == 404


OUTSIDE = [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]
BOW_TIE = [[0, 0], [1, 1], [1, 0], [0, 1]]
INVALID = [
    ([{"name": "x", "points": OUTSIDE}], "masks.0.points", "inside the frame"),
    ([{"name": "x", "points": SQUARE[:2]}], "masks.0.points", "at least 3"),
    ([{"name": "x", "points": BOW_TIE}], "masks.0.points", "crosses itself"),
    ([{"name": "", "points": SQUARE}], "masks.0.name", "at least 1"),
    ([{"name": "a", "points": SQUARE, "colour": "red"}], "masks.0.colour", "not permitted"),
    ([{"name": "a", "points": SQUARE}, {"name": "b", "points": "x"}], "masks.1.points", "valid"),
    ([{"name": "Door", "points": SQUARE}, {"name": "door", "points": SQUARE}], "masks", "both"),
    ([{"name": f"m{i}", "points": SQUARE} for i in range(33)], "masks", "at most 32"),
]
"""Bodies, the field the answer names, and what it says (every rule: tests/domain)."""


def test_invalid_masks_are_refused_naming_the_field_and_change_nothing(
    client: TestClient,
) -> None:
    camera_id = camera_id_of(client)
    url = f"/api/cameras/{camera_id}/privacy-masks"
    assert client.put(url, json=as_json([WINDOW])).status_code == 200
    for masks, field, says in INVALID:
        r = client.put(url, json={"masks": masks})
        assert r.status_code == 422, r.text
        errors = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert field in errors and says in errors[field], (field, errors)
    assert client.put(url, json={"mask": []}).json()["errors"][0]["field"] == "masks"
    assert client.get(url).json()["masks"] == as_json([WINDOW])["masks"]


def test_only_managers_see_or_change_masks(client: TestClient, db: Database) -> None:
    camera_id = camera_id_of(client)
    url = f"/api/cameras/{camera_id}/privacy-masks"
    operator = token_of(db, "olga", "operator")
    assert client.get(url, headers=operator).status_code == 403
    assert client.put(url, json=as_json([WINDOW]), headers=operator).status_code == 403
    client.headers.pop("Authorization")
    assert client.get(url).status_code == 401


# --------------------------------------------------------------------------- recorded video


def test_playback_and_exports_are_masked_without_the_unmask_permission(
    client: TestClient, db: Database, settings: Settings, h264_clip: Path, tmp_path: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    assert segs[-1].end is not None
    start, end = segs[0].start, segs[-1].end
    window = {"start": start.isoformat(), "end": end.isoformat()}
    investigator = token_of(db, "ivan", "investigator")  # playback and export, not unmask
    playback = f"/api/cameras/{camera_id}/playback.mp4"
    export = f"/api/cameras/{camera_id}/export"

    # No masks yet: everyone gets the recording as it is.
    plain = client.get(playback, params={"start": start.isoformat()}, headers=investigator)
    assert plain.status_code == 200 and "x-vigil-masked" not in plain.headers
    assert shows_window(frames_of(plain.content))

    assert save_masks(db, camera_id, [WINDOW])
    for headers, masked in ((investigator, True), ({}, False)):  # {}: the administrator
        r = client.get(playback, params={"start": start.isoformat()}, headers=headers)
        assert r.status_code == 200 and r.headers["x-vigil-start"]
        assert ("x-vigil-masked" in r.headers) is masked
        frames = frames_of(r.content)
        assert len(frames) == 150
        if masked:
            assert_all_masked(frames, [WINDOW])
        else:
            assert shows_window(frames)
        r = client.get(export, params=window, headers=headers)
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        assert ("x-vigil-masked" in r.headers) is masked
        assert (masked and assert_all_masked(frames_of(r.content), [WINDOW]) is None) or (
            not masked and shows_window(frames_of(r.content))
        )
    views = [
        e["details"]
        for e in client.get("/api/audit", params={"limit": 200}).json()["entries"]
        if e["action"] in ("camera.playback", "camera.export") and e["username"] == "ivan"
    ]
    assert [v["masked"] for v in views].count(True) == 2, views

    # The evidence package of a requester without unmask carries the masks, and says so.
    body = {**window, "reason": "case 9", "requested_by": "ivan"}
    for headers, masked in ((investigator, True), ({}, False)):
        r = client.post(f"/api/cameras/{camera_id}/evidence-export", json=body, headers=headers)
        assert r.status_code == 200, r.text
        package = tmp_path / f"package-{masked}.zip"
        package.write_bytes(r.content)
        verdict = verify_package(package)
        assert verdict.ok, verdict.problems
        assert verdict.metadata["privacy_masks"]["applied"] is masked
        with zipfile.ZipFile(package) as zf:
            video = zf.read("video.mp4")
            metadata = json.loads(zf.read("metadata.json"))
        if masked:
            assert metadata["privacy_masks"]["masks"] == as_json([WINDOW])["masks"]
            assert_all_masked(frames_of(video), [WINDOW])
        else:
            assert shows_window(frames_of(video))


# --------------------------------------------------------------------------- live, snapshots


class Viewer:
    """A live viewer's socket: what it received since its latest init."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.chunks: list[bytes] = []  # the init segment, then one fragment per frame
        self.inits = 0

    def read(self, fragments: int) -> None:
        """Read until ``fragments`` more frames came."""
        got = 0
        while got < fragments:
            message = self.ws.recv(timeout=10)
            if isinstance(message, bytes):
                self.chunks.append(message)
                got += len(self.chunks) > 1
            elif json.loads(message)["type"] == "init":
                self.chunks, self.inits = [], self.inits + 1
            else:
                raise AssertionError(f"unexpected message {message}")

    def frames(self) -> list[Any]:
        return frames_of(b"".join(self.chunks))


@contextmanager
def watching(stack: Stack, camera_id: int, headers: dict[str, str]) -> Iterator[Viewer]:
    url = stack.url.replace("http", "ws") + f"/api/cameras/{camera_id}/live"
    with connect(url, open_timeout=10, max_size=None, additional_headers=headers) as ws:
        yield Viewer(ws)


def live_frames(stack: Stack, camera_id: int, headers: dict[str, str], fragments: int) -> list[Any]:
    """The first ``fragments`` frames a new viewer gets."""
    with watching(stack, camera_id, headers) as viewer:
        viewer.read(fragments)
        return viewer.frames()


def snapshot(stack: Stack, camera_id: int, headers: dict[str, str]) -> Any:
    r = httpx.get(f"{stack.url}/api/cameras/{camera_id}/snapshot.jpg", headers=headers)
    assert r.status_code == 200, r.text
    image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.mark.slow
def test_live_and_snapshots_are_masked_without_unmask_and_follow_mask_changes(
    stack: Stack, simulator: Simulator
) -> None:
    camera = stack.add_camera("Lobby", simulator.url_for("pattern"))
    camera_id = camera["id"]
    stack.wait_status(camera_id, "online")
    operator = token_of(stack.db_url, "olga", "operator")  # live, not unmask
    url = f"/api/cameras/{camera_id}/privacy-masks"
    assert stack.client.put(url, json=as_json([WINDOW])).status_code == 200
    window, door = interior([WINDOW], 640, 360), interior([DOOR], 640, 360)
    # The masks reach the recorder over the bus (under load, a moment later): from then on a
    # new viewer's first frame is masked.
    wait_until(
        lambda: deviation(snapshot(stack, camera_id, operator), window) <= 8, 15, "mask applied"
    )

    with watching(stack, camera_id, operator) as viewer:
        viewer.read(25)
        assert_all_masked(viewer.frames(), [WINDOW])
        assert shows_window(live_frames(stack, camera_id, stack.auth_headers, 25))
        assert deviation(snapshot(stack, camera_id, operator), window) <= 8
        assert deviation(snapshot(stack, camera_id, stack.auth_headers), window) > 50

        # A change reaches the recorder over the bus, and the operator's stream (without
        # reconnecting) within seconds.
        changed_at = utcnow()
        assert stack.client.put(url, json=as_json([DOOR])).status_code == 200
        while True:
            viewer.read(10)
            frames = viewer.frames()
            if all(deviation(f, door) <= 6 for f in frames[-3:]):
                break
            assert utcnow() - changed_at < timedelta(seconds=10), "the new mask never came"
        assert viewer.inits == 1, "the same stream went on"
        # Every frame hid one mask or the other: the old one until the new one took over.
        hid = [deviation(f, window) <= 6 or deviation(f, door) <= 6 for f in frames]
        assert all(hid), [n for n, ok in enumerate(hid) if not ok]
        assert all(deviation(f, window) > 50 for f in frames[-3:]), "the old mask is gone"
    # Recording went on through the change: the camera was not restarted.
    assert stack.camera(camera_id)["health"]["status"] == "online"

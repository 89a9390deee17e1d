"""Persons on registers and the face watchlist: enrolment takes photos of one face each and
refuses others, naming them; a face seen where face matching is on and near a listed person
is a watchlist.hit (audited, with its picture); a face on no list leaves nothing; a camera
where face matching is off is refused."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.test_alarms import ctx, portal
from tests.api.test_rules import camera
from vigil.analytics.faces import describe_face, find_faces
from vigil.domain.events import FaceSighting
from vigil.registers.faces import FaceMatcher
from vigil.store.types import utcnow

EXAMPLES = Path(__file__).resolve().parents[3] / "shared/media/face_recognition-examples/examples"
needs_faces = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="needs ../shared/media")


def persons_register(client: TestClient) -> int:
    body = {"name": "Wanted persons", "kind": "persons", "category": "wanted"}
    r = client.post("/api/registers", json=body)
    assert r.status_code == 201, r.text
    register_id: int = r.json()["id"]
    return register_id


def enrol(client: TestClient, register_id: int, name: str, *photos: Path | bytes) -> Any:
    files = [
        ("photos", (p.name, p.read_bytes()) if isinstance(p, Path) else ("blank.png", p))
        for p in photos
    ]
    return client.post(
        f"/api/registers/{register_id}/persons",
        data={"name": name, "reason": "arrest warrant 12/2026"},
        files=files,
    )


def blank_png() -> bytes:
    return cv2.imencode(".png", np.full((240, 320, 3), 128, np.uint8))[1].tobytes()


def sighting(cam: int, descriptor: list[float]) -> FaceSighting:
    picture = cv2.imencode(".jpg", np.zeros((60, 50, 3), np.uint8))[1].tobytes()
    return FaceSighting(
        camera_id=cam,
        at=utcnow(),
        descriptors=[descriptor],
        face_jpeg=base64.b64encode(picture).decode(),
        purpose="wanted persons at the station",
    )


def matcher(client: TestClient) -> FaceMatcher:
    context = ctx(client)
    return FaceMatcher(context.db, context.bus, data_dir=context.settings.data_dir)


def face_matching_on(client: TestClient, cam: int) -> None:
    config = {
        "enabled": True,
        "detector": {"type": "motion"},
        "behaviours": [{"type": "face_matching", "purpose": "wanted persons at the station"}],
    }
    r = client.put(f"/api/cameras/{cam}/analytics", json=config)
    assert r.status_code == 200, r.text


def test_enrolment_refuses_a_photo_without_a_face_and_a_vehicle_register(
    client: TestClient,
) -> None:
    register_id = persons_register(client)
    r = enrol(client, register_id, "Nobody", blank_png())
    assert r.status_code == 422 and "no face found in photo 'blank.png'" in r.text, r.text
    vehicles = client.post("/api/registers", json={"name": "Stolen", "category": "stolen"})
    r = enrol(client, vehicles.json()["id"], "Nobody", blank_png())
    assert r.status_code == 422 and "lists vehicles, not persons" in r.text
    r = client.post(f"/api/registers/{register_id}/persons", data={"name": "No photo"})
    assert r.status_code == 422 and "photos" in r.text


def test_a_camera_without_face_matching_is_refused(client: TestClient) -> None:
    cam = camera(client, "Platform")
    found = portal(client).call(matcher(client).handle, sighting(cam, [0.0] * 128))
    assert found is None
    audit = client.get("/api/audit", params={"action": "face.refused"}).json()["entries"]
    assert [a["camera_id"] for a in audit] == [cam]


@needs_faces
def test_a_listed_face_is_a_hit_and_an_unlisted_one_leaves_nothing(client: TestClient) -> None:
    register_id = persons_register(client)
    train = EXAMPLES / "knn_examples" / "train"
    r = enrol(client, register_id, "Barack Obama", *sorted((train / "obama").iterdir()))
    assert r.status_code == 201, r.text
    assert r.json()["photo_url"] and client.get(r.json()["photo_url"]).status_code == 200
    two = enrol(client, register_id, "Two people", EXAMPLES / "two_people.jpg")
    assert two.status_code == 422 and "2 faces in photo 'two_people.jpg'" in two.text

    cam = camera(client, "Station")
    face_matching_on(client, cam)

    def face_of(path: Path) -> list[float]:
        image = cv2.imread(str(path))
        return [float(v) for v in describe_face(image, find_faces(image)[0])]

    snapshots = ctx(client).settings.data_dir / "snapshots"
    unlisted = sighting(cam, face_of(EXAMPLES / "lin-manuel-miranda.png"))
    assert portal(client).call(matcher(client).handle, unlisted) is None
    assert not snapshots.exists() or not any(snapshots.rglob("*.jpg")), "nothing of it kept"

    probe = sighting(cam, face_of(EXAMPLES / "knn_examples" / "test" / "obama1.jpg"))
    hit = portal(client).call(matcher(client).handle, probe)
    assert hit is not None and hit.type == "watchlist.hit"
    assert hit.attributes["name"] == "Barack Obama" and hit.attributes["distance"] < 0.5
    assert hit.attributes["list"]["category"] == "wanted"
    assert hit.attributes["purpose"] == "wanted persons at the station"
    assert hit.snapshot and (ctx(client).settings.data_dir / hit.snapshot).is_file()
    audit = client.get("/api/audit", params={"action": "face.hit"}).json()["entries"]
    assert [a["details"]["name"] for a in audit] == ["Barack Obama"]

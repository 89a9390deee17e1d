"""Penalty packages of parking overstays: signed, with the photos at arrival and at the
limit and the plate, and checked by ``vigil verify``; other events are refused."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api.test_alarms import ctx
from tests.api.test_rules import camera
from vigil.cli import app
from vigil.domain.events import Event, ObjectRef
from vigil.store.events import save_events
from vigil.store.types import utcnow


def _jpeg(path: Path, shade: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((120, 160, 3), shade, np.uint8)
    path.write_bytes(cv2.imencode(".jpg", image)[1].tobytes())
    return path.name


def overstay(client: TestClient, cam: int) -> Event:
    data = ctx(client).settings.data_dir
    folder = Path("snapshots") / str(cam) / "2026-12-07"
    for name, shade in (("e1", 40), ("e1-arrival", 90), ("e1-plate", 200)):
        _jpeg(data / folder / f"{name}.jpg", shade)
    at = utcnow() - timedelta(minutes=1)
    event = Event(
        type="parked_vehicle",
        at=at,
        camera_id=cam,
        zone="No parking",
        object=ObjectRef(class_name="car", track_id=5, box=(0.1, 0.4, 0.5, 0.9)),
        attributes={
            "stopped_s": 312.5,
            "max_s": 300.0,
            "behaviour": "parked vehicle",
            "arrived_at": (at - timedelta(seconds=312.5)).isoformat(),
            "arrival_photo": str(folder / "e1-arrival.jpg"),
            "plate": "CA1234AB",
            "plate_confidence": 0.97,
            "plate_format": "BG",
            "plate_crop": str(folder / "e1-plate.jpg"),
        },
        snapshot=str(folder / "e1.jpg"),
        source="node-a",
    )
    save_events(ctx(client).db, [event])
    return event


def test_an_overstay_s_penalty_package_verifies(client: TestClient, tmp_path: Path) -> None:
    cam = camera(client, "Main street")
    event = overstay(client, cam)
    body = {"reason": "fine 2026/118", "requested_by": "Fines office"}
    r = client.post(f"/api/events/{event.id}/penalty-package", json=body)
    assert r.status_code == 200, r.text
    assert "penalty_CA1234AB_" in r.headers["content-disposition"]
    package = tmp_path / "penalty.zip"
    package.write_bytes(r.content)
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = set(zf.namelist())
        metadata = json.loads(zf.read("metadata.json"))
        assert cv2.imdecode(np.frombuffer(zf.read("arrival.jpg"), np.uint8), 1).mean() > 80
    assert {"arrival.jpg", "limit.jpg", "plate.jpg", "metadata.json", "manifest.sig"} <= names
    assert metadata["format"] == "vigil-penalty/1"
    assert metadata["offence"]["zone"] == "No parking" and metadata["offence"]["limit_s"] == 300
    assert (
        metadata["vehicle"]["plate"] == "CA1234AB" and metadata["camera"]["name"] == "Main street"
    )
    assert metadata["missing"] == ["video.mp4"], "nothing was recorded in this test"
    result = CliRunner().invoke(app, ["verify", str(package)])
    assert result.exit_code == 0, result.output

    # The package is the evidence: altered, it no longer verifies.
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b"!" if item.filename == "plate.jpg" else data)
    assert CliRunner().invoke(app, ["verify", str(tampered)]).exit_code != 0

    audit = client.get("/api/audit", params={"action": "event.penalty_package"}).json()
    assert [a["details"]["plate"] for a in audit["entries"]] == ["CA1234AB"]


def test_only_a_parked_vehicle_makes_a_penalty_package(client: TestClient) -> None:
    cam = camera(client)
    other = Event(type="intrusion", at=utcnow(), camera_id=cam)
    save_events(ctx(client).db, [other])
    body = {"reason": "x", "requested_by": "y"}
    r = client.post(f"/api/events/{other.id}/penalty-package", json=body)
    assert r.status_code == 422 and "not a parked vehicle" in r.json()["detail"]
    assert client.post("/api/events/nope/penalty-package", json=body).status_code == 404

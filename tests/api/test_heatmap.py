"""Heatmaps: tracks' paths accumulated into a grid, served as JSON and as a transparent PNG."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient

from tests.api.test_alarms import ctx, portal
from tests.api.test_rules import camera
from tests.conftest import wait_until
from vigil.domain.events import TrackEnded
from vigil.search.heatmap import accumulate, grid_size
from vigil.store.models import CameraHealth

T0 = datetime.fromisoformat("2025-03-01T10:00:00+00:00")
PERIOD = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}


def publish_tracks(client: TestClient, *tracks: TrackEnded) -> None:
    for t in tracks:
        portal(client).call(ctx(client).bus.publish, t.subject(), t)
    wait_until(
        lambda: client.get("/api/search", params={"kind": "tracks"}).json()["total"] >= len(tracks),
        10,
        "tracks stored",
    )


def crossing(camera_id: int, cls: str = "person", y: float = 0.5) -> TrackEnded:
    # A fast mover: seen three times while crossing the whole image left to right.
    return TrackEnded(
        camera_id=camera_id,
        track_id=1,
        class_name=cls,
        first_at=T0 + timedelta(minutes=5),
        last_at=T0 + timedelta(minutes=5, seconds=2),
        path=[(0.0, 0.0, y), (1.0, 0.5, y), (2.0, 1.0, y)],
    )


def decode_png(data: bytes) -> npt.NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, "not a PNG"
    return np.asarray(image, np.uint8)


def heat(client: TestClient, camera_id: int, **params: Any) -> dict[str, Any]:
    r = client.get(f"/api/cameras/{camera_id}/heatmap", params={**PERIOD, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_crossing_track_lights_the_cells_along_its_path(client: TestClient) -> None:
    cam = camera(client, "Street")
    publish_tracks(client, crossing(cam))
    grid = heat(client, cam, format="json")
    assert (grid["width"], grid["height"], grid["tracks"]) == (64, 36, 1)
    cells = np.array(grid["cells"])
    assert cells.shape == (36, 64)
    assert cells[18].tolist() == [1] * 64  # continuous, from edge to edge
    assert cells.sum() == 64  # nowhere else, once per cell
    # The class filter: no car crossed.
    assert np.array(heat(client, cam, format="json", classes="car")["cells"]).sum() == 0
    assert heat(client, cam, format="json", classes="car, person")["tracks"] == 1

    r = client.get(f"/api/cameras/{cam}/heatmap", params=PERIOD)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = decode_png(r.content)
    assert image.shape == (360, 640, 4)
    alpha = image[:, :, 3]
    assert alpha[180, 20:620].min() > 0  # the trail, lit across
    assert alpha[:60].max() == 0 and alpha[300:].max() == 0  # transparent where nobody went


def test_an_empty_period_is_an_empty_map(client: TestClient) -> None:
    cam = camera(client, "Quiet")
    publish_tracks(client, crossing(cam))
    later = {
        "since": (T0 + timedelta(days=1)).isoformat(),
        "until": (T0 + timedelta(days=2)).isoformat(),
    }
    grid = heat(client, cam, format="json", **later)
    assert grid["tracks"] == 0 and np.array(grid["cells"]).sum() == 0
    r = client.get(f"/api/cameras/{cam}/heatmap", params=later)
    assert r.status_code == 200
    image = decode_png(r.content)
    assert image.shape[2] == 4 and image[:, :, 3].max() == 0


def test_the_grid_follows_the_camera_aspect(client: TestClient) -> None:
    cam = camera(client, "Square-ish")
    with ctx(client).db.session() as s:
        s.add(CameraHealth(camera_id=cam, node="rec1", status="online", width=640, height=480))
    grid = heat(client, cam, format="json")
    assert (grid["width"], grid["height"]) == (64, 48)
    r = client.get(f"/api/cameras/{cam}/heatmap", params=PERIOD)
    image = decode_png(r.content)
    assert image.shape == (480, 640, 4)


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"since": "2025-03-01T11:00:00Z", "until": "2025-03-01T10:00:00Z"}, 422, "after since"),
        ({"classes": "person,persn"}, 422, "persn"),
        ({"format": "gif"}, 422, "png"),
    ],
)
def test_bad_requests_are_refused_clearly(
    client: TestClient, params: dict[str, str], status: int, says: str
) -> None:
    cam = camera(client, "Any")
    r = client.get(f"/api/cameras/{cam}/heatmap", params=params)
    assert r.status_code == status and says in r.text
    assert client.get("/api/cameras/9999/heatmap").status_code == 404


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1920, 1080), (64, 36)), ((640, 480), (64, 48)), ((None, None), (64, 36))],
)
def test_grid_size(size: tuple[int | None, int | None], expected: tuple[int, int]) -> None:
    assert grid_size(*size) == expected


def test_accumulate_counts_each_track_once_per_cell() -> None:
    loop = [(0, 0.1, 0.1), (1, 0.9, 0.1), (2, 0.9, 0.9), (3, 0.1, 0.9), (4, 0.1, 0.1)]
    still = [(0, 0.5, 0.5)] * 10
    grid = accumulate([loop, loop, still, []], 10, 10)
    assert grid.max() == 2 and grid[1, 1] == 2 and grid[5, 5] == 1 and grid[3, 5] == 0
    assert accumulate([[(0, 1.0, 1.0)]], 4, 4)[3, 3] == 1  # the far edge is in the last cell

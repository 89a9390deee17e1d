"""The map through the real server app: site plans, cameras' positions on them and on the
street map (recording undisturbed), and street tiles relayed from a tile server."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.test_register_access import _as, _role
from tests.api.test_rules import camera
from tests.conftest import authorise
from tests.map_tiles import TileServer, tile_server
from vigil.api.app import create_app
from vigil.config import MapSettings, Settings
from vigil.store.db import Database


def picture(kind: str = "PNG", size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (230, 230, 230)).save(out, kind)
    return out.getvalue()


def add_plan(client: TestClient, name: str, data: bytes, kind: str = "image/png") -> int:
    r = client.post(
        "/api/plans", params={"name": name}, content=data, headers={"Content-Type": kind}
    )
    assert r.status_code == 201, r.text
    plan_id: int = r.json()["id"]
    return plan_id


def test_a_plan_is_uploaded_listed_served_renamed_and_removed(client: TestClient) -> None:
    data = picture("JPEG", (1200, 800))
    plan = add_plan(client, "Station, ground floor", data, "image/jpeg")
    shown = client.get("/api/map").json()
    assert shown["street"] is None, "no tile server configured"
    assert [(p["id"], p["name"], p["width"], p["height"]) for p in shown["plans"]] == [
        (plan, "Station, ground floor", 1200, 800)
    ]
    image = client.get(f"/api/plans/{plan}/image")
    assert image.status_code == 200 and image.content == data
    assert image.headers["content-type"] == "image/jpeg"
    assert "max-age" in image.headers["cache-control"]
    r = client.post("/api/plans", params={"name": "Station, ground floor"}, content=picture())
    assert r.status_code == 409
    r = client.patch(f"/api/plans/{plan}", json={"name": "Station, level 0"})
    assert r.status_code == 200 and r.json()["name"] == "Station, level 0"
    assert client.delete(f"/api/plans/{plan}").status_code == 204
    assert client.get(f"/api/plans/{plan}/image").status_code == 404
    actions = [e["action"] for e in client.get("/api/audit").json()["entries"]]
    assert {"plan.create", "plan.update", "plan.delete"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"", "send the plan's picture"), (b"GIF89a not really", "not a readable")],
)
def test_what_is_not_a_picture_is_refused_naming_the_field(
    client: TestClient, body: bytes, fragment: str
) -> None:
    r = client.post("/api/plans", params={"name": "x"}, content=body)
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "image" and fragment in error["message"]


def test_a_gif_plan_is_refused_by_its_kind(client: TestClient) -> None:
    r = client.post("/api/plans", params={"name": "x"}, content=picture("GIF"))
    assert r.status_code == 422 and "GIF picture" in r.text


def test_a_camera_is_placed_without_restarting_its_recording(client: TestClient) -> None:
    plan = add_plan(client, "Depot", picture())
    cam = camera(client, "Depot gate")
    before = client.get(f"/api/cameras/{cam}").json()
    position = {
        "latitude": 42.6977,
        "longitude": 23.3219,
        "plan_id": plan,
        "x": 0.25,
        "y": 0.75,
        "heading": 90,
        "fov": 60,
    }
    r = client.put(f"/api/cameras/{cam}/position", json=position)
    assert r.status_code == 200, r.text
    after = client.get(f"/api/cameras/{cam}").json()
    assert {k: v for k, v in after["position"].items() if v is not None} == position
    assert after["updated_at"] == before["updated_at"], "the recorder restarts on updated_at"
    # Removing the plan keeps its street position.
    assert client.delete(f"/api/plans/{plan}").status_code == 204
    left = client.get(f"/api/cameras/{cam}").json()["position"]
    assert (left["latitude"], left["plan_id"], left["x"]) == (42.6977, None, None)
    assert client.delete(f"/api/cameras/{cam}/position").status_code == 204
    assert client.get(f"/api/cameras/{cam}").json()["position"] is None


def test_a_camera_can_be_added_already_placed(client: TestClient) -> None:
    plan = add_plan(client, "Hall", picture())
    r = client.post(
        "/api/cameras",
        json={
            "name": "Hall",
            "main_url": "rtsp://10.0.0.1/h",
            "position": {"plan_id": plan, "x": 0.5, "y": 0.5},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["position"]["plan_id"] == plan


@pytest.mark.parametrize(
    ("position", "fragment"),
    [
        ({"latitude": 42.7}, "latitude and longitude together"),
        ({"plan_id": 1, "x": 0.5}, "plan_id, x and y"),
        ({"heading": 10}, "give latitude and longitude, or plan_id"),
        ({"latitude": 91, "longitude": 0}, "less than or equal to 90"),
        ({"plan_id": 999, "x": 0.1, "y": 0.1}, "no plan 999"),
    ],
)
def test_a_position_that_cannot_be_drawn_is_refused(
    client: TestClient, position: dict[str, object], fragment: str
) -> None:
    cam = camera(client, "Somewhere")
    r = client.put(f"/api/cameras/{cam}/position", json=position)
    assert r.status_code == 422
    assert fragment in r.text


def test_viewers_see_the_map_and_only_managers_place_cameras(
    client: TestClient, db: Database
) -> None:
    plan = add_plan(client, "Yard", picture())
    cam = camera(client, "Yard")
    _role(client, "viewers", ["live"])
    viewer = _as(client, db, "viewer", "viewers")
    assert [p["id"] for p in client.get("/api/map", headers=viewer).json()["plans"]] == [plan]
    assert client.get(f"/api/plans/{plan}/image", headers=viewer).status_code == 200
    body = {"plan_id": plan, "x": 0.1, "y": 0.1}
    assert client.put(f"/api/cameras/{cam}/position", json=body, headers=viewer).status_code == 403
    r = client.post("/api/plans", params={"name": "mine"}, content=picture(), headers=viewer)
    assert r.status_code == 403


@pytest.fixture
def tiles() -> Iterator[TileServer]:
    with tile_server() as server:
        yield server


def test_street_tiles_are_relayed_and_kept(settings: Settings, tiles: TileServer) -> None:
    settings.map = MapSettings(
        tile_url=tiles.template, attribution="City survey", center_latitude=42.7, zoom=12
    )
    with TestClient(create_app(settings)) as client:
        authorise(client, settings.db_url)
        street = client.get("/api/map").json()["street"]
        assert street["tiles"] == "/api/map/tiles/{z}/{x}/{y}"
        assert street["attribution"] == "City survey" and street["center"] == [42.7, 0.0]
        for _ in range(2):
            r = client.get("/api/map/tiles/3/4/2")
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(r.content)).size == (256, 256)
        assert tiles.served == ["/3/4/2.png"], "the second came from the server's cache"
        r = client.get("/api/map/tiles/3/8/0")
        assert r.status_code == 404 and "no tile 3/8/0" in r.text
    settings.map = MapSettings(tile_url="http://127.0.0.1:9/{z}/{x}/{y}.png")
    with TestClient(create_app(settings)) as client:
        authorise(client, settings.db_url)
        r = client.get("/api/map/tiles/0/0/0")
        assert r.status_code == 502 and "cannot reach tile server http://127.0.0.1:9" in r.text


def test_without_a_tile_server_tiles_say_how_to_set_one(client: TestClient) -> None:
    r = client.get("/api/map/tiles/0/0/0")
    assert r.status_code == 404 and "map.tile_url" in r.text

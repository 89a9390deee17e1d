"""Every route of the OpenAPI spec, and every WebSocket, refuses callers who are not signed
in; a user limited to one camera never gets another camera's data from any of them; a
route without an access check stops the server from starting."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.test_alarms import fire, manual_rule
from tests.api.test_events_ws import publish
from vigil.api.auth import PUBLIC_PATHS, WS_FORBIDDEN, WS_UNAUTHORISED
from vigil.api.guard import check_routes_guarded
from vigil.config import Settings
from vigil.domain.events import Event
from vigil.security.sessions import SESSION_COOKIE
from vigil.security.tokens import create_token
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.models import AuthSession
from vigil.store.types import utcnow

SECRET_NAME = "SECRET-BRAVO"  # camera B's name: it must appear in no answer to the operator
OP_PASSWORD = "an operator's long passphrase 7"
METHODS = ("get", "post", "put", "patch", "delete")
# Path parameters that name camera B or something of camera B (groups and rules are shared).
OBJECTS_OF_B = ("camera_id", "alarm_id", "event_id", "bookmark_id", "lock_id")
WEBSOCKETS = ("/api/events", "/api/cameras/{camera_id}/live", "/api/internal/bus")


@dataclass
class World:
    """Two cameras with data on each, and an operator of camera A only."""

    a: int
    b: int
    ids: dict[str, str]  # path parameter -> an object of camera B
    op: dict[str, str]  # the operator's Authorization header


def _camera(client: TestClient, name: str) -> int:
    r = client.post("/api/cameras", json={"name": name, "main_url": "rtsp://10.0.0.1/x"})
    assert r.status_code == 201, r.text
    camera_id: int = r.json()["id"]
    return camera_id


@pytest.fixture
def world(client: TestClient, db: Database) -> World:
    a, b = _camera(client, "Alpha"), _camera(client, SECRET_NAME)
    rule = manual_rule(client, "Panic", priority=1)
    fire(client, rule, a)
    alarm_b = fire(client, rule, b)
    event_b = client.get(f"/api/alarms/{alarm_b}").json()["event_id"]
    at = utcnow().isoformat()
    marks = [
        client.post("/api/bookmarks", json={"camera_id": c, "at": at, "label": "m"}) for c in (a, b)
    ]
    lock = client.post(
        "/api/evidence-locks",
        json={"camera_id": b, "start": at, "end": (utcnow() + timedelta(minutes=1)).isoformat(),
              "reason": "case 1"},
    )  # fmt: skip
    assert lock.status_code == 201 and all(m.status_code == 201 for m in marks)
    group = client.post("/api/camera-groups", json={"name": "all", "camera_ids": [a, b]})
    assert group.status_code == 201, group.text
    r = client.post(
        "/api/users",
        json={"username": "op", "password": OP_PASSWORD,
              "roles": [{"role": "operator", "scope": {"cameras": [a]}}]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    user = next(u for u in user_store.list_users(db) if u.username == "op")
    token, _ = create_token(db, user_id=user.id, name="walk")
    ids = {
        "camera_id": str(b),
        "alarm_id": str(alarm_b),
        "event_id": event_b,
        "bookmark_id": str(marks[1].json()["id"]),
        "lock_id": str(lock.json()["id"]),
        "group_id": str(group.json()["id"]),
        "rule_id": str(rule),
    }
    return World(a, b, ids, {"Authorization": f"Bearer {token}"})


def _operations(client: TestClient) -> Iterator[tuple[str, str]]:
    spec = client.get("/api/openapi.json").json()
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "1"), path)


def _mentions_camera(value: Any, camera_id: int) -> bool:
    """Whether an answer carries data of the camera (its id in a camera field)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "camera_id" and item == camera_id:
                return True
            if key == "camera_ids" and camera_id in (item or []):
                return True
            if _mentions_camera(item, camera_id):
                return True
    elif isinstance(value, list):
        return any(_mentions_camera(item, camera_id) for item in value)
    return False


def ws_refusal(
    client: TestClient, url: str, headers: dict[str, str], *, receive: bool = False
) -> int:
    """The close code a WebSocket is refused with (``receive``: it may open, then close)."""
    try:
        with client.websocket_connect(url, headers=headers) as ws:
            if receive:
                ws.receive_text()
    except WebSocketDisconnect as exc:
        return int(exc.code)
    raise AssertionError(f"{url} opened for {headers}")


def test_the_spec_has_the_routes_this_test_walks(client: TestClient) -> None:
    operations = list(_operations(client))
    assert len(operations) > 80, "the OpenAPI spec lost routes"
    assert ("get", "/api/cameras/{camera_id}/playback.mp4") in operations


def test_no_route_answers_without_signing_in(client: TestClient, world: World) -> None:
    anonymous = {"Authorization": ""}
    answered = []
    for method, path in _operations(client):
        url = _fill(path, world.ids)
        r = client.request(method, url, headers=anonymous)
        if path in PUBLIC_PATHS:
            assert r.status_code < 500, (method, url, r.text)
            continue
        if r.status_code != 401:
            answered.append((method, url, r.status_code))
    assert answered == [], "these answered without authentication"
    # Paths that do not exist are not a way to learn anything either.
    assert client.get("/api/no-such-thing", headers=anonymous).status_code == 401
    assert client.get("/metrics", headers=anonymous).status_code == 401
    # The web client's files and the sign-in need no session.
    assert client.get("/", headers=anonymous).status_code == 200
    assert client.get("/api/auth/status", headers=anonymous).status_code == 200


def test_no_websocket_opens_without_signing_in(client: TestClient, world: World) -> None:
    for path in WEBSOCKETS:
        url = _fill(path, world.ids)
        assert ws_refusal(client, url, {"Authorization": ""}) == WS_UNAUTHORISED, url
    # A user's token does not open the recorders' bus hub: only the service token does.
    assert ws_refusal(client, "/api/internal/bus", {}) == WS_UNAUTHORISED


def test_an_operator_of_one_camera_gets_nothing_of_another(
    client: TestClient, world: World
) -> None:
    leaks = []
    for method, path in _operations(client):
        if path in PUBLIC_PATHS or (method != "get" and "{camera_id}" not in path):
            continue
        url = _fill(path, world.ids)
        r = client.request(method, url, headers=world.op)
        assert r.status_code < 500, (method, url, r.text)
        if not r.is_success:
            continue
        if any(f"{{{key}}}" in path for key in OBJECTS_OF_B):
            leaks.append((method, url, r.status_code))  # an object of camera B answered
            continue
        body = r.json() if "json" in r.headers.get("content-type", "") else None
        if SECRET_NAME in r.text or _mentions_camera(body, world.b):
            leaks.append((method, url, r.status_code))
    assert leaks == [], "camera B's data reached an operator of camera A only"
    # What the operator may see is there.
    cameras = client.get("/api/cameras", headers=world.op).json()
    assert [c["id"] for c in cameras] == [world.a]
    alarms = client.get("/api/alarms", headers=world.op).json()["items"]
    assert [x["camera_id"] for x in alarms] == [world.a]
    groups = client.get("/api/camera-groups", headers=world.op).json()
    assert groups[0]["camera_ids"] == [world.a]
    # A refusal names what was missing and is audited.
    r = client.get(f"/api/cameras/{world.b}/timeline", headers=world.op)
    assert r.status_code == 403 and "playback" in r.json()["detail"]
    denied = client.get("/api/audit", params={"action": "access.denied"}).json()["entries"]
    assert any(d["username"] == "op" and d["camera_id"] == world.b for d in denied)
    searches = client.get("/api/audit", params={"action": "search"}).json()["entries"]
    assert any(e["username"] == "op" for e in searches), "the walk's search was audited"


def test_operator_websockets_carry_only_their_cameras(client: TestClient, world: World) -> None:
    assert ws_refusal(client, f"/api/cameras/{world.b}/live", world.op) == WS_FORBIDDEN
    url = f"/api/events?topics=analytics&camera={world.b}"
    assert ws_refusal(client, url, world.op, receive=True) == WS_FORBIDDEN
    with client.websocket_connect("/api/events?topics=events", headers=world.op) as ws:
        publish(client, Event(type="intrusion", at=utcnow(), camera_id=world.b))
        publish(client, Event(type="loitering", at=utcnow(), camera_id=world.a))
        first = json.loads(ws.receive_text())
    assert first["payload"]["camera_id"] == world.a, "camera B's event was not sent"


def test_an_expired_session_cannot_open_a_websocket(
    client: TestClient, world: World, db: Database
) -> None:
    r = client.post("/api/auth/login", json={"username": "op", "password": OP_PASSWORD})
    assert r.status_code == 200, r.text
    cookie = client.cookies[SESSION_COOKIE]
    signed_in = {"Authorization": "", "Cookie": f"{SESSION_COOKIE}={cookie}"}
    with client.websocket_connect("/api/events", headers=signed_in):
        pass  # while the session lasts, it opens
    with db.session() as s:
        for row in s.query(AuthSession).all():
            row.expires_at = utcnow() - timedelta(seconds=1)
    assert ws_refusal(client, "/api/events", signed_in) == WS_UNAUTHORISED
    assert client.get("/api/cameras", headers=signed_in).status_code == 401


def test_a_websocket_from_another_site_is_refused(client: TestClient, world: World) -> None:
    r = client.post("/api/auth/login", json={"username": "op", "password": OP_PASSWORD})
    assert r.status_code == 200
    cookie = {"Authorization": "", "Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}
    headers = {**cookie, "Origin": "https://evil.example"}
    assert ws_refusal(client, "/api/events", headers) == WS_FORBIDDEN


def test_a_route_without_an_access_check_stops_the_server(settings: Settings) -> None:
    router = APIRouter()

    @router.get("/api/forgotten")
    def forgotten() -> dict[str, str]:
        return {"oops": "no check"}

    with pytest.raises(RuntimeError, match="/api/forgotten"):
        check_routes_guarded([router])

"""Inputs through the real server app: webhooks and access control become events (stored by
the rules engine) and can raise alarms whose actions reach real receivers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import authorise, wait_until
from tests.integrations.conftest import Receiver
from vigil.api.app import create_app
from vigil.api.routes.inputs import MAX_BODY_BYTES
from vigil.config import Settings
from vigil.domain.events import Event
from vigil.store import events as event_store
from vigil.store.db import Database


@pytest.fixture
def sqlite_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    """For checks that do not depend on the database."""
    with TestClient(create_app(sqlite_settings)) as c:
        authorise(c, sqlite_settings.db_url)
        yield c


def stored(db: Database, event_id: str) -> Event:
    """The event, once the rules engine has written it."""
    found: list[Event] = []

    def check() -> bool:
        event = event_store.get_event(db, event_id)
        found[:] = [event] if event else []
        return bool(found)

    wait_until(check, 10, f"event {event_id} stored")
    return found[0]


def camera(client: TestClient) -> dict[str, Any]:
    r = client.post("/api/cameras", json={"name": "Door cam", "main_url": "rtsp://10.0.0.9/a"})
    assert r.status_code == 201, r.text
    cam: dict[str, Any] = r.json()
    return cam


def test_webhook_json_and_text_become_input_events(client: TestClient, db: Database) -> None:
    cam = camera(client)
    r = client.post(
        f"/api/inputs/webhook/fire-panel?camera_id={cam['id']}",
        json={"zone": 4, "state": "alarm"},
    )
    assert r.status_code == 202, r.text
    event = stored(db, r.json()["event_id"])
    assert event.type == "input.webhook" and event.camera_id == cam["id"]
    assert event.attributes == {"name": "fire-panel", "payload": {"zone": 4, "state": "alarm"}}

    # curl -d sends form encoding: JSON is still read as JSON, anything else as text.
    r = client.post(
        "/api/inputs/webhook/fire-panel",
        content=b'{"state": "ok"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert stored(db, r.json()["event_id"]).attributes["payload"] == {"state": "ok"}
    r = client.post(
        "/api/inputs/webhook/siren", content=b"ON", headers={"Content-Type": "text/plain"}
    )
    assert stored(db, r.json()["event_id"]).attributes == {"name": "siren", "payload": "ON"}


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "field", "fragment"),
    [
        (
            "/api/inputs/webhook/panel",
            {"content": b"{nope", "headers": {"Content-Type": "application/json"}},
            422,
            "body",
            "not valid JSON",
        ),
        ("/api/inputs/webhook/panel", {"content": b"\xff\xfe"}, 422, "body", "UTF-8"),
        ("/api/inputs/webhook/bad%20name", {"json": {}}, 422, "name", "pattern"),
        ("/api/inputs/webhook/panel?camera_id=999", {"json": {}}, 422, "camera_id", "999"),
        (
            "/api/inputs/webhook/panel",
            {"content": b"x" * (MAX_BODY_BYTES + 1)},
            413,
            None,
            "64 KiB",
        ),
        (
            "/api/inputs/access-control",
            {"json": {"event": "Door Forced", "door": "B2"}},
            422,
            "event",
            "pattern",
        ),
        ("/api/inputs/access-control", {"json": {"event": "door_forced"}}, 422, "door", "required"),
        (
            "/api/inputs/access-control",
            {"json": {"event": "door_forced", "door": "B2", "at": "2025-03-01T12:00:00"}},
            422,
            "at",
            "timezone",
        ),
        (
            "/api/inputs/access-control",
            {"json": {"event": "door_forced", "door": "B2", "camera_id": 999}},
            422,
            "camera_id",
            "does not exist",
        ),
        (
            "/api/inputs/access-control",
            {"json": {"event": "door_forced", "door": "x" * MAX_BODY_BYTES}},
            413,
            None,
            "64 KiB",
        ),
    ],
)
def test_bad_inputs_are_refused_clearly(
    sqlite_client: TestClient,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    field: str | None,
    fragment: str,
) -> None:
    r = sqlite_client.post(path, **kwargs)
    assert r.status_code == status, r.text
    if field is None:
        assert fragment in r.json()["detail"]
    else:
        [error] = [e for e in r.json()["errors"] if e["field"] == field]
        assert fragment in error["message"]


def test_access_control_event_raises_an_alarm_and_calls_the_signed_webhook(
    client: TestClient, db: Database, receiver: Receiver
) -> None:
    cam = camera(client)
    rule = {
        "name": "Door forced",
        "trigger": {"kind": "input", "source": "access_control", "name": "door_forced"},
        "actions": [
            {"type": "raise_alarm", "priority": 1, "category": "access", "title": "{rule}"},
            {"type": "webhook", "url": receiver.url("/soc"), "secret": "k3y"},
        ],
    }
    r = client.post("/api/rules", json=rule)
    assert r.status_code == 201, r.text

    r = client.post(
        "/api/inputs/access-control",
        json={
            "event": "door_forced",
            "door": "B2 north",
            "camera_id": cam["id"],
            "card": "0042",
            "at": "2025-03-01T12:00:00Z",
        },
    )
    assert r.status_code == 202, r.text
    event = stored(db, r.json()["event_id"])
    assert event.type == "access.door_forced" and event.camera_id == cam["id"]
    assert event.attributes == {
        "name": "door_forced",
        "payload": {"door": "B2 north", "card": "0042"},
    }

    [delivery] = receiver.wait()
    timestamp = delivery.headers["x-vigil-timestamp"]
    mac = hmac.new(b"k3y", timestamp.encode() + b"." + delivery.body, hashlib.sha256)
    assert delivery.headers["x-vigil-signature"] == "sha256=" + mac.hexdigest()
    body = delivery.json()
    assert body["event"]["id"] == event.id and body["rule"] == "Door forced"
    alarms = client.get("/api/alarms").json()["items"]
    assert [a["id"] for a in alarms] == [body["alarm_id"]]

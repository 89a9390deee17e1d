"""Register access: who sees a register, edits its entries and is alerted by its hits, by
role. A restricted watchlist is invisible to others, its hits (events, alarms, live
messages, search, a linked centre's feed) reach only the roles it names, clerks edit its
entries without being administrators, and every change of access is audited."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_alarms import ctx, portal
from tests.api.test_registers import stolen_register
from tests.api.test_rules import camera
from tests.conftest import wait_until
from vigil.domain.events import Event, ObjectRef
from vigil.security.tokens import create_token
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.types import utcnow

PASSWORD = "a long enough password 17"
READING = ["live", "playback", "search", "alarms"]


def _role(admin: TestClient, name: str, permissions: list[str]) -> None:
    body = {"name": name, "grants": [{"permissions": permissions, "scope": {"all": True}}]}
    r = admin.post("/api/roles", json=body)
    assert r.status_code == 201, r.text


def _as(admin: TestClient, db: Database, username: str, role: str) -> dict[str, str]:
    """Headers that make a request ``username``'s, a user holding ``role``."""
    r = admin.post(
        "/api/users", json={"username": username, "password": PASSWORD, "roles": [{"role": role}]}
    )
    assert r.status_code == 201, r.text
    user = next(u for u in user_store.list_users(db) if u.username == username)
    token, _ = create_token(db, user_id=user.id, name="tests")
    return {"Authorization": f"Bearer {token}"}


def test_a_restricted_register_is_seen_and_edited_only_by_its_roles(
    client: TestClient, db: Database
) -> None:
    _role(client, "watch officers", READING)
    _role(client, "operators", READING)
    _role(client, "clerks", ["live"])  # not a reader: sees only what it edits
    officer = _as(client, db, "officer", "watch officers")
    operator = _as(client, db, "operator1", "operators")
    clerk = _as(client, db, "clerk", "clerks")
    register_id = stolen_register(client)
    open_register = client.post("/api/registers", json={"name": "Permits", "category": "permit"})
    assert open_register.status_code == 201
    # By default readers see both and only administrators edit.
    assert len(client.get("/api/registers", headers=operator).json()) == 2
    entry = {"entries": [{"plate": "PB1234AA"}]}
    url = f"/api/registers/{register_id}/entries"
    assert client.post(url, json=entry, headers=operator).status_code == 403

    unknown = client.put(f"/api/registers/{register_id}/access", json={"see": ["nobody"]})
    assert unknown.status_code == 422 and "nobody" in unknown.text
    access = {"see": ["watch officers"], "edit": ["clerks"], "alert": ["watch officers"]}
    assert (
        client.put(f"/api/registers/{register_id}/access", json=access, headers=operator)
    ).status_code == 403
    r = client.put(f"/api/registers/{register_id}/access", json=access)
    assert r.status_code == 200, r.text
    assert r.json()["access"] == access and r.json()["editable"] is True  # an administrator

    # The operator no longer sees it: not listed, its entries and photo 404 as if absent.
    assert [x["name"] for x in client.get("/api/registers", headers=operator).json()] == ["Permits"]
    assert client.get(url, headers=operator).status_code == 404
    assert client.post(url, json=entry, headers=operator).status_code == 404
    # The officer sees it, cannot edit it; the clerk (no other permission) edits it.
    listed = client.get("/api/registers", headers=officer).json()
    assert [(x["name"], x["editable"]) for x in listed] == [
        ("Permits", False),
        ("Stolen (MVR)", False),
    ]
    assert len(client.get(url, headers=officer).json()) == 3
    refused = client.post(url, json=entry, headers=officer)
    assert refused.status_code == 403 and "clerks" in refused.text
    assert [x["name"] for x in client.get("/api/registers", headers=clerk).json()] == [
        "Stolen (MVR)"
    ]
    r = client.post(url, json=entry, headers=clerk)
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    csv = {"Content-Type": "text/csv", **clerk}
    r = client.post(f"/api/registers/{register_id}/import", content=b"plate\nPB9\n", headers=csv)
    assert r.status_code == 200 and r.json()["added"] == 1, r.text

    audit = client.get("/api/audit", params={"limit": 1000}).json()["entries"]
    changes = [a for a in audit if a["action"] == "register.access"]
    assert len(changes) == 1 and changes[0]["username"] == "admin"
    assert changes[0]["details"]["before"] == {"see": [], "edit": [], "alert": []}
    assert changes[0]["details"]["alert"] == ["watch officers"]
    edits = {(a["action"], a["username"]) for a in audit if a["action"].startswith("register.")}
    assert {("register.entries", "clerk"), ("register.import", "clerk")} <= edits
    assert ("register.denied", "officer") in edits


def test_a_restricted_register_s_hits_alert_only_its_roles(
    client: TestClient, db: Database
) -> None:
    _role(client, "watch officers", READING)
    _role(client, "operators", READING)
    officer = _as(client, db, "officer", "watch officers")
    operator = _as(client, db, "operator1", "operators")
    register_id = stolen_register(client)
    access = {"alert": ["watch officers"]}
    assert client.put(f"/api/registers/{register_id}/access", json=access).status_code == 200
    cam = camera(client)
    rule = {
        "name": "Stolen vehicle",
        "trigger": {"kind": "event", "event_types": ["watchlist.hit"]},
        "actions": [{"type": "raise_alarm", "priority": 1}],
    }
    assert client.post("/api/rules", json=rule).status_code == 201
    reading = Event(
        type="plate.read",
        at=utcnow(),
        camera_id=cam,
        object=ObjectRef(class_name="car", track_id=4, box=(0.2, 0.3, 0.6, 0.8)),
        attributes={"plate": "CA1234AB", "confidence": 0.93},
        snapshot="snapshots/1/x.jpg",
    )
    # Both watch live; a plain reading reaches both, the hit and its alarm the officer only.
    topics = "/api/events?topics=alarms,events"
    with (
        client.websocket_connect(topics, headers=officer) as officer_ws,
        client.websocket_connect(topics, headers=operator) as operator_ws,
    ):
        portal(client).call(ctx(client).bus.publish, reading.subject(), reading)
        seen: list[dict[str, Any]] = []
        while not any(m["kind"] == "alarm.changed" for m in seen):
            seen.append(json.loads(officer_ws.receive_text()))
        marker = Event(type="test.marker", at=utcnow(), camera_id=cam)
        portal(client).call(ctx(client).bus.publish, marker.subject(), marker)
        others: list[dict[str, Any]] = []
        while not any(m["payload"].get("type") == "test.marker" for m in others):
            others.append(json.loads(operator_ws.receive_text()))
    kinds = {(m["kind"], m["payload"].get("type")) for m in seen}
    assert ("event", "watchlist.hit") in kinds and ("event", "plate.read") in kinds
    assert [m["payload"].get("type") for m in others] == ["plate.read", "test.marker"], others

    alarm_id = next(m["payload"]["alarm_id"] for m in seen if m["kind"] == "alarm.changed")
    hit_id = next(m["payload"]["id"] for m in seen if m["payload"].get("type") == "watchlist.hit")

    def stored() -> bool:
        return any(e["id"] == hit_id for e in client.get("/api/events", headers=officer).json())

    wait_until(stored, 10, "the hit stored")

    def events(headers: dict[str, str]) -> set[str]:
        return {e["type"] for e in client.get("/api/events", headers=headers).json()}

    def alarms(headers: dict[str, str]) -> list[int]:
        page = client.get("/api/alarms", headers=headers).json()
        return [a["id"] for a in page["items"]]

    def found(headers: dict[str, str]) -> set[str]:
        page = client.get("/api/search", params={"plate": "CA1234AB"}, headers=headers).json()
        return {h["type"] for h in page["items"]}

    assert "watchlist.hit" in events(officer) and "watchlist.hit" not in events(operator)
    assert "plate.read" in events(operator)
    assert alarms(officer) == [alarm_id] and alarms(operator) == []
    assert client.get(f"/api/alarms/{alarm_id}", headers=officer).status_code == 200
    assert client.get(f"/api/alarms/{alarm_id}", headers=operator).status_code == 404
    ack = {"state": "acknowledged"}
    r = client.post(f"/api/alarms/{alarm_id}/transition", json=ack, headers=operator)
    assert r.status_code == 404
    snapshot = f"/api/events/{hit_id}/snapshot"
    assert client.get(snapshot, headers=operator).status_code == 404
    assert found(officer) == {"watchlist.hit", "plate.read"}
    assert found(operator) == {"plate.read"}

    # What a linked centre reads with a token of each: the same.
    def fed(headers: dict[str, str], what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = client.get(f"/api/federation/{what}", headers=headers).json()[
            "items"
        ]
        return items

    assert "watchlist.hit" in {e["type"] for e in fed(officer, "events")}
    assert "watchlist.hit" not in {e["type"] for e in fed(operator, "events")}
    assert len(fed(officer, "alarms")) == 1 and fed(operator, "alarms") == []
    # Administrators too are alerted only as the register says.
    assert alarms({}) == []

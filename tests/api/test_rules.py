"""Rules, time profiles and camera groups API on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.store.db import Database
from vigil.store.models import Rule


def camera(client: TestClient, name: str = "Gate", location: str | None = "North") -> int:
    r = client.post(
        "/api/cameras",
        json={"name": name, "main_url": f"rtsp://10.0.0.1/{name}", "location": location},
    )
    assert r.status_code == 201, r.text
    cam_id: int = r.json()["id"]
    return cam_id


RULE: dict[str, Any] = {
    "name": "Door forced",
    "trigger": {"kind": "input", "source": "access_control", "name": "door_forced"},
    "actions": [
        {"type": "raise_alarm", "priority": 1, "category": "access", "sop": ["Call guard"]},
        {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "hunter2"},
    ],
}


def test_rule_crud_and_webhook_secret_never_returned(client: TestClient, db: Database) -> None:
    r = client.post("/api/rules", json=RULE)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert "hunter2" not in r.text
    hook = rule["actions"][1]
    assert hook["secret"] is None and hook["has_secret"] is True
    assert rule["conditions"] == {"time_profile_id": None, "count": None, "cooldown_s": 0}
    assert client.get("/api/rules").json() == [rule]
    assert client.get(f"/api/rules/{rule['id']}").json() == rule
    with db.session() as s:
        stored = s.get(Rule, rule["id"])
        assert stored is not None and "hunter2" not in str(stored.spec)

    # PUT without the secret keeps it (same URL); a new URL has none.
    changed = {
        **RULE,
        "enabled": False,
        "actions": [RULE["actions"][0], {**RULE["actions"][1], "secret": None}],
    }
    r = client.put(f"/api/rules/{rule['id']}", json=changed)
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["actions"][1]["has_secret"] is True
    other = {
        **changed,
        "actions": [RULE["actions"][0], {"type": "webhook", "url": "http://x.test/"}],
    }
    r = client.put(f"/api/rules/{rule['id']}", json=other)
    assert r.json()["actions"][1]["has_secret"] is False

    assert client.delete(f"/api/rules/{rule['id']}").status_code == 204
    assert client.get(f"/api/rules/{rule['id']}").status_code == 404
    assert client.put(f"/api/rules/{rule['id']}", json=RULE).status_code == 404
    assert client.delete(f"/api/rules/{rule['id']}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"trigger": {"kind": "event", "event_types": ["x"], "cameras": [999]}},
            "trigger.cameras.0",
        ),
        (
            {"trigger": {"kind": "event", "event_types": ["x"], "camera_groups": [77]}},
            "trigger.camera_groups.0",
        ),
        ({"conditions": {"time_profile_id": 5}}, "conditions.time_profile_id"),
        ({"actions": [{"type": "record", "camera_id": 998}]}, "actions.0.camera_id"),
    ],
)
def test_unknown_references_are_refused_naming_the_field(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    r = client.post("/api/rules", json={**RULE, **change})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert "does not exist" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**RULE, "actions": []}, "actions"),
        ({**RULE, "actions": [{"type": "raise_alarm", "title": "{nope}"}]}, "body"),
        (
            {**RULE, "trigger": {"kind": "camera_status", "statuses": ["sleepy"]}},
            "trigger.camera_status.statuses",
        ),
        (
            {**RULE, "actions": [{"type": "raise_alarm", "priority": 9}]},
            "actions.0.raise_alarm.priority",
        ),
        ({**RULE, "name": ""}, "name"),
    ],
)
def test_invalid_rules_name_the_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    r = client.post("/api/rules", json=body)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()


def test_duplicate_rule_name_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/rules", json=RULE).status_code == 201
    r = client.post("/api/rules", json=RULE)
    assert r.status_code == 409 and "already exists" in r.json()["detail"]


def test_manual_trigger(client: TestClient) -> None:
    cam = camera(client)
    manual = {**RULE, "name": "Panic", "trigger": {"kind": "manual", "label": "Panic"}}
    rule_id = client.post("/api/rules", json=manual).json()["id"]
    r = client.post(f"/api/rules/{rule_id}/trigger", json={"camera_id": cam, "note": "seen"})
    assert r.status_code == 202, r.text
    body = r.json()
    alarm = client.get(f"/api/alarms/{body['alarm_id']}").json()
    assert alarm["rule_name"] == "Panic" and alarm["camera_name"] == "Gate"
    assert alarm["event"]["id"] == body["event_id"] and alarm["event"]["type"] == "manual"
    assert alarm["event"]["attributes"]["operator"] == "admin", "the signed-in user"

    not_manual = client.post("/api/rules", json={**RULE, "name": "Other"}).json()["id"]
    r = client.post(f"/api/rules/{not_manual}/trigger", json={})
    assert r.status_code == 409 and "manual" in r.json()["detail"]
    r = client.post(f"/api/rules/{rule_id}/trigger", json={"camera_id": 12345})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "camera_id"
    assert client.post("/api/rules/999/trigger", json={}).status_code == 404


def test_time_profiles(client: TestClient) -> None:
    always = {
        "name": "Always",
        "windows": [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "00:00"}],
    }
    r = client.post("/api/time-profiles", json=always)
    assert r.status_code == 201, r.text
    profile = r.json()
    assert profile["active_now"] is True and profile["timezone"] == "UTC"
    assert client.get("/api/time-profiles").json() == [profile]
    r = client.put(
        f"/api/time-profiles/{profile['id']}", json={**always, "timezone": "Europe/Berlin"}
    )
    assert r.status_code == 200 and r.json()["timezone"] == "Europe/Berlin"
    r = client.post("/api/time-profiles", json={**always, "timezone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "timezone"
    assert client.post("/api/time-profiles", json=always).status_code == 409

    rule = client.post(
        "/api/rules", json={**RULE, "conditions": {"time_profile_id": profile["id"]}}
    )
    assert rule.status_code == 201, rule.text
    r = client.delete(f"/api/time-profiles/{profile['id']}")
    assert r.status_code == 409 and "Door forced" in r.json()["detail"]
    client.delete(f"/api/rules/{rule.json()['id']}")
    assert client.delete(f"/api/time-profiles/{profile['id']}").status_code == 204
    assert client.get(f"/api/time-profiles/{profile['id']}").status_code == 404


def test_camera_groups(client: TestClient) -> None:
    a, b = camera(client, "A"), camera(client, "B")
    r = client.post("/api/camera-groups", json={"name": "Centre", "camera_ids": [b, a]})
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["camera_ids"] == sorted([a, b]) and group["description"] is None
    assert client.get("/api/camera-groups").json() == [group]
    r = client.put(
        f"/api/camera-groups/{group['id']}",
        json={"name": "Centre", "description": "d", "camera_ids": [a]},
    )
    assert r.json()["camera_ids"] == [a] and r.json()["description"] == "d"
    r = client.post("/api/camera-groups", json={"name": "X", "camera_ids": [a, 4242]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "camera_ids.1"
    assert client.post("/api/camera-groups", json={"name": "Centre"}).status_code == 409
    rule = {
        **RULE,
        "trigger": {"kind": "event", "event_types": ["x"], "camera_groups": [group["id"]]},
    }
    rule_id = client.post("/api/rules", json=rule).json()["id"]
    assert client.delete(f"/api/camera-groups/{group['id']}").status_code == 409
    client.delete(f"/api/rules/{rule_id}")
    assert client.delete(f"/api/camera-groups/{group['id']}").status_code == 204
    assert client.get(f"/api/camera-groups/{group['id']}").status_code == 404

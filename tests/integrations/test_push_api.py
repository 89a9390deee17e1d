"""Web Push routes through the real server app."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from tests.api.test_register_access import _as, _role
from vigil.config import Settings
from vigil.integrations.webpush import VapidKey, b64url, b64url_decode
from vigil.store.db import Database


def browser_keys() -> dict[str, str]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}


def test_key_is_the_installations_vapid_key(client: TestClient, settings: Settings) -> None:
    key = client.get("/api/push/key").json()["public_key"]
    assert key == VapidKey.for_data_dir(settings.data_dir).public_key
    point = b64url_decode(key)
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    assert len(point) == 65 and "=" not in key
    assert client.get("/api/push/key").json()["public_key"] == key, "kept, not made anew"


def test_subscribe_renew_list_and_unsubscribe(client: TestClient) -> None:
    endpoint = "https://push.example.net/send/abc123"
    sub = {"endpoint": endpoint, "keys": browser_keys(), "label": "Officer Reyes (Android)"}
    r = client.post("/api/push/subscriptions", json={**sub, "expirationTime": None})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["endpoint"] == endpoint and created["label"] == "Officer Reyes (Android)"
    assert "keys" not in created and "p256dh" not in r.text

    # The same browser subscribing again renews its keys: still one subscription.
    r = client.post("/api/push/subscriptions", json={**sub, "keys": browser_keys(), "label": "R."})
    assert r.status_code == 201 and r.json()["id"] == created["id"]
    listed = client.get("/api/push/subscriptions").json()
    assert [(s["id"], s["label"]) for s in listed] == [(created["id"], "R.")]

    r = client.delete("/api/push/subscriptions", params={"endpoint": endpoint})
    assert r.status_code == 204
    assert client.get("/api/push/subscriptions").json() == []
    assert (
        client.delete("/api/push/subscriptions", params={"endpoint": endpoint}).status_code == 204
    )


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"endpoint": "ftp://push.example.net/x"}, "endpoint", "pattern"),
        (
            {"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": "AAAA"}},
            "keys.p256dh",
            "P-256",
        ),
        ({"keys": {**browser_keys(), "auth": "AAAA"}}, "keys.auth", "16-byte"),
        ({"keys": {"auth": b64url(os.urandom(16))}}, "keys.p256dh", "required"),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(
    client: TestClient, change: dict[str, object], field: str, fragment: str
) -> None:
    body = {"endpoint": "https://push.example.net/x", "keys": browser_keys(), **change}
    r = client.post("/api/push/subscriptions", json=body)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field and fragment in e["message"] for e in r.json()["errors"]), r.text


def test_a_subscription_is_its_users_own(client: TestClient, db: Database) -> None:
    """Another user neither lists nor removes a phone subscribed by the administrator; the
    same phone subscribed by that user becomes theirs."""
    _role(client, "dispatch", ["alarms"])
    other = _as(client, db, "dispatcher", "dispatch")
    endpoint = "https://push.example.net/send/shared-phone"
    sub = {"endpoint": endpoint, "keys": browser_keys(), "label": "Shift phone"}
    assert client.post("/api/push/subscriptions", json=sub).status_code == 201
    assert client.get("/api/push/subscriptions", headers=other).json() == []
    r = client.delete("/api/push/subscriptions", params={"endpoint": endpoint}, headers=other)
    assert r.status_code == 204
    assert [s["endpoint"] for s in client.get("/api/push/subscriptions").json()] == [endpoint]
    r = client.post("/api/push/subscriptions", json=sub, headers=other)
    assert r.status_code == 201
    assert client.get("/api/push/subscriptions").json() == []
    assert [s["label"] for s in client.get("/api/push/subscriptions", headers=other).json()] == [
        "Shift phone"
    ]

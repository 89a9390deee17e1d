"""Web Push against a real local push service that checks the VAPID signature and decrypts
the message with the subscriber's keys (as a browser's push service and browser would)."""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from tests.integrations.conftest import Received, Receiver, Reply, make_job
from vigil.config import Settings
from vigil.domain.events import Event
from vigil.domain.permissions import Grant, Permission, Scope
from vigil.integrations import Integrations
from vigil.integrations.webpush import KEY_FILE, VapidKey, b64url, b64url_decode
from vigil.rules.actions import ActionError
from vigil.store import cameras as camera_store
from vigil.store import push as push_store
from vigil.store import registers as register_store
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.users import Assigned

ACTION = {"type": "web_push", "title": "{rule}", "body": "{type} on {camera} at {time}"}


@dataclass
class Browser:
    """A subscriber: its own P-256 key pair and auth secret, as a browser makes them."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )


def verify_vapid(authorization: str, endpoint: str, server_key: str, subject: str) -> None:
    """RFC 8292 as a push service checks it; raises AssertionError or InvalidSignature."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == server_key, "signed with the key the browser subscribed with"
    header_b64, claims_b64, sig_b64 = parts["t"].split(".")
    assert json.loads(b64url_decode(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    sig = b64url_decode(sig_b64)
    assert len(sig) == 64
    der = utils.encode_dss_signature(
        int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    )
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(server_key))
    public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(b64url_decode(claims_b64))
    origin = urlsplit(endpoint)
    assert claims["aud"] == f"{origin.scheme}://{origin.netloc}"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"] == subject


@dataclass
class PushService:
    """The receiving end: subscriptions by path, and what it delivered to each browser."""

    receiver: Receiver
    server_key: str
    subject: str
    browsers: dict[str, Browser] = field(default_factory=dict)
    delivered: dict[str, Any] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    rejected: list[str] = field(default_factory=list)

    def subscribe(self, db: Database, name: str, user: str = "admin") -> str:
        """A phone of ``user`` (made when new: ``admin`` is an administrator)."""
        browser = self.browsers[f"/push/{name}"] = Browser()
        endpoint = self.receiver.url(f"/push/{name}")
        push_store.save_subscription(
            db,
            user_id=user_id(db, user),
            endpoint=endpoint,
            p256dh=browser.p256dh,
            auth=b64url(browser.auth),
            label=name,
        )
        return endpoint

    def answer(self, request: Received) -> Reply:
        if request.path in self.gone:
            return 410, b"subscription expired"
        try:
            verify_vapid(
                request.headers["authorization"],
                self.receiver.url(request.path),
                self.server_key,
                self.subject,
            )
        except (AssertionError, InvalidSignature, KeyError, ValueError) as exc:
            self.rejected.append(f"{request.path}: {exc!r}")
            return 403, b"invalid VAPID token"
        assert request.headers["content-encoding"] == "aes128gcm"
        assert int(request.headers["ttl"]) > 0
        browser = self.browsers[request.path]
        plain = http_ece.decrypt(
            request.body,
            private_key=browser.private_key,
            auth_secret=browser.auth,
            version="aes128gcm",
        )
        self.delivered[request.path] = json.loads(plain)
        return 201, b""


def user_id(db: Database, username: str, *roles: Assigned) -> int:
    """The id of a user, made with these roles (an administrator without) when new."""
    user_store.ensure_builtin_roles(db)
    found = {u.username: u.id for u in user_store.list_users(db)}
    if username in found:
        return found[username]
    roles = roles or (Assigned("administrator", None),)
    return user_store.create_user(db, username=username, password_hash="x", roles=roles).id


@pytest.fixture
def push_service(
    integrations: Integrations, receiver: Receiver, sqlite_settings: Settings
) -> PushService:
    service = PushService(receiver, integrations.vapid.public_key, sqlite_settings.push.subject)
    receiver.answer = service.answer
    return service


async def test_push_is_signed_encrypted_and_decrypted_by_each_browser(
    integrations: Integrations, push_service: PushService, sqlite_db: Database
) -> None:
    push_service.subscribe(sqlite_db, "phone-a")
    push_service.subscribe(sqlite_db, "phone-b")

    outcome = await integrations.executors["web_push"](make_job(ACTION, alarm_id=12))

    assert outcome == "pushed to 2 device(s)", push_service.rejected
    assert push_service.rejected == []
    for path in ("/push/phone-a", "/push/phone-b"):
        message = push_service.delivered[path]
        assert message["title"] == "Door forced"
        assert message["body"] == "access door forced on Gate 1 at 2025-03-01 12:30:00 UTC"
        assert message["alarm_id"] == 12 and message["url"] == "/#/alarms/12"
        assert message["priority"] == 1


async def test_gone_subscription_is_removed_others_still_delivered(
    integrations: Integrations, push_service: PushService, sqlite_db: Database
) -> None:
    kept = push_service.subscribe(sqlite_db, "kept")
    push_service.subscribe(sqlite_db, "expired")
    push_service.gone.add("/push/expired")

    outcome = await integrations.executors["web_push"](make_job(ACTION))

    assert outcome == "pushed to 1 device(s); removed 1 expired subscription(s)"
    assert [s.endpoint for s in push_store.list_subscriptions(sqlite_db)] == [kept]


async def test_push_signed_with_another_key_is_refused_and_recorded(
    integrations: Integrations, push_service: PushService, sqlite_db: Database
) -> None:
    # The push service knows the key the browser subscribed with; another key must fail.
    push_service.server_key = VapidKey(ec.generate_private_key(ec.SECP256R1())).public_key
    push_service.subscribe(sqlite_db, "phone")

    with pytest.raises(ActionError, match="returned 403") as failure:
        await integrations.executors["web_push"](make_job(ACTION))

    assert failure.value.retry is False
    assert push_service.delivered == {} and len(push_service.rejected) == 1
    [sub] = push_store.list_subscriptions(sqlite_db)
    assert sub.last_error is not None and "403" in sub.last_error


async def test_without_subscriptions_nothing_is_sent(
    integrations: Integrations, receiver: Receiver
) -> None:
    outcome = await integrations.executors["web_push"](make_job(ACTION))
    assert outcome is not None and "nothing sent" in outcome
    assert receiver.requests == []


def test_vapid_key_is_made_once_and_kept_private(sqlite_settings: Settings) -> None:
    first = VapidKey.for_data_dir(sqlite_settings.data_dir)
    path = sqlite_settings.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert VapidKey.for_data_dir(sqlite_settings.data_dir).public_key == first.public_key
    raw = b64url_decode(first.public_key)
    assert len(raw) == 65 and raw[0] == 4 and "=" not in first.public_key


async def test_a_phone_is_notified_only_of_alarms_its_user_may_see(
    integrations: Integrations, push_service: PushService, sqlite_db: Database
) -> None:
    """An operator's phone hears of its own cameras' alarms, not of others'; a hit on a
    watchlist reaches only the roles the list alerts; a disabled user's phone hears nothing."""
    gate, depot = (
        camera_store.create_camera(sqlite_db, name=n, main_url=f"rtsp://127.0.0.1/{n}").id
        for n in ("gate", "depot")
    )
    user_id(sqlite_db, "gate-officer", Assigned("operator", Scope.of(cameras=[gate])))
    push_service.subscribe(sqlite_db, "gate-phone", user="gate-officer")
    push_service.subscribe(sqlite_db, "admin-phone")
    user_id(sqlite_db, "left", Assigned("administrator", None))
    push_service.subscribe(sqlite_db, "left-phone", user="left")
    user_store.update_user(sqlite_db, user_id(sqlite_db, "left"), disabled=True)
    executor = integrations.executors["web_push"]

    def at(camera: int, **attributes: object) -> Event:
        return Event(
            type="motion",
            at=datetime(2025, 3, 1, tzinfo=UTC),
            camera_id=camera,
            attributes=attributes,
        )

    assert await executor(make_job(ACTION, event=at(depot))) == "pushed to 1 device(s)"
    assert set(push_service.delivered) == {"/push/admin-phone"}
    push_service.delivered.clear()
    assert await executor(make_job(ACTION, event=at(gate))) == "pushed to 2 device(s)"
    assert set(push_service.delivered) == {"/push/admin-phone", "/push/gate-phone"}
    push_service.delivered.clear()
    # A hit on a list that alerts only "watch officers": neither phone's user holds it.
    wanted = register_store.create_register(
        sqlite_db, name="Wanted", category="wanted", access={"alert": ["watch officers"]}
    )
    hit = Event(
        type="watchlist.hit",
        at=datetime(2025, 3, 1, tzinfo=UTC),
        camera_id=gate,
        attributes={"list": {"id": wanted.id, "name": "Wanted"}},
    )
    outcome = await executor(make_job(ACTION, event=hit))
    assert outcome is not None and "nothing sent" in outcome
    assert push_service.delivered == {}
    user_store.save_role(
        sqlite_db,
        role_id=None,
        name="watch officers",
        description=None,
        grants=[Grant(frozenset({Permission.ALARMS}), Scope.everywhere())],
    )
    user_id(sqlite_db, "officer", Assigned("watch officers", None))
    push_service.subscribe(sqlite_db, "officer-phone", user="officer")
    assert await executor(make_job(ACTION, event=hit)) == "pushed to 1 device(s)"
    assert set(push_service.delivered) == {"/push/officer-phone"}

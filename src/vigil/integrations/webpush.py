"""Web Push action (RFC 8030/8291/8292): an encrypted title and body to every subscribed
browser, authenticated with the installation's VAPID key.

The VAPID key is made on first start and kept in the data directory (``vapid.pem``, mode
0600), like the secrets key: changing it invalidates every subscription, so it must persist.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher

from vigil.config import PushSettings
from vigil.domain.events import event_register
from vigil.domain.rules import PRIORITY_NAMES, WebPush, render
from vigil.integrations.delivery import TIMEOUT, display_url
from vigil.rules.actions import ActionError, ActionJob
from vigil.security.secrets import installation_secret, private_pem
from vigil.store import push as push_store
from vigil.store.db import Database
from vigil.store.models import PushSubscription

KEY_FILE = "vapid.pem"
# RFC 8292: a token may be valid for at most 24 h; push services may refuse longer ones.
TOKEN_LIFETIME_S = 12 * 3600
# 404 and 410: the subscription expired or the user revoked it; it will never work again.
GONE = frozenset({404, 410})


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding, as Web Push encodes keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode URL-safe base64 with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VapidKey:
    """The installation's VAPID key pair (P-256)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._vapid = Vapid02(private_key=private_key)
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = b64url(point)
        """The application server key browsers subscribe with (uncompressed point, base64url)."""

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> VapidKey:
        """The key in the data directory, created (mode 0600) on first use."""
        path = data_dir / KEY_FILE
        pem = installation_secret(
            path, lambda: private_pem(ec.generate_private_key(ec.SECP256R1()))
        )
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{path} is not a P-256 private key: remove it to make a new one")
        return cls(key)

    def authorization(self, endpoint: str, subject: str) -> str:
        """The ``Authorization: vapid t=<JWT>,k=<key>`` header for one push service."""
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + TOKEN_LIFETIME_S,
            "sub": subject,
        }
        header: dict[str, str] = self._vapid.sign(claims)
        return header["Authorization"]


@dataclass(frozen=True, slots=True)
class _Result:
    subscription: PushSubscription
    error: str | None = None
    gone: bool = False
    retry: bool = True


_PRIORITIES = {name: number for number, name in PRIORITY_NAMES.items()}


def notification(job: ActionJob) -> dict[str, Any]:
    """What the service worker receives (JSON): title and body, plus where to go."""
    action = job.action
    assert isinstance(action, WebPush)
    url = f"/#/alarms/{job.alarm_id}" if job.alarm_id is not None else "/"
    return {
        "title": render(action.title, job.values),
        "body": render(action.body, job.values),
        "alarm_id": job.alarm_id,
        "event_id": job.event.id,
        "camera_id": job.event.camera_id,
        "type": job.event.type,
        "rule": job.rule_name,
        "priority": _PRIORITIES.get(str(job.values.get("priority", ""))),
        "url": url,
        "tag": f"vigil-alarm-{job.alarm_id}" if job.alarm_id is not None else job.event.id,
    }


class WebPushSender:
    """The ``web_push`` executor: one message to every subscription."""

    def __init__(
        self, *, db: Database, key: VapidKey, settings: PushSettings, client: httpx.AsyncClient
    ) -> None:
        self._db = db
        self._key = key
        self._settings = settings
        self._client = client

    async def __call__(self, job: ActionJob) -> str:
        """Push to the devices of the users who may see the alarm; remove the gone ones;
        fail only when none got it."""
        event = job.event
        register = event_register(event)
        subs = await asyncio.to_thread(push_store.recipients, self._db, event.camera_id, register)
        if not subs:
            return "no device of a user who may see this alarm is subscribed; nothing sent"
        data = json.dumps(notification(job)).encode()
        results = await asyncio.gather(*(self._send(sub, data) for sub in subs))
        gone = [r.subscription.id for r in results if r.gone]
        kept = [r for r in results if not r.gone]
        await asyncio.to_thread(push_store.remove_subscriptions, self._db, gone)
        await asyncio.to_thread(
            push_store.record_results, self._db, {r.subscription.id: r.error for r in kept}
        )
        sent = [r for r in kept if r.error is None]
        failed = [r for r in kept if r.error is not None]
        removed = f"; removed {len(gone)} expired subscription(s)" if gone else ""
        if not sent:
            if not failed:
                raise ActionError(f"every subscribed device has unsubscribed{removed}", retry=False)
            errors = "; ".join(r.error or "" for r in failed[:3])
            raise ActionError(
                f"Web Push failed for all {len(failed)} device(s): {errors}{removed}",
                retry=any(r.retry for r in failed),
            )
        outcome = f"pushed to {len(sent)} device(s)"
        if failed:
            outcome += f"; {len(failed)} failed: " + "; ".join(r.error or "" for r in failed[:3])
        return outcome + removed

    async def _send(self, sub: PushSubscription, data: bytes) -> _Result:
        shown = f"push service {display_url(sub.endpoint)}"
        try:
            pusher = WebPusher(
                {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
            )
            body: bytes = pusher.encode(data, "aes128gcm")["body"]
            headers = {
                "Authorization": self._key.authorization(sub.endpoint, self._settings.subject),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "TTL": str(self._settings.ttl_s),
                "Urgency": "high",
            }
        except Exception as exc:  # a malformed stored key, a subject the VAPID library refuses
            return _Result(sub, f"cannot encrypt for {shown}: {exc}", retry=False)
        try:
            r = await self._client.post(sub.endpoint, content=body, headers=headers)
        except httpx.TimeoutException:
            return _Result(sub, f"{shown} did not answer within {TIMEOUT.read:g} s")
        except httpx.HTTPError as exc:
            return _Result(sub, f"cannot reach {shown}: {exc or type(exc).__name__}")
        if r.is_success:
            return _Result(sub)
        if r.status_code in GONE:
            return _Result(sub, gone=True)
        permanent = 400 <= r.status_code < 500 and r.status_code not in (408, 429)
        detail = " ".join(r.text.split())[:200]
        return _Result(
            sub,
            f"{shown} returned {r.status_code} {r.reason_phrase}"
            + (f": {detail}" if detail else ""),
            retry=not permanent,
        )

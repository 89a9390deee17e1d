"""Webhook action: POST the event (and alarm) as JSON, signed with HMAC-SHA256.

Receivers verify a delivery by recomputing the signature (see docs/mqtt.md, "Webhooks")::

    X-Vigil-Timestamp: 1718000000
    X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

and refuse timestamps more than a few minutes old (replay protection). ``X-Vigil-Delivery``
(``<run id>-<attempt>``) is unique per attempt; the run id part repeats across retries, so
receivers can drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from vigil import __version__
from vigil.domain.rules import Webhook
from vigil.integrations import delivery
from vigil.rules.actions import ActionError, ActionJob

SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
DELIVERY_HEADER = "X-Vigil-Delivery"
EVENT_HEADER = "X-Vigil-Event"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Vigil-Signature`` value for a body sent at ``timestamp`` (Unix seconds).

    >>> signature("s3cret", 1700000000, b'{"a":1}')[:15]
    'sha256=1698a50b'
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def delivery_body(job: ActionJob) -> bytes:
    """The JSON a webhook receives."""
    body: dict[str, Any] = {
        "rule": job.rule_name,
        "rule_id": job.rule_id,
        "alarm_id": job.alarm_id,
        "event": job.event.model_dump(mode="json"),
        "values": job.values,
        "delivery": delivery_id(job),
    }
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def delivery_id(job: ActionJob) -> str:
    """Unique per attempt; the part before the dash is the same for every retry."""
    return f"{job.run_id}-{job.attempt}"


class WebhookSender:
    """The ``webhook`` executor."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def __call__(self, job: ActionJob) -> str:
        """Deliver one attempt; raise :class:`ActionError` when the receiver did not take it."""
        action = job.action
        assert isinstance(action, Webhook)
        url = str(action.url)
        body = delivery_body(job)
        timestamp = int(time.time())
        try:
            headers = httpx.Headers(action.headers)
        except (UnicodeError, ValueError) as exc:
            raise ActionError(
                f"the webhook's custom headers are invalid: {exc}", retry=False
            ) from None
        # Vigil's own headers win over custom ones of the same name.
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = f"Vigil/{__version__}"
        headers[EVENT_HEADER] = job.event.type
        headers[DELIVERY_HEADER] = delivery_id(job)
        headers[TIMESTAMP_HEADER] = str(timestamp)
        if action.secret:
            headers[SIGNATURE_HEADER] = signature(action.secret, timestamp, body)
        response = await delivery.post(
            self._client, url, what="webhook", content=body, headers=headers
        )
        return f"webhook {delivery.display_url(url)} answered {response.status_code}"

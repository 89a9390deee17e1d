"""Webhooks and HTTP signs against a real HTTP receiver that verifies the signature."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from tests.conftest import free_port
from tests.integrations.conftest import Received, Receiver, make_job
from vigil.integrations import Integrations
from vigil.rules.actions import ActionError

SECRET = "correct horse battery staple"


def verify(request: Received, secret: str, *, max_age_s: float = 300) -> bool:
    """What a receiver does (docs/mqtt.md): recompute the HMAC over "<timestamp>.<body>"
    and refuse old timestamps."""
    timestamp = request.headers["x-vigil-timestamp"]
    if abs(time.time() - int(timestamp)) > max_age_s:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
    given = request.headers.get("x-vigil-signature", "")
    return hmac.compare_digest(given, "sha256=" + expected.hexdigest())


async def test_webhook_is_signed_and_carries_event_and_alarm(
    integrations: Integrations, receiver: Receiver
) -> None:
    receiver.answer = lambda r: (204, b"") if verify(r, SECRET) else (401, b"bad signature")
    action = {
        "type": "webhook",
        "url": receiver.url("/hooks/vigil?token=abc"),
        "secret": SECRET,
        "headers": {"X-Site": "north", "X-Vigil-Signature": "forged"},
    }
    job = make_job(action, run_id=41, attempt=2)

    outcome = await integrations.executors["webhook"](job)

    assert outcome == f"webhook http://127.0.0.1:{receiver.port}/hooks/vigil answered 204"
    [got] = receiver.wait()
    assert got.path == "/hooks/vigil?token=abc"
    assert verify(got, SECRET), "the receiver's own HMAC check passes"
    assert not verify(got, "another secret")
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-vigil-event"] == "access.door_forced"
    assert got.headers["x-vigil-delivery"] == "41-2"
    assert got.headers["x-site"] == "north", "custom headers are sent"
    body = got.json()
    assert body["rule"] == "Door forced" and body["alarm_id"] == 7 and body["rule_id"] == 5
    assert body["event"]["id"] == job.event.id and body["event"]["camera_id"] == 3
    assert body["event"]["attributes"]["payload"] == {"door": "B2"}
    assert body["values"]["camera"] == "Gate 1" and body["values"]["priority"] == "critical"


async def test_webhook_without_secret_is_unsigned(
    integrations: Integrations, receiver: Receiver
) -> None:
    await integrations.executors["webhook"](make_job({"type": "webhook", "url": receiver.url()}))
    [got] = receiver.wait()
    assert "x-vigil-signature" not in got.headers and "x-vigil-timestamp" in got.headers


@pytest.mark.parametrize(
    ("status", "retry"),
    [(503, True), (500, True), (429, True), (408, True), (404, False), (400, False), (301, False)],
)
async def test_webhook_failures_say_whether_to_retry(
    integrations: Integrations, receiver: Receiver, status: int, retry: bool
) -> None:
    receiver.answer = lambda _: (status, b"receiver says no")
    with pytest.raises(ActionError) as failure:
        await integrations.executors["webhook"](
            make_job({"type": "webhook", "url": receiver.url("/in?key=s3cr3t")})
        )
    assert failure.value.retry is retry
    message = str(failure.value)
    assert f"webhook http://127.0.0.1:{receiver.port}/in" in message
    assert "s3cr3t" not in message, "query strings (tokens) stay out of operators' view"
    if status != 301:
        assert f"returned {status}" in message and "receiver says no" in message


async def test_webhook_unreachable_is_retried(integrations: Integrations) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(ActionError, match="cannot connect to webhook") as failure:
        await integrations.executors["webhook"](make_job({"type": "webhook", "url": url}))
    assert failure.value.retry is True


async def test_http_sign_gets_the_rendered_message(
    integrations: Integrations, receiver: Receiver
) -> None:
    action = {
        "type": "signage",
        "via": "http",
        "target": receiver.url("/sign/3"),
        "message": "{rule}: keep clear of {location}",
    }
    outcome = await integrations.executors["signage"](make_job(action))
    assert outcome is not None and "answered 200" in outcome
    [got] = receiver.wait()
    assert got.path == "/sign/3"
    assert got.json() == {
        "message": "Door forced: keep clear of North gate",
        "rule": "Door forced",
        "alarm_id": 7,
    }


async def test_mqtt_actions_say_mqtt_is_not_configured(integrations: Integrations) -> None:
    for action in (
        {"type": "mqtt_publish", "topic": "lamps/1", "payload": "on"},
        {"type": "signage", "via": "mqtt", "target": "signs/1"},
    ):
        with pytest.raises(ActionError, match="MQTT broker not configured") as failure:
            await integrations.executors[str(action["type"])](make_job(action))
        assert failure.value.retry is False

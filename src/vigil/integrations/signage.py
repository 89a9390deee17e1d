"""Signage action: a message on a digital sign, POSTed over HTTP or published over MQTT.

Both ways carry the same JSON: ``{"message": ..., "rule": ..., "alarm_id": ...}``.
"""

from __future__ import annotations

import json

import httpx

from vigil import __version__
from vigil.domain.rules import Signage, render
from vigil.integrations import delivery
from vigil.integrations.mqtt import NOT_CONFIGURED, MqttBridge
from vigil.rules.actions import ActionError, ActionJob


def sign_message(job: ActionJob) -> bytes:
    """The JSON a sign receives."""
    action = job.action
    assert isinstance(action, Signage)
    body = {
        "message": render(action.message, job.values),
        "rule": job.rule_name,
        "alarm_id": job.alarm_id,
    }
    return json.dumps(body).encode()


class SignageSender:
    """The ``signage`` executor."""

    def __init__(self, client: httpx.AsyncClient, mqtt: MqttBridge | None) -> None:
        self._client = client
        self._mqtt = mqtt

    async def __call__(self, job: ActionJob) -> str:
        """Show the message; raise :class:`ActionError` when the sign cannot be reached."""
        action = job.action
        assert isinstance(action, Signage)
        body = sign_message(job)
        if action.via == "mqtt":
            if self._mqtt is None:
                raise ActionError(NOT_CONFIGURED, retry=False)
            await self._mqtt.publish(action.target, body, qos=1)
            return f"sign message published on MQTT topic {action.target}"
        headers = httpx.Headers(
            {"Content-Type": "application/json", "User-Agent": f"Vigil/{__version__}"}
        )
        response = await delivery.post(
            self._client, action.target, what="sign", content=body, headers=headers
        )
        return f"sign {delivery.display_url(action.target)} answered {response.status_code}"

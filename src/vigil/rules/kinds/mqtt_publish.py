"""Publish an MQTT message on the configured broker (``vigil.integrations.mqtt``)."""

from __future__ import annotations

from vigil.domain.rules import MqttPublish
from vigil.integrations.mqtt import NOT_CONFIGURED
from vigil.rules.actions import ActionError, ActionJob, Executor
from vigil.rules.registry import ActionKind, ExecutorContext, register_action


async def _not_configured(job: ActionJob) -> str:
    raise ActionError(NOT_CONFIGURED, retry=False)


def _executor(context: ExecutorContext) -> Executor | None:
    if context.mqtt is not None:
        return context.mqtt.publish_action
    # In a server (it has the HTTP client) without MQTT: say so, and do not retry.
    return _not_configured if context.http is not None else None


KIND = register_action(ActionKind(MqttPublish, _executor))

"""Call a webhook: POST the event as signed JSON (``vigil.integrations.webhooks``)."""

from __future__ import annotations

from vigil.domain.rules import Webhook
from vigil.integrations.webhooks import WebhookSender
from vigil.rules.actions import Executor
from vigil.rules.registry import ActionKind, ExecutorContext, register_action


def _executor(context: ExecutorContext) -> Executor | None:
    return WebhookSender(context.http) if context.http is not None else None


KIND = register_action(ActionKind(Webhook, _executor))

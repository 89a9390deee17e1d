"""Notify subscribed phones with Web Push (``vigil.integrations.webpush``)."""

from __future__ import annotations

from vigil.domain.rules import WebPush
from vigil.integrations.webpush import WebPushSender
from vigil.rules.actions import Executor
from vigil.rules.registry import ActionKind, ExecutorContext, register_action


def _executor(context: ExecutorContext) -> Executor | None:
    if context.http is None or context.settings is None or context.vapid is None:
        return None
    return WebPushSender(
        db=context.db, key=context.vapid, settings=context.settings.push, client=context.http
    )


KIND = register_action(ActionKind(WebPush, _executor))

"""Show a message on a digital sign, over HTTP or MQTT (``vigil.integrations.signage``)."""

from __future__ import annotations

from vigil.domain.rules import Signage
from vigil.integrations.signage import SignageSender
from vigil.rules.actions import Executor
from vigil.rules.registry import ActionKind, ExecutorContext, register_action


def _executor(context: ExecutorContext) -> Executor | None:
    return SignageSender(context.http, context.mqtt) if context.http is not None else None


KIND = register_action(ActionKind(Signage, _executor))

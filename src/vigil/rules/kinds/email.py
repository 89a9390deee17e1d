"""Send an e-mail through the configured SMTP server (``vigil.integrations.email``)."""

from __future__ import annotations

from vigil.domain.rules import Email
from vigil.integrations.email import EmailSender
from vigil.rules.actions import Executor
from vigil.rules.registry import ActionKind, ExecutorContext, register_action


def _executor(context: ExecutorContext) -> Executor | None:
    return EmailSender(context.settings.smtp) if context.settings is not None else None


KIND = register_action(ActionKind(Email, _executor))

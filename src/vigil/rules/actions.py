"""The contract between the action outbox (the dispatcher) and whatever executes an action.

An executor is an async function taking one :class:`ActionJob`: it returns a short outcome
text on success and raises :class:`ActionError` (or anything) on failure. The dispatcher owns
the retry policy; an executor only says whether a retry can help.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vigil.domain.events import Event
from vigil.domain.rules import Action


class ActionError(Exception):
    """One failed attempt; the message is shown to operators. retry=False: do not retry."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True, slots=True)
class ActionJob:
    """One attempt at one action of one rule firing."""

    run_id: int
    attempt: int  # 1 for the first try
    rule_id: int | None
    rule_name: str
    alarm_id: int | None
    event: Event
    values: dict[str, Any]  # template values (domain.rules.template_values) for this firing
    action: Action  # the parsed action; a webhook secret is already decrypted here


Executor = Callable[[ActionJob], Awaitable[str | None]]  # returns a short outcome text

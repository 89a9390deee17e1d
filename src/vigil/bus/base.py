"""What every bus implementation offers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field

from vigil.domain.messages import BusMessage
from vigil.store.types import utcnow

M = TypeVar("M", bound=BusMessage)

# Subjects whose messages are kept until a durable consumer acknowledges them: what must
# survive a restart (analytics and input events, camera status, finished tracks). Per-frame
# overlay and status messages are best effort and never crowd these out.
DURABLE_SUBJECTS = ("events.>", "cameras.*.status", "analytics.*.tracks")
# A delivery neither acknowledged nor refused within this is delivered again.
ACK_WAIT_S = 30.0


class Envelope(BaseModel):
    """A message on the wire: subject, schema name and version, payload."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="for de-duplication")
    subject: str
    kind: str
    version: int
    sent_at: datetime = Field(default_factory=utcnow)
    payload: dict[str, Any]
    origin: str | None = Field(None, description="the process that sent it, to avoid echoes")

    @classmethod
    def wrap(cls, subject: str, message: BusMessage) -> Envelope:
        """Put a message in an envelope."""
        return cls(
            subject=subject,
            kind=message.kind,
            version=message.version,
            payload=message.model_dump(mode="json"),
        )

    def open(self, model: type[M]) -> M:
        """Read the payload as the given message type, checking the schema name."""
        if self.kind != model.kind:
            raise ValueError(f"expected a {model.kind!r} message, got {self.kind!r}")
        return model.model_validate(self.payload)


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS-style matching: ``*`` is one token, ``>`` the rest.

    >>> subject_matches("cameras.*.status", "cameras.4.status")
    True
    >>> subject_matches("cameras.>", "cameras.4.status")
    True
    >>> subject_matches("cameras.*", "cameras.4.status")
    False
    """
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p_tokens):
        if tok == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (tok != "*" and tok != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


def is_durable(subject: str) -> bool:
    """Whether messages on this subject are kept for durable consumers.

    >>> is_durable("events.4.line_crossing"), is_durable("analytics.4.frame")
    (True, False)
    """
    return any(subject_matches(pattern, subject) for pattern in DURABLE_SUBJECTS)


class Delivery(Protocol):
    """One message of a durable consumer: acknowledge it once handled, or refuse it."""

    envelope: Envelope

    async def ack(self) -> None:
        """Handled: never delivered again."""
        ...

    async def nak(self, delay_s: float = 0.0) -> None:
        """Not handled: deliver it again (to any consumer of the group) after the delay."""
        ...


class EventBus(Protocol):
    """Publish messages on subjects; subscribe to subject patterns.

    Plain subscriptions see what is published while they are open (``queue``: among the
    subscriptions of one queue group, one gets each message). Durable consumers
    (``consume``) get every message on a durable subject (``DURABLE_SUBJECTS``) published
    since the consumer was first created, until they acknowledge it; the consumers of one
    durable name share the messages, one gets each.
    """

    async def publish(self, subject: str, message: BusMessage) -> None:
        """Send a message to every current subscriber of a matching pattern."""
        ...

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Send an already wrapped message (used by bridges between processes)."""
        ...

    def subscribe(
        self, pattern: str, *, queue: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[Envelope]]:
        """Receive the messages on subjects matching the pattern, from now on; with
        ``queue``, share them with the other subscriptions of that queue group."""
        ...

    def consume(
        self, durable: str, pattern: str
    ) -> AbstractAsyncContextManager[AsyncIterator[Delivery]]:
        """Receive the messages of a durable consumer (created at the first call) on the
        durable subjects matching the pattern, each until acknowledged."""
        ...

    async def close(self) -> None:
        """Stop delivering and release resources."""
        ...

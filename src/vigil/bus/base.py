"""What every bus implementation offers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field

from vigil.domain.messages import BusMessage
from vigil.store.types import utcnow

M = TypeVar("M", bound=BusMessage)


class Envelope(BaseModel):
    """A message on the wire: subject, schema name and version, payload."""

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


class EventBus(Protocol):
    """Publish messages on subjects; subscribe to subject patterns."""

    async def publish(self, subject: str, message: BusMessage) -> None:
        """Send a message to every current subscriber of a matching pattern."""
        ...

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Send an already wrapped message (used by bridges between processes)."""
        ...

    def subscribe(self, pattern: str) -> AbstractAsyncContextManager[AsyncIterator[Envelope]]:
        """Receive the messages on subjects matching the pattern, from now on."""
        ...

    async def close(self) -> None:
        """Stop delivering and release resources."""
        ...

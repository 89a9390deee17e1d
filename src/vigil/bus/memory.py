"""The in-process bus: the embedded default, and the server's hub for its recorders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from vigil.bus.base import Envelope, subject_matches
from vigil.domain.messages import BusMessage

log = logging.getLogger(__name__)

# A subscriber this far behind is too slow; it loses the oldest messages, publishers never wait.
QUEUE_LIMIT = 10_000


class InProcessBus:
    """Fan-out of envelopes to asyncio queues, one per subscription."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, asyncio.Queue[Envelope]]] = []

    async def publish(self, subject: str, message: BusMessage) -> None:
        """Send a message to every matching subscriber."""
        await self.publish_envelope(Envelope.wrap(subject, message))

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Send an envelope to every matching subscriber."""
        for pattern, queue in list(self._subscribers):
            if subject_matches(pattern, envelope.subject):
                if queue.full():
                    queue.get_nowait()
                    log.warning("bus subscriber to %s is too slow; dropped a message", pattern)
                queue.put_nowait(envelope)

    @asynccontextmanager
    async def subscribe(self, pattern: str) -> AsyncIterator[AsyncIterator[Envelope]]:
        """Receive matching envelopes while the context is open."""
        queue: asyncio.Queue[Envelope] = asyncio.Queue(QUEUE_LIMIT)
        entry = (pattern, queue)
        self._subscribers.append(entry)

        async def messages() -> AsyncIterator[Envelope]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._subscribers.remove(entry)

    async def close(self) -> None:
        """Drop all subscriptions."""
        self._subscribers.clear()

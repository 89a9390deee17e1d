"""The in-process bus: the embedded default, and the server's hub for its recorders."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from vigil.bus.base import ACK_WAIT_S, Envelope, is_durable, subject_matches
from vigil.domain.messages import BusMessage

log = logging.getLogger(__name__)

# A subscriber this far behind is too slow; it loses the oldest messages, publishers never wait.
QUEUE_LIMIT = 10_000
# Messages a durable consumer keeps for its readers; past this the oldest are lost (logged).
DURABLE_LIMIT = 100_000


@dataclass(slots=True)
class _Subscription:
    pattern: str
    group: str | None
    queue: asyncio.Queue[Envelope]


@dataclass(slots=True)
class _Durable:
    """A durable consumer's state: messages waiting, and those delivered but not acked."""

    name: str
    pattern: str
    ready: deque[Envelope] = field(default_factory=deque)
    # id -> (envelope, redelivery deadline on the monotonic clock)
    in_flight: dict[str, tuple[Envelope, float]] = field(default_factory=dict)
    readers: set[asyncio.Event] = field(default_factory=set)

    def offer(self, envelope: Envelope, *, first: bool = False) -> None:
        if len(self.ready) >= DURABLE_LIMIT:
            lost = self.ready.popleft()
            log.error("durable consumer %s is full; lost message %s", self.name, lost.subject)
        if first:
            self.ready.appendleft(envelope)
        else:
            self.ready.append(envelope)
        self.wake()

    def wake(self) -> None:
        for reader in self.readers:
            reader.set()

    def take(self, now: float) -> Envelope | None:
        """The next message to deliver (an overdue unacked one first), or None."""
        for message_id, (envelope, deadline) in list(self.in_flight.items()):
            if deadline <= now:
                del self.in_flight[message_id]
                self.ready.appendleft(envelope)
        if not self.ready:
            return None
        envelope = self.ready.popleft()
        self.in_flight[envelope.id] = (envelope, now + ACK_WAIT_S)
        return envelope

    def next_deadline(self) -> float | None:
        return min((d for _, d in self.in_flight.values()), default=None)


class _MemoryDelivery:
    """A delivery of the in-process bus (see ``vigil.bus.base.Delivery``)."""

    def __init__(self, envelope: Envelope, durable: _Durable, held: dict[str, None]) -> None:
        self.envelope = envelope
        self._durable = durable
        self._held = held

    def _release(self) -> bool:
        self._held.pop(self.envelope.id, None)
        return self._durable.in_flight.pop(self.envelope.id, None) is not None

    async def ack(self) -> None:
        """Handled: forget it."""
        self._release()

    async def nak(self, delay_s: float = 0.0) -> None:
        """Deliver it again after the delay."""
        if not self._release():
            return
        if delay_s <= 0:
            self._durable.offer(self.envelope, first=True)
        else:
            loop = asyncio.get_running_loop()
            loop.call_later(delay_s, self._durable.offer, self.envelope)


class InProcessBus:
    """Fan-out of envelopes to asyncio queues, one per subscription; queue groups share
    a message among their members; durable consumers keep messages until acknowledged."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscription] = []
        self._durables: dict[str, _Durable] = {}
        self._turn = itertools.count()

    async def publish(self, subject: str, message: BusMessage) -> None:
        """Send a message to every matching subscriber."""
        await self.publish_envelope(Envelope.wrap(subject, message))

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Send an envelope to every matching subscriber (one per queue group) and keep
        it for the durable consumers it concerns."""
        groups: dict[str, list[_Subscription]] = {}
        for sub in list(self._subscribers):
            if not subject_matches(sub.pattern, envelope.subject):
                continue
            if sub.group is None:
                self._put(sub, envelope)
            else:
                groups.setdefault(sub.group, []).append(sub)
        for members in groups.values():
            self._put(members[next(self._turn) % len(members)], envelope)
        if self._durables and is_durable(envelope.subject):
            for durable in self._durables.values():
                if subject_matches(durable.pattern, envelope.subject):
                    durable.offer(envelope)

    @staticmethod
    def _put(sub: _Subscription, envelope: Envelope) -> None:
        if sub.queue.full():
            sub.queue.get_nowait()
            log.warning("bus subscriber to %s is too slow; dropped a message", sub.pattern)
        sub.queue.put_nowait(envelope)

    @asynccontextmanager
    async def subscribe(
        self, pattern: str, *, queue: str | None = None
    ) -> AsyncIterator[AsyncIterator[Envelope]]:
        """Receive matching envelopes while the context is open."""
        entry = _Subscription(pattern, queue, asyncio.Queue(QUEUE_LIMIT))
        self._subscribers.append(entry)

        async def messages() -> AsyncIterator[Envelope]:
            while True:
                yield await entry.queue.get()

        try:
            yield messages()
        finally:
            self._subscribers.remove(entry)

    @asynccontextmanager
    async def consume(
        self, durable: str, pattern: str
    ) -> AsyncIterator[AsyncIterator[_MemoryDelivery]]:
        """A durable consumer's messages, each until acknowledged; unacknowledged ones
        go back to the consumer when this reader leaves."""
        state = self._durables.get(durable)
        if state is None:
            state = self._durables[durable] = _Durable(durable, pattern)
        elif state.pattern != pattern:
            raise ValueError(f"durable consumer {durable!r} follows {state.pattern!r}")
        wake = asyncio.Event()
        held: dict[str, None] = {}  # delivered, not yet acknowledged, in order
        state.readers.add(wake)

        async def deliveries() -> AsyncIterator[_MemoryDelivery]:
            while True:
                wake.clear()
                envelope = state.take(time.monotonic())
                if envelope is not None:
                    held[envelope.id] = None
                    yield _MemoryDelivery(envelope, state, held)
                    continue
                deadline = state.next_deadline()
                timeout = None if deadline is None else max(deadline - time.monotonic(), 0)
                with contextlib.suppress(TimeoutError):  # an unacked delivery is due
                    await asyncio.wait_for(wake.wait(), timeout)

        try:
            yield deliveries()
        finally:
            state.readers.discard(wake)
            for message_id in reversed(held):  # back in front, in their order
                item = state.in_flight.pop(message_id, None)
                if item is not None:
                    state.offer(item[0], first=True)

    async def close(self) -> None:
        """Drop all subscriptions."""
        self._subscribers.clear()

"""The cluster bus: NATS for publish/subscribe and queue groups, JetStream for durability.

Every subject is put under the installation's namespace on the wire (``vigil.events.4.x``),
so several installations or test runs can share one NATS server. Durable subjects
(``DURABLE_SUBJECTS``) are kept in one JetStream stream per namespace; they are published
through a persistent :class:`~vigil.bus.outbox.Outbox`, so a publisher never waits for or
loses to a broker that is away: the outbox sends them in order once it is back, with the
envelope id as ``Nats-Msg-Id`` so a message sent twice is stored once. Everything else
(overlay frames, analytics status) is plain NATS: best effort, as it should be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from vigil.bus.base import ACK_WAIT_S, DURABLE_SUBJECTS, Envelope, is_durable
from vigil.bus.outbox import Outbox
from vigil.domain.messages import BusMessage

log = logging.getLogger(__name__)

NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# How long durable messages stay in the stream for consumers that were away.
STREAM_MAX_AGE_S = 7 * 86400
# The broker drops a message it already has when its id is seen again within this.
DUPLICATE_WINDOW_S = 600.0
FETCH_BATCH = 100
FETCH_WAIT_S = 1.0
OUTBOX_BATCH = 200
RETRY_MAX_S = 5.0


class BusUnavailable(RuntimeError):
    """The broker could not be reached in time."""


class NatsDelivery:
    """A delivery of a JetStream consumer (see ``vigil.bus.base.Delivery``)."""

    def __init__(self, envelope: Envelope, msg: Msg, held: dict[int, Msg]) -> None:
        self.envelope = envelope
        self._msg = msg
        self._held = held

    async def ack(self) -> None:
        """Handled: the stream never delivers it to this consumer again."""
        self._held.pop(id(self._msg), None)
        await self._msg.ack()

    async def nak(self, delay_s: float = 0.0) -> None:
        """Deliver it again after the delay."""
        self._held.pop(id(self._msg), None)
        await self._msg.nak(delay=delay_s or None)


class NatsBus:
    """The bus over a NATS server with JetStream (``EventBus``)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "vigil",
        outbox_path: Path | None = None,
        name: str = "vigil",
    ) -> None:
        if not NAMESPACE_PATTERN.match(namespace):
            raise ValueError(f"bus namespace {namespace!r}: letters, digits, '_' and '-' only")
        self._url = url
        self._ns = namespace
        self.stream = f"{namespace.upper().replace('-', '_')}_DURABLE"
        self._name = name
        self._outbox = Outbox(outbox_path)
        self._outbox_wake = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._nc: Client | None = None
        self._js: Any = None
        self._sender: asyncio.Task[None] | None = None
        self._closing = False

    # ----- lifecycle --------------------------------------------------------------------

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Connect (retrying until ``timeout_s``), make sure the stream exists, and start
        sending what the outbox kept from before."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        delay = 0.2
        while True:
            try:
                self._nc = await nats.connect(
                    self._url,
                    name=self._name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    # Bounded: by default a forced flush waits for the server forever, and a
                    # shutdown's drain behind it (a test hung 180 s in one CI run under load).
                    flush_timeout=10,
                    drain_timeout=10,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
                break
            except (OSError, nats.errors.Error) as exc:
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise BusUnavailable(
                        f"cannot reach the NATS server at {self._url}: {exc}; "
                        "start nats-server with JetStream (-js) or check VIGIL_BUS__URL"
                    ) from exc
                log.info("NATS at %s not reachable (%s); retrying", self._url, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        self._js = self._nc.jetstream()
        await self._ensure_stream()
        self._sender = asyncio.create_task(self._send_outbox(), name="bus-outbox")
        if len(self._outbox):
            log.info("bus outbox: %d message(s) kept from before, sending", len(self._outbox))

    async def _ensure_stream(self) -> None:
        config = StreamConfig(
            name=self.stream,
            subjects=[self._wire(s) for s in DURABLE_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=STREAM_MAX_AGE_S,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        try:
            await self._js.stream_info(self.stream)
            await self._js.update_stream(config)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(config)

    async def close(self) -> None:
        """Stop sending (the outbox keeps what is left for the next start), disconnect."""
        self._closing = True
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.drain()
        self._outbox.close()

    @property
    def connected(self) -> bool:
        """Whether the broker is reachable now."""
        return self._nc is not None and self._nc.is_connected

    async def sent(self) -> None:
        """Return once the broker has every durable message published so far."""
        await self._outbox_empty.wait()

    @property
    def backlog(self) -> int:
        """Durable messages waiting for the broker."""
        return len(self._outbox)

    # ----- publish ----------------------------------------------------------------------

    async def publish(self, subject: str, message: BusMessage) -> None:
        """Publish a message (durable subjects through the outbox)."""
        await self.publish_envelope(Envelope.wrap(subject, message))

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Publish an envelope: durable ones are kept until the broker has them."""
        data = envelope.model_dump_json().encode()
        if is_durable(envelope.subject):
            dropped = self._outbox.put(envelope.id, self._wire(envelope.subject), data)
            if dropped:
                log.error("bus outbox full: dropped the %d oldest message(s)", dropped)
            self._outbox_empty.clear()
            self._outbox_wake.set()
            return
        nc = self._client()
        if nc.is_connected:
            with contextlib.suppress(nats.errors.Error, OSError):
                await nc.publish(self._wire(envelope.subject), data)

    async def _send_outbox(self) -> None:
        """Send the outbox's messages in order, each once the broker confirmed it."""
        delay = 0.2
        while True:
            self._outbox_wake.clear()
            rows = self._outbox.peek(OUTBOX_BATCH)
            if not rows:
                self._outbox_empty.set()
                await self._outbox_wake.wait()
                continue
            try:
                for seq, message_id, subject, data in rows:
                    await self._js.publish(
                        subject, data, timeout=5, headers={"Nats-Msg-Id": message_id}
                    )
                    self._outbox.remove(seq)
                delay = 0.2
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.warning("bus: %d durable message(s) wait for NATS (%s)", len(self._outbox), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    # ----- subscribe --------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self, pattern: str, *, queue: str | None = None
    ) -> AsyncIterator[AsyncIterator[Envelope]]:
        """Receive matching envelopes while the context is open (one of a queue group's
        subscriptions gets each)."""
        sub = await self._client().subscribe(self._wire(pattern), queue=queue or "")

        async def messages() -> AsyncIterator[Envelope]:
            async for msg in sub.messages:
                envelope = self._decode(msg)
                if envelope is not None:
                    yield envelope

        try:
            yield messages()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    @asynccontextmanager
    async def consume(self, durable: str, pattern: str) -> AsyncIterator[AsyncIterator[Any]]:
        """A durable JetStream consumer's messages, each until acknowledged."""
        wire = self._wire(pattern)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            deliver_policy=DeliverPolicy.NEW,
            filter_subject=wire,
            max_ack_pending=10_000,
        )
        psub = await self._js.pull_subscribe(
            wire, durable=durable, stream=self.stream, config=config
        )
        held: dict[int, Msg] = {}  # delivered, not yet acknowledged

        async def deliveries() -> AsyncIterator[NatsDelivery]:
            delay = 0.2
            while True:
                try:
                    batch = await psub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
                except nats.errors.TimeoutError:
                    continue
                except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                    log.info("bus consumer %s: %s; retrying", durable, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                delay = 0.2
                for msg in batch:
                    envelope = self._decode(msg)
                    if envelope is None:
                        await msg.term()  # never readable: do not deliver it again
                        continue
                    held[id(msg)] = msg
                    yield NatsDelivery(envelope, msg, held)

        try:
            yield deliveries()
        finally:
            # What this reader took and did not finish goes to the others now, not after
            # the ack wait.
            for msg in list(held.values()):
                with contextlib.suppress(Exception):
                    await msg.nak()
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    # ----- internals --------------------------------------------------------------------

    def _client(self) -> Client:
        if self._nc is None:
            raise BusUnavailable("the NATS bus is not connected: call connect() first")
        return self._nc

    def _wire(self, subject: str) -> str:
        return f"{self._ns}.{subject}"

    @staticmethod
    def _decode(msg: Msg) -> Envelope | None:
        try:
            return Envelope.model_validate_json(msg.data)
        except ValueError as exc:
            log.warning("bus: ignoring an unreadable message on %s: %s", msg.subject, exc)
            return None

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS: %s", exc)

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        log.warning("NATS at %s: disconnected; reconnecting", self._url)

    async def _on_reconnected(self) -> None:
        log.info("NATS at %s: reconnected", self._url)
        self._outbox_wake.set()

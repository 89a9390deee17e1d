"""Carries the bus between the processes of one installation through the server.

The server keeps an :class:`InProcessBus` and exposes it at ``/api/internal/bus`` (a
WebSocket); each recorder runs a :class:`HubBus` that mirrors what it publishes to the
server and receives what it subscribed to. NATS JetStream replaces this when distributed.

Wire format, JSON text frames: ``{"op": "sub", "pattern": P}`` and
``{"op": "pub", "envelope": {...}}`` to the hub (a durable envelope carries ``"ack": N``,
and the hub answers ``{"op": "ack", "seq": N}`` once its bus has it); envelopes from the hub.

Durable envelopes (events, camera status, tracks) wait in a persistent outbox until the hub
acknowledged them, so a server outage or a recorder restart loses none; best-effort ones
(overlay frames) go in a small queue that drops its oldest, and never crowd events out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from vigil.bus.base import Envelope, is_durable
from vigil.bus.memory import InProcessBus
from vigil.bus.outbox import Outbox
from vigil.domain.messages import BusMessage

log = logging.getLogger(__name__)

HUB_PATH = "/api/internal/bus"
BEST_EFFORT_LIMIT = 1000
DURABLE_BATCH = 200
RECONNECT_MAX_S = 10.0


class HubBus:
    """A bus client: local fan-out plus a link to the server's hub, reconnecting on loss."""

    def __init__(
        self,
        server_url: str,
        *,
        token: str | None = None,
        tls: Callable[[], ssl.SSLContext] | None = None,
        outbox_path: Path | None = None,
    ) -> None:
        """Link to the hub of ``server_url``; over HTTPS ``tls`` makes the client context
        for each attempt (so a certificate the server renewed or made after this process
        started is read again), the system's default when None. Durable envelopes wait
        in ``outbox_path`` (in memory when None) until the hub has them."""
        self.origin = uuid.uuid4().hex
        self._tls = tls
        base = server_url.replace("http", "ws", 1).rstrip("/")
        self._url = f"{base}{HUB_PATH}?origin={self.origin}"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._local = InProcessBus()
        self._patterns: list[str] = []
        self._outbox = Outbox(outbox_path)
        self._best_effort: asyncio.Queue[Envelope] = asyncio.Queue(BEST_EFFORT_LIMIT)
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        """Begin connecting to the hub in the background."""
        self._task = asyncio.create_task(self._run(), name="bus-hub-link")

    async def publish(self, subject: str, message: BusMessage) -> None:
        """Publish locally and to the hub."""
        await self.publish_envelope(Envelope.wrap(subject, message))

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Publish an envelope locally and queue it for the hub: durable ones until the
        hub acknowledges them, others best effort (the oldest dropped when full)."""
        await self._local.publish_envelope(envelope)
        if envelope.origin is None:
            envelope = envelope.model_copy(update={"origin": self.origin})
        if is_durable(envelope.subject):
            dropped = self._outbox.put(
                envelope.id, envelope.subject, envelope.model_dump_json().encode()
            )
            if dropped:
                log.error("bus outbox full: dropped the %d oldest message(s)", dropped)
        else:
            if self._best_effort.full():
                self._best_effort.get_nowait()
            self._best_effort.put_nowait(envelope)
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Durable envelopes the hub has not acknowledged yet."""
        return len(self._outbox)

    def consume(self, durable: str, pattern: str) -> Any:
        """Durable consumers read this process's own bus (the server consumes the rest)."""
        return self._local.consume(durable, pattern)

    @asynccontextmanager
    async def subscribe(
        self, pattern: str, *, queue: str | None = None
    ) -> AsyncIterator[AsyncIterator[Envelope]]:
        """Receive matching envelopes from this process and from the hub."""
        self._patterns.append(pattern)
        if self._ws is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._ws.send(json.dumps({"op": "sub", "pattern": pattern}))
        try:
            async with self._local.subscribe(pattern, queue=queue) as messages:
                yield messages
        finally:
            self._patterns.remove(pattern)

    async def close(self) -> None:
        """Stop the link."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._local.close()
        self._outbox.close()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                secure = self._url.startswith("wss:")
                tls = self._tls() if secure and self._tls is not None else None
                async with connect(self._url, additional_headers=self._headers, ssl=tls) as ws:
                    self._ws = ws
                    delay = 0.5
                    for pattern in self._patterns:
                        await ws.send(json.dumps({"op": "sub", "pattern": pattern}))
                    self.connected.set()
                    await self._pump(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any link failure: retry, the local bus keeps working
                log.info("bus hub %s unavailable (%s); retrying in %.1fs", self._url, exc, delay)
            finally:
                self._ws = None
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _pump(self, ws: ClientConnection) -> None:
        async def send() -> None:
            sent = 0  # durable envelopes up to this one went out on this connection
            while True:
                self._wake.clear()
                rows = self._outbox.peek(DURABLE_BATCH, after=sent)
                for seq, _, _, data in rows:
                    await ws.send(f'{{"op":"pub","ack":{seq},"envelope":{data.decode()}}}')
                    sent = seq
                while not self._best_effort.empty():
                    envelope = self._best_effort.get_nowait()
                    msg = {"op": "pub", "envelope": envelope.model_dump(mode="json")}
                    await ws.send(json.dumps(msg))
                if not rows:
                    await self._wake.wait()

        async def receive() -> None:
            async for raw in ws:
                data = json.loads(raw)
                if data.get("op") == "ack":
                    self._outbox.remove(int(data["seq"]))
                else:
                    await self._local.publish_envelope(Envelope.model_validate(data))

        sender = asyncio.create_task(send())
        try:
            await receive()
        finally:
            sender.cancel()

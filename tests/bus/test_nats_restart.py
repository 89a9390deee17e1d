"""A NATS server restarted while events flow: none is lost, none is stored twice.

The test runs a NATS server of its own (the machine's ``nats-server`` binary, a free port,
a JetStream folder in the test's directory), so restarting it touches nobody else.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, require_service
from vigil.bus.jetstream import NatsBus
from vigil.domain.events import Event
from vigil.store.types import utcnow

EVENTS = 300


class PrivateNats:
    """nats-server with JetStream on a port and folder of its own."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            require_service("nats-server", "the nats-server binary is not installed")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder / "nats.log").open("ab")
        cmd = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        cmd += ["-sd", str(self.folder / "js")]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[PrivateNats]:
    server = PrivateNats(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_events_survive_a_broker_restart(nats_server: PrivateNats, tmp_path: Path) -> None:
    consumer = NatsBus(nats_server.url, namespace="restart")
    publisher = NatsBus(nats_server.url, namespace="restart", outbox_path=tmp_path / "outbox")
    await consumer.connect(timeout_s=10)
    await publisher.connect(timeout_s=10)
    received: Counter[str] = Counter()
    all_in = asyncio.Event()

    async def consume() -> None:
        async with consumer.consume("rules", "events.>") as deliveries:
            started.set()
            async for delivery in deliveries:
                received[delivery.envelope.payload["id"]] += 1
                await delivery.ack()
                if len(received) >= EVENTS:
                    all_in.set()

    started = asyncio.Event()
    reader = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(started.wait(), 10)
        events = [Event(type="intrusion", camera_id=1, at=utcnow()) for _ in range(EVENTS)]
        for n, event in enumerate(events):
            if n == EVENTS // 3:
                nats_server.stop()  # the broker goes away while events keep coming
            if n == 2 * EVENTS // 3:
                nats_server.start()
            await publisher.publish(event.subject(), event)
            await asyncio.sleep(0.005)
        await asyncio.wait_for(all_in.wait(), 90)
        await asyncio.sleep(1)  # anything delivered twice would arrive now
        assert set(received) == {e.id for e in events}, "every event arrived"
        assert max(received.values()) == 1, "none twice"
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await publisher.close()
        await consumer.close()

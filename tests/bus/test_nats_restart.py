"""A NATS server restarted while events flow: none is lost, none is stored twice.

The test runs a NATS server of its own (the machine's ``nats-server`` binary, a free port,
a JetStream folder in the test's directory), so restarting it touches nobody else.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from tests.bus.conftest import PrivateNats
from vigil.bus.jetstream import NatsBus
from vigil.domain.events import Event
from vigil.store.types import utcnow

EVENTS = 300


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

"""Overlay frames are best effort and never crowd events out of a publisher's outbox.

A recorder sends a frame message per analysed frame and an event now and then; while the
broker is away, the frames must not take the events' place in the persistent outbox (nor
fill it), and once the broker is back every event arrives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.bus.conftest import PrivateNats
from tests.bus.test_bus_contract import take
from tests.conftest import free_port
from vigil.bus.hub import BEST_EFFORT_LIMIT, HubBus
from vigil.bus.jetstream import NatsBus
from vigil.domain.events import AnalyticsFrame, Event
from vigil.store.types import utcnow

EVENTS = 200
FRAMES_PER_EVENT = 25  # 5,000 frames in all: far more than any best-effort queue holds


def frame() -> AnalyticsFrame:
    return AnalyticsFrame(camera_id=1, at=utcnow())


def event() -> Event:
    return Event(type="intrusion", camera_id=1, at=utcnow())


async def test_a_frame_flood_while_nats_is_away_keeps_every_event(
    nats_server: PrivateNats, tmp_path: Path
) -> None:
    consumer = NatsBus(nats_server.url, namespace="flood")
    publisher = NatsBus(nats_server.url, namespace="flood", outbox_path=tmp_path / "outbox")
    await consumer.connect(timeout_s=30)
    await publisher.connect(timeout_s=30)
    try:
        async with consumer.consume("rules", "events.>") as deliveries:
            nats_server.stop()
            sent = []
            for _ in range(EVENTS):
                for _ in range(FRAMES_PER_EVENT):
                    await publisher.publish("analytics.1.frame", frame())
                e = event()
                await publisher.publish(e.subject(), e)
                sent.append(e.id)
            assert publisher.backlog == EVENTS, "only the events wait for the broker"
            nats_server.start()
            await asyncio.wait_for(publisher.sent(), 120)
            got = await take(deliveries, EVENTS)
            assert [d.envelope.payload["id"] for d in got] == sent, "every event, in order"
            for delivery in got:
                await delivery.ack()
    finally:
        await publisher.close()
        await consumer.close()


async def test_a_frame_flood_while_the_server_is_away_keeps_every_event(tmp_path: Path) -> None:
    # Embedded mode: a recorder's link to the server's hub, the server not answering.
    hub = HubBus(f"http://127.0.0.1:{free_port()}", outbox_path=tmp_path / "outbox")
    hub.start()
    try:
        for _ in range(EVENTS):
            for _ in range(FRAMES_PER_EVENT):
                await hub.publish("analytics.1.frame", frame())
            e = event()
            await hub.publish(e.subject(), e)
        assert EVENTS * FRAMES_PER_EVENT > BEST_EFFORT_LIMIT
        assert hub.backlog == EVENTS, "frames dropped, never an event"
    finally:
        await hub.close()

"""The NATS bus's own guarantees: the outbox survives its process, duplicates are dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.bus.conftest import nats_bus
from tests.bus.test_bus_contract import note, nothing_more, numbers, take
from vigil.bus.base import Envelope
from vigil.bus.outbox import Outbox


def test_the_outbox_keeps_messages_across_a_restart_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox(path)
    for n in range(3):
        box.put(f"id{n}", f"vigil.events.{n}.x", b"{}")
    box.remove(box.peek(1)[0][0])
    box.close()  # as if the process died here
    again = Outbox(path)
    assert len(again) == 2
    assert [row[1] for row in again.peek(10)] == ["id1", "id2"]
    again.close()


async def test_events_left_in_a_dead_publishers_outbox_are_delivered(
    tmp_path: Path, namespace: str
) -> None:
    consumer = await nats_bus(namespace)
    try:
        async with consumer.consume("rules", "events.>") as deliveries:
            # A recorder wrote these and died before NATS had them.
            path = tmp_path / "recorder-outbox.sqlite3"
            box = Outbox(path)
            for n in (5, 6):
                envelope = Envelope.wrap(f"events.{n}.intrusion", note(n))
                box.put(
                    envelope.id,
                    f"{namespace}.{envelope.subject}",
                    envelope.model_dump_json().encode(),
                )
            box.close()
            restarted = await nats_bus(namespace, path)
            try:
                got = await take(deliveries, 2)
                assert numbers(got) == [5, 6]
                for delivery in got:
                    await delivery.ack()
                # The consumer can have a message before its publisher has the broker's
                # confirmation: wait for that, not for delivery.
                await asyncio.wait_for(restarted.sent(), 10)
            finally:
                await restarted.close()
            assert len(Outbox(path)) == 0, "sent, so no longer kept"
    finally:
        await consumer.close()


async def test_a_message_sent_twice_is_delivered_once(namespace: str) -> None:
    bus = await nats_bus(namespace)
    try:
        async with bus.consume("rules", "events.>") as deliveries:
            envelope = Envelope.wrap("events.1.intrusion", note(1))
            await bus.publish_envelope(envelope)
            await bus.publish_envelope(envelope)  # a retry after a lost confirmation
            (got,) = await take(deliveries, 1)
            await got.ack()
            assert await nothing_more(deliveries, 1.0)
    finally:
        await bus.close()

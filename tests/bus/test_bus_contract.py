"""What every bus implementation does: the same tests on the in-process bus and on NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from vigil.bus.base import Envelope, EventBus
from vigil.domain.messages import CamerasChanged

Factory = Callable[[], Awaitable[EventBus]]
WAIT_S = 10.0


def note(n: int) -> CamerasChanged:
    return CamerasChanged(camera_id=n, change="updated")


async def take(messages: AsyncIterator[Any], count: int) -> list[Any]:
    """The next ``count`` items, failing if they do not come."""

    async def collect() -> list[Any]:
        return [await anext(messages) for _ in range(count)]

    return await asyncio.wait_for(collect(), WAIT_S)


async def nothing_more(messages: AsyncIterator[Any], wait_s: float = 0.5) -> bool:
    """True when no further item arrives within ``wait_s``."""
    try:
        await asyncio.wait_for(anext(messages), wait_s)
    except TimeoutError:
        return True
    return False


def numbers(items: list[Any]) -> list[int]:
    envelopes = [i if isinstance(i, Envelope) else i.envelope for i in items]
    return [int(e.payload["camera_id"]) for e in envelopes]


async def test_subscribers_get_what_matches_their_pattern(bus_factory: Factory) -> None:
    bus = await bus_factory()
    other = await bus_factory()
    async with bus.subscribe("cameras.*.status") as messages:
        await asyncio.sleep(0.1)  # NATS: the subscription reaches the server
        await other.publish("cameras.1.config", note(1))
        await other.publish("cameras.2.status", note(2))
        assert numbers(await take(messages, 1)) == [2]
        assert await nothing_more(messages)


async def test_a_queue_group_shares_each_message_once(bus_factory: Factory) -> None:
    a, b, c = await bus_factory(), await bus_factory(), await bus_factory()
    async with a.subscribe("cameras.>") as everything:
        await asyncio.sleep(0.1)
        for n in range(40):
            await c.publish(f"cameras.{n}.config", note(n))
        assert numbers(await take(everything, 40)) == list(range(40)), "plain: every one"
    got: list[int] = []
    async with (
        a.subscribe("cameras.>", queue="workers") as first,
        b.subscribe("cameras.>", queue="workers") as second,
    ):
        await asyncio.sleep(0.1)
        for n in range(40):
            await c.publish(f"cameras.{n}.config", note(n))
        for messages in (first, second):
            try:
                while True:
                    got.extend(numbers([await asyncio.wait_for(anext(messages), 0.5)]))
            except TimeoutError:
                pass
    assert sorted(got) == list(range(40)), "each message to exactly one member"


async def test_a_durable_consumer_keeps_messages_until_acknowledged(bus_factory: Factory) -> None:
    consumer, publisher = await bus_factory(), await bus_factory()
    async with consumer.consume("rules", "events.>") as deliveries:
        pass  # created: from now on it keeps what is published
    for n in range(5):
        await publisher.publish(f"events.{n}.intrusion", note(n))
    async with consumer.consume("rules", "events.>") as deliveries:
        got = await take(deliveries, 5)
        assert numbers(got) == [0, 1, 2, 3, 4], "kept while nobody read"
        for delivery in got[:3]:
            await delivery.ack()
    # The two left unacknowledged come again, and only they.
    async with consumer.consume("rules", "events.>") as deliveries:
        again = await take(deliveries, 2)
        assert sorted(numbers(again)) == [3, 4]
        for delivery in again:
            await delivery.ack()
        assert await nothing_more(deliveries)


async def test_readers_of_one_durable_share_the_messages(bus_factory: Factory) -> None:
    a, b, publisher = await bus_factory(), await bus_factory(), await bus_factory()
    seen: list[int] = []
    all_seen = asyncio.Event()

    async def read(bus: EventBus, started: asyncio.Event) -> None:
        async with bus.consume("alarms", "events.>") as deliveries:
            started.set()
            async for delivery in deliveries:
                seen.extend(numbers([delivery]))
                await delivery.ack()
                if len(seen) >= 30:
                    all_seen.set()

    started = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(read(bus, s)) for bus, s in zip((a, b), started, strict=True)]
    await asyncio.gather(*(s.wait() for s in started))
    for n in range(30):
        await publisher.publish(f"events.{n}.line_crossing", note(n))
    await asyncio.wait_for(all_seen.wait(), WAIT_S)
    await asyncio.sleep(0.3)  # anything delivered twice would come now
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(seen) == list(range(30)), "each message handled once by one reader"


async def test_a_refused_message_comes_again(bus_factory: Factory) -> None:
    consumer, publisher = await bus_factory(), await bus_factory()
    async with consumer.consume("retry", "cameras.*.status") as deliveries:
        await publisher.publish("cameras.7.status", note(7))
        (first,) = await take(deliveries, 1)
        await first.nak(0.2)
        (second,) = await take(deliveries, 1)
        assert numbers([second]) == [7]
        await second.ack()
        assert await nothing_more(deliveries)


async def test_best_effort_subjects_are_not_kept(bus_factory: Factory) -> None:
    consumer, publisher = await bus_factory(), await bus_factory()
    async with consumer.consume("tracks", "analytics.*.tracks") as deliveries:
        await publisher.publish("analytics.3.frame", note(3))
        await publisher.publish("analytics.3.tracks", note(4))
        got = await take(deliveries, 1)
        assert numbers(got) == [4]
        await got[0].ack()
        assert await nothing_more(deliveries)

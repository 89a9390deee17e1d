"""The server's register lookup: every ``plate.read`` event is looked up in the registers
(``store.registers.lookup_plate``) and each active entry it matches becomes a
``watchlist.hit`` event, which rules turn into alarms ("stolen vehicle -> priority 1").

A durable consumer shared by all servers: each reading is looked up once, and none is lost
while no server runs. A hit's id is derived from the reading's and the entry's, so a reading
delivered twice (a server that died before acknowledging) raises the same hit, which the
event store and the rules engine take once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from vigil.bus.base import Delivery, EventBus
from vigil.domain.events import PLATE_READ, WATCHLIST_HIT, Event
from vigil.store.db import Database
from vigil.store.registers import RegisterMatch, lookup_plate

log = logging.getLogger(__name__)

SUBJECTS = f"events.*.{PLATE_READ}"
CONSUMER = "register-hits"
RETRY_DELAY_S = 2.0
_IDS = uuid.UUID("6f1d0c1e-8a53-4f57-9d0a-2a7f3c0e5b11")


def hit_event(read: Event, match: RegisterMatch) -> Event:
    """The hit of a reading on one register entry (the reading's camera, time, vehicle and
    pictures; its node as source, which keeps the pictures)."""
    attributes: dict[str, Any] = {
        "plate": read.attributes.get("plate"),
        "score": match.score,
        "list": {"id": match.register_id, "name": match.register, "category": match.category},
        "entry": {
            "id": match.entry_id,
            "plate": match.plate,
            "label": match.label,
            "reason": match.reason,
            "source": match.source,
            "owner": match.owner,
            "valid_until": match.valid_until.isoformat() if match.valid_until else None,
        },
        "read": {
            "event_id": read.id,
            "plate": read.attributes.get("plate"),
            "confidence": read.attributes.get("confidence"),
            "plate_crop": read.attributes.get("plate_crop"),
        },
    }
    return Event(
        id=uuid.uuid5(_IDS, f"{read.id}:{match.entry_id}").hex,
        type=WATCHLIST_HIT,
        at=read.at,
        camera_id=read.camera_id,
        zone=read.zone,
        object=read.object,
        attributes=attributes,
        snapshot=read.snapshot,
        source=read.source,
        site=read.site,
    )


class RegisterHits:
    """``plate.read`` events in; ``watchlist.hit`` events out."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe and start looking up; returns once subscribed."""
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._listen(subscribed))
        await subscribed.wait()

    async def stop(self) -> None:
        """Stop (a lookup in hand finishes first)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self, subscribed: asyncio.Event) -> None:
        async with self._bus.consume(CONSUMER, SUBJECTS) as deliveries:
            subscribed.set()
            async for delivery in deliveries:
                await self._handle(delivery)

    async def _handle(self, delivery: Delivery) -> None:
        try:
            read = delivery.envelope.open(Event)
        except ValueError as exc:
            log.warning("ignoring a malformed %s message: %s", delivery.envelope.kind, exc)
            await delivery.ack()
            return
        plate = read.attributes.get("plate")
        if read.type != PLATE_READ or not isinstance(plate, str):
            await delivery.ack()
            return
        try:
            matches = await asyncio.to_thread(lookup_plate, self._db, plate, read.at)
            for match in matches:
                hit = hit_event(read, match)
                await self._bus.publish(hit.subject(), hit)
        except Exception:  # the database or the bus is away: the reading comes again
            log.exception("could not look plate %s up in the registers; it comes again", plate)
            with contextlib.suppress(Exception):
                await delivery.nak(RETRY_DELAY_S)
            return
        with contextlib.suppress(Exception):
            await delivery.ack()

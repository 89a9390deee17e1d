"""The server's writer of ended tracks: every TrackEnded on the bus becomes a ``tracks`` row.

Tracks that arrive together are written in one statement from a worker thread, so a busy
site (hundreds of tracks a minute) costs few transactions and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vigil.bus.base import Delivery, EventBus
from vigil.domain.events import TrackEnded
from vigil.store.db import Database
from vigil.store.tracks import save_tracks

log = logging.getLogger(__name__)

TRACKS_SUBJECTS = "analytics.*.tracks"
CONSUMER = "track-writer"
RETRY_DELAY_S = 2.0
BATCH_MAX = 500  # tracks written in one statement at most


class TrackWriter:
    """TrackEnded messages in; ``tracks`` rows out."""

    def __init__(self, db: Database, bus: EventBus, *, site: str = "local") -> None:
        self._db = db
        self._bus = bus
        self._site = site
        self._queue: asyncio.Queue[tuple[TrackEnded, Delivery]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Subscribe and start writing; returns once subscribed."""
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(subscribed)),
            asyncio.create_task(self._work()),
        ]
        await subscribed.wait()

    async def stop(self) -> None:
        """Stop; a batch being written finishes first."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _listen(self, subscribed: asyncio.Event) -> None:
        # A durable consumer shared by all servers: each track is stored once, and none is
        # lost while no server runs.
        async with self._bus.consume(CONSUMER, TRACKS_SUBJECTS) as deliveries:
            subscribed.set()
            async for delivery in deliveries:
                try:
                    self._queue.put_nowait((delivery.envelope.open(TrackEnded), delivery))
                except ValueError as exc:
                    log.warning("ignoring a malformed %s message: %s", delivery.envelope.kind, exc)
                    await delivery.ack()

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            tracks = [track for track, _ in batch]
            try:
                await asyncio.to_thread(save_tracks, self._db, tracks, site=self._site)
            except Exception:  # the database is away: say so, keep serving; they come again
                log.exception("could not store %d track(s); they come again", len(batch))
                for _, delivery in batch:
                    with contextlib.suppress(Exception):
                        await delivery.nak(RETRY_DELAY_S)
                continue
            for _, delivery in batch:
                with contextlib.suppress(Exception):  # unacked: stored again, as a no-op
                    await delivery.ack()

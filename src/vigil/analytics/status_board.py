"""The server's view of every camera's analytics: the latest ``AnalyticsStatus`` of each,
kept in memory from the bus (recorders publish one every few seconds and on every change)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vigil.bus.base import EventBus
from vigil.domain.events import AnalyticsStatus

log = logging.getLogger(__name__)

STATUS_SUBJECTS = "analytics.*.status"


class AnalyticsStatusBoard:
    """Latest analytics status per camera, from the bus."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._latest: dict[int, AnalyticsStatus] = {}
        self._task: asyncio.Task[None] | None = None

    def latest(self) -> list[AnalyticsStatus]:
        """The latest status of every camera that reported one, by camera id."""
        return [self._latest[k] for k in sorted(self._latest)]

    def of(self, camera_id: int) -> AnalyticsStatus | None:
        """A camera's latest status, if any."""
        return self._latest.get(camera_id)

    def forget(self, camera_id: int) -> None:
        """Drop a camera's status (it was removed)."""
        self._latest.pop(camera_id, None)

    async def start(self) -> None:
        """Follow the statuses on the bus; returns once subscribed."""
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._follow(subscribed), name="analytics-status")
        await subscribed.wait()

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, subscribed: asyncio.Event) -> None:
        async with self._bus.subscribe(STATUS_SUBJECTS) as messages:
            subscribed.set()
            async for envelope in messages:
                try:
                    status = envelope.open(AnalyticsStatus)
                except ValueError as exc:  # another schema on the subject: skip it
                    log.warning("unreadable analytics status: %s", exc)
                    continue
                self._latest[status.camera_id] = status

"""What the analytics of all cameras on a recorder share: a few worker threads for the
detector, and a thread-safe way to publish on the recorder's bus.

Detection runs on a small pool shared by every camera (onnxruntime releases the GIL, so the
workers use the cores). Each camera has one *slot* holding its latest few frames: when a
frame arrives and the slot is full, the oldest waiting frame is dropped (latest frames win),
so a slow detector drops analysis frames and never queues up, and one camera is never
analysed by two workers at once (its tracker and behaviours see its frames in order). A few
rather than one, because cameras deliver frames in bursts (a read wakes up for half a second
of stream while nobody watches live), not because a busy detector should catch up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from vigil.bus.base import EventBus
from vigil.domain.messages import BusMessage
from vigil.named_thread import NamedThread

log = logging.getLogger(__name__)

T = TypeVar("T")

SLOT_FRAMES = 3
"""Frames a camera's slot holds; more arrive faster than its detector keeps up: dropped."""

Publish = Callable[[str, BusMessage], None]
"""Publish a message on a subject, from any thread, without waiting."""


class AnalysisSlot(Generic[T]):
    """One camera's place in the pool: at most ``size`` waiting items, handled in order."""

    def __init__(
        self, pool: WorkerPool, handler: Callable[[T], None], name: str, size: int = SLOT_FRAMES
    ) -> None:
        self._pool = pool
        self._handler = handler
        self.name = name
        self._lock = threading.Lock()
        self._pending: deque[T] = deque(maxlen=size)
        self._scheduled = False  # queued in the pool or being handled
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()

    def offer(self, item: T) -> bool:
        """Hand in the latest item; returns True when the slot was full and its oldest
        waiting item was dropped. Never blocks for the handling."""
        with self._lock:
            if self._closed:
                return False
            replaced = len(self._pending) == self._pending.maxlen
            self._pending.append(item)
            if not self._scheduled:
                self._scheduled = True
                self._idle.clear()
                self._pool._ready.put(self)
        return replaced

    @property
    def busy(self) -> bool:
        """Whether an item waits or is being handled."""
        return not self._idle.is_set()

    def close(self, timeout: float = 10.0) -> None:
        """Take no more items and wait (up to ``timeout``) for the one being handled."""
        with self._lock:
            self._closed = True
            self._pending.clear()
        self._idle.wait(timeout)

    def _run(self) -> None:
        with self._lock:
            item = self._pending.popleft() if self._pending else None
        try:
            if item is not None:
                self._handler(item)
        except Exception:  # one camera's failure must not stop the worker
            log.exception("analytics of %s failed on a frame", self.name)
        finally:
            with self._lock:
                if self._pending and not self._closed:
                    self._pool._ready.put(self)
                else:
                    self._scheduled = False
                    self._idle.set()


class WorkerPool:
    """Worker threads that handle the slots with something waiting, one slot at a time each.

    Args:
        workers: Threads; default: one per core.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._ready: queue.SimpleQueue[AnalysisSlot[Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def slot(
        self, handler: Callable[[T], None], name: str, size: int = SLOT_FRAMES
    ) -> AnalysisSlot[T]:
        """A new slot of ``size`` items that ``handler`` handles on a worker."""
        self._start()
        return AnalysisSlot(self, handler, name, size)

    def _start(self) -> None:
        if self._threads:
            return
        for i in range(self.workers):
            thread = NamedThread(target=self._work, name=f"detect-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while (slot := self._ready.get()) is not None:
            slot._run()

    def stop(self) -> None:
        """Stop the workers once they finish what they are handling."""
        for _ in self._threads:
            self._ready.put(None)
        for thread in self._threads:
            thread.join(10)
        self._threads = []


class BusPublisher:
    """Publishes on an asyncio bus from other threads, without waiting for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, bus: EventBus) -> None:
        self._loop = loop
        self._bus = bus

    def __call__(self, subject: str, message: BusMessage) -> None:
        """Publish ``message`` on ``subject`` (dropped when the loop has closed)."""
        try:
            future = asyncio.run_coroutine_threadsafe(
                self._bus.publish(subject, message), self._loop
            )
        except RuntimeError:  # the loop is closed: the recorder is stopping
            return
        future.add_done_callback(_log_failure)


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("publishing an analytics message failed: %s", exc)

"""A recorder node's membership in the cluster: heartbeat, scheduling, its leases.

Each round (every ``recorder.health_interval_s``) the node reports itself (capacity, CPUs,
free disk), the first live node by name runs a scheduling pass (``store/leases.py``: one
at a time under a database lock, so a second leader changes nothing), and the node renews
the leases it holds. What it holds after renewing is what it records. Rounds run in a
thread of their own (:meth:`Membership.keep`), never behind the recorder's other work:
starting and stopping many cameras takes seconds under load, and a renewal that waited
for it would let every lease lapse at once. Between rounds it
trusts a lease only until the local monotonic clock passes the renewal's start plus the
lease: a node that was paused or cut off longer than that stops writing before it even
reaches the database again, where the fencing check refuses it anyway.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from vigil.domain.placement import LEASE
from vigil.named_thread import NamedThread
from vigil.store import leases, nodes
from vigil.store.db import Database
from vigil.store.types import utcnow

log = logging.getLogger(__name__)


class Membership:
    """This node's view of its leases, shared with the ingest threads (thread-safe)."""

    def __init__(
        self,
        db: Database,
        node: str,
        media_url: str,
        *,
        capacity: int,
        disk: Path,
        lease: timedelta = LEASE,
    ) -> None:
        self.db = db
        self.node = node
        self._media_url = media_url
        self._capacity = capacity
        self._disk = disk
        self._lease = lease
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}
        self._recording: dict[int, int] = {}
        # Each camera's lease this node released last (epoch, monotonic time): a round that
        # began before the release must not hand the camera back under it. Only such
        # rounds: a disabled camera's lease row goes, and its next grant may reuse the epoch.
        self._released: dict[int, tuple[int, float]] = {}
        self._valid_until = 0.0  # monotonic
        self._due = threading.Event()  # a round is wanted now (cameras changed)
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def round(self, *, starting: bool = False) -> dict[int, int]:
        """Heartbeat, schedule when this node leads, renew; returns camera -> epoch of the
        cameras to record (blocking: runs in a worker thread). Cameras this node is asked
        to hand back are left out, yet stay writable until released, so that stopping
        them closes their segments in the index."""
        began = time.monotonic()
        free = shutil.disk_usage(self._disk).free if self._disk.exists() else 0
        nodes.heartbeat(
            self.db,
            self.node,
            self._media_url,
            starting=starting,
            capacity=self._capacity,
            cpu_count=os.cpu_count() or 1,
            free_disk_bytes=free,
        )
        now = utcnow()
        if nodes.leader(self.db, alive_within=self._lease, now=now) == self.node:
            for grant in leases.schedule(
                db=self.db, now=now, lease=self._lease, alive_within=self._lease
            ):
                if grant.reason:
                    log.warning(
                        "camera %s -> node %s: %s", grant.camera_id, grant.node, grant.reason
                    )
                else:
                    log.info("camera %s -> node %s", grant.camera_id, grant.node)
        held = leases.renew(self.db, self.node, now=utcnow(), lease=self._lease)
        with self._lock:
            epochs = {
                c: e
                for c, e in held.epochs.items()
                if not ((r := self._released.get(c)) and r[0] == e and began < r[1])
            }
            recording = {c: e for c, e in epochs.items() if c not in held.revoked}
            self._held = epochs
            self._recording = recording
            self._valid_until = began + self._lease.total_seconds()
        return recording

    def keep(self, interval_s: float, on_change: Callable[[], None]) -> None:
        """Run a round every ``interval_s`` (or at once when :meth:`poke`d) in a thread of
        its own until :meth:`stop_keeping`; ``on_change`` is called (from that thread) when
        the cameras to record changed."""
        self._stop.clear()
        self._keeper = NamedThread(
            target=self._keep, args=(interval_s, on_change), name="leases", daemon=True
        )
        self._keeper.start()

    def _keep(self, interval_s: float, on_change: Callable[[], None]) -> None:
        last = self.recording()
        while not self._stop.is_set():
            self._due.wait(interval_s)
            self._due.clear()
            if self._stop.is_set():
                return
            try:
                recording = self.round()
            except Exception:  # e.g. the database is briefly away: leases run out meanwhile
                log.exception("lease round failed; retrying")
                continue
            if recording != last:
                last = recording
                on_change()

    def poke(self) -> None:
        """Run the next round now (cameras were added, removed or moved)."""
        self._due.set()

    def stop_keeping(self) -> None:
        """End the rounds (before the node releases its leases on the way out)."""
        self._stop.set()
        self._due.set()
        if self._keeper is not None:
            self._keeper.join(timeout=30)
            self._keeper = None

    def recording(self) -> dict[int, int]:
        """Camera -> epoch of the cameras to record, as of the latest round (any thread)."""
        with self._lock:
            return dict(self._recording)

    def lost(self) -> None:
        """The database could not be reached: trust nothing held until the next round."""
        with self._lock:
            self._held = {}

    def epoch_of(self, camera_id: int) -> int | None:
        """The epoch this node holds the camera under, or None (fencing, any thread)."""
        with self._lock:
            if time.monotonic() >= self._valid_until:
                return None
            return self._held.get(camera_id)

    def may_write(self, camera_id: int) -> bool:
        """Whether this node may still write the camera's footage (any thread)."""
        return self.epoch_of(camera_id) is not None

    def release(self, camera_id: int, epoch: int) -> None:
        """This node stopped the camera: free its lease for the next grant (blocking)."""
        with self._lock:
            self._held.pop(camera_id, None)
            self._recording.pop(camera_id, None)
            self._released[camera_id] = (epoch, time.monotonic())
        leases.release(self.db, self.node, camera_id, epoch)

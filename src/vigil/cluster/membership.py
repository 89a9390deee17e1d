"""A recorder node's membership in the cluster: heartbeat, scheduling, its leases.

Each round (every ``recorder.health_interval_s``) the node reports itself (capacity, CPUs,
free disk), the first live node by name runs a scheduling pass (``store/leases.py``: one
at a time under a database lock, so a second leader changes nothing), and the node renews
the leases it holds. What it holds after renewing is what it records. Between rounds it
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
from datetime import timedelta
from pathlib import Path

from vigil.domain.placement import LEASE
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
        self._valid_until = 0.0  # monotonic

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
            self._held = dict(held.epochs)
            self._valid_until = began + self._lease.total_seconds()
        return {c: e for c, e in held.epochs.items() if c not in held.revoked}

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
        leases.release(self.db, self.node, camera_id, epoch)

"""A recorder node's membership: rounds in a thread of their own keep its leases."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from vigil.cluster.membership import Membership
from vigil.store import cameras as camera_store
from vigil.store.db import Database


def test_leases_are_kept_by_their_own_thread_and_changes_announced(
    db: Database, tmp_path: Path
) -> None:
    lease = timedelta(seconds=2)
    membership = Membership(db, "a", "http://a", capacity=10, disk=tmp_path, lease=lease)
    assert membership.round(starting=True) == {}
    changed = threading.Event()
    membership.keep(0.1, on_change=changed.set)
    try:
        cam = camera_store.create_camera(db, name="c", main_url="rtsp://127.0.0.1/c").id
        membership.poke()
        assert changed.wait(10), "a new camera is announced"
        recording = membership.recording()
        assert list(recording) == [cam]
        # Nobody but the keeper runs rounds: the lease outlives its first term.
        deadline = time.monotonic() + 2 * lease.total_seconds()
        while time.monotonic() < deadline:
            assert membership.epoch_of(cam) == recording[cam]
            time.sleep(0.05)
    finally:
        membership.stop_keeping()
    time.sleep(1.5 * lease.total_seconds())
    assert membership.epoch_of(cam) is None, "no rounds once stopped: the lease lapses"


def test_a_released_camera_is_not_recorded_again_under_the_same_epoch(
    db: Database, tmp_path: Path
) -> None:
    """A camera stopped and started again at once (disabled, enabled) is recorded under a new
    grant, never under the lease it just released: that one fences every write."""
    membership = Membership(db, "a", "http://a", capacity=10, disk=tmp_path)
    cam = camera_store.create_camera(db, name="c", main_url="rtsp://127.0.0.1/c").id
    first = membership.round(starting=True)[cam]
    membership.release(cam, first)
    assert membership.recording() == {} and membership.epoch_of(cam) is None
    assert membership.round() == {cam: first + 1}

"""Leases in the database: grants, renewal, failover, drain, pins and fencing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vigil.domain.errors import LeaseLost
from vigil.media.segment_index import DbSegmentIndex
from vigil.store import cameras as camera_store
from vigil.store import leases, nodes
from vigil.store.db import Database
from vigil.store.models import Gap, Node, Segment
from vigil.store.types import utcnow

LEASE = timedelta(seconds=6)


def add_cameras(db: Database, count: int) -> list[int]:
    return [
        camera_store.create_camera(db, name=f"cam{i}", main_url=f"rtsp://127.0.0.1/{i}").id
        for i in range(count)
    ]


def beat(db: Database, *names: str, at_s: float = 0.0, capacity: int = 100) -> None:
    for name in names:
        nodes.heartbeat(db, name, f"http://{name}", capacity=capacity)
    if at_s:  # pretend the heartbeat was that long ago
        with db.session() as s:
            for name in names:
                node = s.get(Node, name)
                assert node is not None
                node.heartbeat_at = utcnow() - timedelta(seconds=at_s)


def schedule(db: Database, after_s: float = 0.0) -> list[leases.Grant]:
    now = utcnow() + timedelta(seconds=after_s)
    return leases.schedule(
        db, now=now, lease=LEASE, alive_within=LEASE + timedelta(seconds=after_s)
    )


def test_each_camera_is_granted_to_exactly_one_node(db: Database) -> None:
    cams = add_cameras(db, 6)
    beat(db, "a", "b", "c")
    grants = schedule(db)
    assert sorted(g.camera_id for g in grants) == cams
    assert {g.node for g in grants} == {"a", "b", "c"}
    assert schedule(db) == [], "kept where they are"
    held = [leases.renew(db, n, now=utcnow(), lease=LEASE) for n in "abc"]
    assert sorted(c for h in held for c in h.epochs) == cams


def test_a_dead_nodes_cameras_move_with_a_new_epoch_and_a_gap(db: Database) -> None:
    (cam,) = add_cameras(db, 1)
    beat(db, "a")
    (first,) = schedule(db)
    assert first.node == "a"
    index = DbSegmentIndex(db, "a", epoch_of=lambda _c: first.epoch)
    with db.session() as s:
        s.add(Segment(camera_id=cam, node="a", path="x.mp4", start=utcnow()))
    # "a" stops renewing; "b" is alive later on.
    beat(db, "a", at_s=60)
    beat(db, "b")
    (second,) = schedule(db, after_s=7)
    assert (second.node, second.previous) == ("b", "a")
    assert second.epoch == first.epoch + 1
    assert second.reason == "recorder node a failed"
    with db.session() as s:
        assert s.query(Segment).filter(Segment.end.is_(None)).count() == 0, "a's segment closed"
        gap = s.query(Gap).one()
        assert gap.reason == "recorder node a failed" and gap.end is None
    # Fencing: "a" comes back and may write nothing for the camera.
    with pytest.raises(LeaseLost):
        index.gap_opened(cam, utcnow(), "stream ended")
    assert leases.renew(db, "a", now=utcnow(), lease=LEASE).epochs == {}


def test_a_lease_that_ran_out_is_never_renewed(db: Database) -> None:
    add_cameras(db, 1)
    beat(db, "a")
    schedule(db)
    later = utcnow() + LEASE + timedelta(seconds=1)
    assert leases.renew(db, "a", now=later, lease=LEASE).epochs == {}


def test_a_live_node_late_to_renew_keeps_its_camera_under_the_same_epoch(db: Database) -> None:
    """An overloaded node renews after its lease ran out: it is still heartbeating, so the
    scheduler extends the lease for it rather than grant the camera anew (a new epoch would
    fence its writers and restart its cameras, more load on a node already late)."""
    add_cameras(db, 1)
    beat(db, "a", "b")
    (grant,) = schedule(db)
    beat(db, "a", "b")  # both alive 7 s on, when the lease has run out
    assert schedule(db, after_s=7) == [], "kept, not granted again"
    later = utcnow() + timedelta(seconds=8)
    assert leases.renew(db, grant.node, now=later, lease=LEASE).epochs == {
        grant.camera_id: grant.epoch
    }


def test_a_revoked_lease_that_ran_out_is_granted_anew(db: Database) -> None:
    (cam,) = add_cameras(db, 1)
    beat(db, "a")
    (first,) = schedule(db)
    beat(db, "b")
    nodes.set_draining(db, "a", True)
    assert schedule(db) == [], "revoked; 'a' never releases it"
    nodes.set_draining(db, "a", False)
    beat(db, "b", at_s=60)  # "b" is gone meanwhile: "a" is the one place left
    beat(db, "a")
    (second,) = schedule(db, after_s=7)
    assert (second.camera_id, second.node, second.epoch) == (cam, "a", first.epoch + 1)
    later = utcnow() + timedelta(seconds=8)
    held = leases.renew(db, "a", now=later, lease=LEASE)
    assert held.epochs == {cam: second.epoch} and held.revoked == frozenset()


def test_draining_moves_cameras_after_their_node_releases_them(db: Database) -> None:
    cams = add_cameras(db, 2)
    beat(db, "a")
    schedule(db)
    beat(db, "b")
    nodes.set_draining(db, "a", True)
    assert schedule(db) == [], "revoked first, not granted twice"
    held = leases.renew(db, "a", now=utcnow(), lease=LEASE)
    assert held.revoked == set(cams) == set(held.epochs), "a stops them, still writable"
    for cam in cams:
        leases.release(db, "a", cam, 1)
    grants = schedule(db)
    assert {g.node for g in grants} == {"b"} and all(g.reason is None for g in grants)


def test_pinning_moves_a_camera_to_its_node(db: Database) -> None:
    (cam,) = add_cameras(db, 1)
    beat(db, "a", "b")
    (grant,) = schedule(db)
    other = "b" if grant.node == "a" else "a"
    camera_store.update_camera(db, cam, pinned_node=other)
    schedule(db)
    leases.release(db, grant.node, cam, grant.epoch)
    (moved,) = schedule(db)
    assert moved.node == other


def test_fenced_index_writes_only_under_the_lease(db: Database) -> None:
    (cam,) = add_cameras(db, 1)
    beat(db, "a")
    (grant,) = schedule(db)
    good = DbSegmentIndex(db, "a", epoch_of=lambda _c: grant.epoch)
    stale = DbSegmentIndex(db, "a", epoch_of=lambda _c: grant.epoch - 1)
    good.gap_opened(cam, utcnow(), "stream ended")
    with pytest.raises(LeaseLost):
        stale.gap_opened(cam, utcnow(), "stream ended")
    with pytest.raises(LeaseLost):
        DbSegmentIndex(db, "a", epoch_of=lambda _c: None).gap_opened(cam, utcnow(), "x")


def test_a_disabled_cameras_lease_is_revoked_then_dropped_once_released(db: Database) -> None:
    (cam,) = add_cameras(db, 1)
    beat(db, "a")
    (grant,) = schedule(db)
    camera_store.update_camera(db, cam, enabled=False)
    assert schedule(db) == []
    held = leases.renew(db, "a", now=utcnow(), lease=LEASE)
    assert held.revoked == {cam}, "stopped by its node, which may still close its segment"
    index = DbSegmentIndex(db, "a", epoch_of=lambda _c: grant.epoch)
    index.gap_opened(cam, utcnow(), "recording stopped")  # allowed until released
    leases.release(db, "a", cam, grant.epoch)
    schedule(db)
    assert leases.owners(db) == {}

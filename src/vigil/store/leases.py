"""Camera leases in the database: granting by placement, renewal, release, fencing.

The database is the one arbiter of who records what: every grant and every index row a
node writes is checked against the lease table in a transaction, so clocks of processes
and messages on the bus never decide ownership.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session

from vigil.domain.placement import CameraView, NodeView, place
from vigil.store.db import Database, advisory_lock
from vigil.store.models import Camera, CameraLease, Gap, Node, Segment

# The key of PostgreSQL's advisory lock that serialises scheduling passes.
SCHEDULE_LOCK_KEY = 0x5649_4749_4C53  # "VIGILS"


@dataclass(frozen=True, slots=True)
class Grant:
    """A camera given to a node (or taken from a failed one) in a scheduling pass."""

    camera_id: int
    node: str
    epoch: int
    previous: str | None  # the node that had it, if any
    reason: str | None  # why it moved, for the timeline's gap


def schedule(
    db: Database, *, now: datetime, lease: timedelta, alive_within: timedelta
) -> list[Grant]:
    """Grant every enabled camera that needs a node to the node placement chooses.

    A lease that expired because its node stopped (no heartbeat) or was released goes to a
    live node; one that expired while its node is alive (late renewing) is extended for it;
    a camera whose node is draining, or that is pinned to another live node, is revoked
    first and granted once its node released it (or its lease ran out). Leases of
    disabled or removed cameras are dropped. Returns the grants made.
    """
    with db.session() as s:
        advisory_lock(s, SCHEDULE_LOCK_KEY)  # one scheduling pass at a time, across nodes
        cameras = s.execute(
            select(Camera.id, Camera.pinned_node).where(Camera.enabled.is_(True))
        ).all()
        leases = {row.camera_id: row for row in s.scalars(select(CameraLease)).all()}
        nodes = _node_views(s.scalars(select(Node)).all(), now - alive_within)
        enabled = {c.id for c in cameras}
        for camera_id in set(leases) - enabled:
            gone = leases.pop(camera_id)
            if _holds(gone, now):
                gone.revoked = True  # disabled: its node stops it cleanly, then releases
            else:
                s.delete(gone)
        views = []
        for camera_id, pinned in cameras:
            held = leases.get(camera_id)
            owner = _owner(held, now, nodes)
            views.append(CameraView(camera_id, owner=owner, pinned=pinned))
        wanted = place(views, nodes.values())
        grants: list[Grant] = []
        for camera_id, target in wanted.items():
            held = leases.get(camera_id)
            if target is None:
                continue
            if held is not None and held.node == target:
                if _holds(held, now):
                    continue
                if not held.revoked:
                    # Its node is alive but renewed late (overloaded): it keeps the camera
                    # under the same epoch. A new epoch would fence its writers and restart
                    # every camera it has, the load that made it late in the first place.
                    held.expires_at = now + lease
                    continue
            if held is not None and held.node is not None and _holds(held, now):
                held.revoked = True  # its node stops and releases it; granted next pass
                continue
            grant = _grant(s, held, camera_id, target, now, lease, nodes)
            grants.append(grant)
        return grants


def _holds(lease_row: CameraLease, now: datetime) -> bool:
    """Whether a lease is still in force for its node (granted and not expired)."""
    return lease_row.node is not None and lease_row.expires_at > now


def _owner(held: CameraLease | None, now: datetime, nodes: dict[str, NodeView]) -> str | None:
    """The node a camera stays with: the one holding its lease, or the one whose lease ran
    out while it is still alive (heartbeating) and was not asked to hand the camera back."""
    if held is None or held.node is None:
        return None
    if _holds(held, now):
        return held.node
    node = nodes.get(held.node)
    return held.node if node is not None and node.alive and not held.revoked else None


def _node_views(nodes: Sequence[Node], alive_since: datetime) -> dict[str, NodeView]:
    return {
        n.name: NodeView(
            n.name, capacity=n.capacity, alive=n.heartbeat_at >= alive_since, draining=n.draining
        )
        for n in nodes
    }


def _grant(
    s: Session,
    held: CameraLease | None,
    camera_id: int,
    target: str,
    now: datetime,
    lease: timedelta,
    nodes: dict[str, NodeView],
) -> Grant:
    previous = held.node if held is not None else None
    reason = None
    # A node that comes back after its lease ran out (restarted) repairs its own segments.
    if held is not None and previous is not None and previous != target:
        # Its node stopped renewing without releasing it: the node failed (or was cut off).
        reason = f"recorder node {previous} failed"
        _close_left_open(s, camera_id, previous, held.expires_at - lease, reason)
    if held is None:
        held = CameraLease(camera_id=camera_id, epoch=0)
        s.add(held)
    held.node, held.epoch = target, held.epoch + 1
    held.expires_at, held.granted_at, held.revoked = now + lease, now, False
    s.flush()
    return Grant(camera_id, target, held.epoch, previous, reason)


def _close_left_open(
    s: Session, camera_id: int, node: str, last_seen: datetime, reason: str
) -> None:
    """A failed node's open segment of the camera ends when the node was last heard of;
    the gap from there carries why."""
    open_segments = s.scalars(
        select(Segment).where(
            Segment.camera_id == camera_id, Segment.node == node, Segment.end.is_(None)
        )
    ).all()
    end = last_seen
    for seg in open_segments:
        seg.end = max(last_seen, seg.start)
        end = seg.end
    already = s.scalar(select(Gap.id).where(Gap.camera_id == camera_id, Gap.end.is_(None)))
    if already is None:  # an open gap already says why (the node's own last words)
        s.add(Gap(camera_id=camera_id, start=end, reason=reason))


@dataclass(frozen=True, slots=True)
class Held:
    """A node's leases after renewing: camera -> epoch, and which of them it is asked to
    hand back (it may still write them, to close their segments, until it releases)."""

    epochs: dict[int, int]
    revoked: frozenset[int]


def renew(db: Database, node: str, *, now: datetime, lease: timedelta) -> Held:
    """Extend this node's leases that are in force and not revoked; returns what it holds.
    A lease that ran out is never renewed: a node that was paused past it must stop,
    whoever records the camera now. A revoked lease is not extended: the node releases it
    once the camera is stopped, or it runs out."""
    with db.session() as s:
        s.execute(
            update(CameraLease)
            .where(
                CameraLease.node == node,
                CameraLease.expires_at > now,
                CameraLease.revoked.is_(False),
            )
            .values(expires_at=now + lease)
        )
        rows = s.execute(
            select(CameraLease.camera_id, CameraLease.epoch, CameraLease.revoked).where(
                CameraLease.node == node, CameraLease.expires_at > now
            )
        ).all()
        return Held(
            epochs={camera_id: epoch for camera_id, epoch, _ in rows},
            revoked=frozenset(camera_id for camera_id, _, revoked in rows if revoked),
        )


def release(db: Database, node: str, camera_id: int, epoch: int) -> None:
    """This node stopped recording the camera: the lease is free for the next grant."""
    with db.session() as s:
        s.execute(
            update(CameraLease)
            .where(
                CameraLease.camera_id == camera_id,
                CameraLease.node == node,
                CameraLease.epoch == epoch,
            )
            .values(node=None, revoked=False)
        )


def holds(session: Session, camera_id: int, node: str, epoch: int, now: datetime) -> bool:
    """Fencing: whether ``node`` holds the camera's lease with ``epoch`` right now (in the
    caller's transaction, so the write it guards commits only under the lease)."""
    return (
        session.scalar(
            select(CameraLease.camera_id).where(
                and_(
                    CameraLease.camera_id == camera_id,
                    CameraLease.node == node,
                    CameraLease.epoch == epoch,
                    CameraLease.expires_at > now,
                )
            )
        )
        is not None
    )


def owners(db: Database) -> dict[int, str]:
    """Camera id -> the node holding its lease (granted, whether or not expired)."""
    with db.session() as s:
        rows = s.execute(
            select(CameraLease.camera_id, CameraLease.node).where(CameraLease.node.is_not(None))
        ).all()
        return {camera_id: str(node) for camera_id, node in rows}


def forget_node(db: Database, node: str) -> None:
    """An administrator removed a node: its leases go (its cameras are placed anew)."""
    with db.session() as s:
        s.execute(delete(CameraLease).where(CameraLease.node == node))

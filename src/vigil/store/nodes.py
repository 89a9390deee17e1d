"""Recorder nodes: who is running and where their media API answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from vigil.domain.placement import LEASE
from vigil.store.db import Database
from vigil.store.models import CameraLease, Node
from vigil.store.types import utcnow

# A node that has not said anything for this long is taken as gone (its leases ran out).
NODE_TIMEOUT = LEASE


def heartbeat(
    db: Database,
    name: str,
    media_url: str,
    *,
    starting: bool = False,
    capacity: int | None = None,
    cpu_count: int | None = None,
    free_disk_bytes: int | None = None,
) -> None:
    """Register a node, or note that it is alive (with what it can take, when given)."""
    now = utcnow()
    with db.session() as s:
        node = s.get(Node, name)
        if node is None:
            node = Node(name=name, media_url=media_url, started_at=now, heartbeat_at=now)
            s.add(node)
        node.media_url, node.heartbeat_at = media_url, now
        if starting:
            node.started_at = now
        if capacity is not None:
            node.capacity = capacity
        if cpu_count is not None:
            node.cpu_count = cpu_count
        if free_disk_bytes is not None:
            node.free_disk_bytes = free_disk_bytes


def leader(db: Database, *, alive_within: timedelta, now: datetime) -> str | None:
    """The live node that runs scheduling passes: the first by name."""
    with db.session() as s:
        return s.scalar(
            select(Node.name)
            .where(Node.heartbeat_at >= now - alive_within)
            .order_by(Node.name)
            .limit(1)
        )


def set_draining(db: Database, name: str, draining: bool) -> Node | None:
    """Start or stop moving a node's cameras off it; None if no such node."""
    with db.session() as s:
        node = s.get(Node, name)
        if node is not None:
            node.draining = draining
        return node


def media_url_for_camera(db: Database, camera_id: int) -> str | None:
    """Media API of the live node that records this camera (holds its lease), or None."""
    cutoff = utcnow() - NODE_TIMEOUT
    with db.session() as s:
        return s.scalar(
            select(Node.media_url)
            .join(CameraLease, CameraLease.node == Node.name)
            .where(CameraLease.camera_id == camera_id, Node.heartbeat_at >= cutoff)
        )


def is_alive(node: Node) -> bool:
    """Whether a node has said something within ``NODE_TIMEOUT``."""
    return node.heartbeat_at >= utcnow() - NODE_TIMEOUT


def get_node(db: Database, name: str) -> Node | None:
    """One node, or None."""
    with db.session() as s:
        return s.get(Node, name)


def list_nodes(db: Database) -> list[Node]:
    """All nodes ever registered."""
    with db.session() as s:
        return list(s.scalars(select(Node).order_by(Node.name)).all())

"""Recorder nodes: who is running and where their media API answers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from vigil.store.db import Database
from vigil.store.models import CameraHealth, Node
from vigil.store.types import utcnow

# A node that has not said anything for this long is taken as gone.
NODE_TIMEOUT = timedelta(seconds=30)


def heartbeat(db: Database, name: str, media_url: str, *, starting: bool = False) -> None:
    """Register a node, or note that it is alive."""
    now = utcnow()
    with db.session() as s:
        node = s.get(Node, name)
        if node is None:
            s.add(Node(name=name, media_url=media_url, started_at=now, heartbeat_at=now))
            return
        node.media_url, node.heartbeat_at = media_url, now
        if starting:
            node.started_at = now


def media_url_for_camera(db: Database, camera_id: int) -> str | None:
    """Media API of the live node that reads this camera (or of any live node)."""
    cutoff = utcnow() - NODE_TIMEOUT
    with db.session() as s:
        owner = s.scalar(
            select(Node.media_url)
            .join(CameraHealth, CameraHealth.node == Node.name)
            .where(CameraHealth.camera_id == camera_id, Node.heartbeat_at >= cutoff)
        )
        if owner:
            return owner
        return s.scalar(
            select(Node.media_url).where(Node.heartbeat_at >= cutoff).order_by(Node.name)
        )


def list_nodes(db: Database) -> list[Node]:
    """All nodes ever registered."""
    with db.session() as s:
        return list(s.scalars(select(Node).order_by(Node.name)).all())

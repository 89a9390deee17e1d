"""Stored tracks: one row per object followed on a camera, for forensic search and heatmaps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from vigil.domain.events import TrackEnded
from vigil.store.db import Database
from vigil.store.models import TrackRecord


def track_row(track: TrackEnded, *, site: str = "local") -> dict[str, Any]:
    """The ``tracks`` row of an ended track, as column values."""
    return {
        "uid": track.uid,
        "site": track.site or site,
        "camera_id": track.camera_id,
        "track_id": track.track_id,
        "object_class": track.class_name,
        "colour": track.colour,
        "first_at": track.first_at,
        "last_at": track.last_at,
        "path": [list(p) for p in track.path],
        "box": list(track.box) if track.box else None,
        "zones": list(track.zones),
        "thumbnail": track.thumbnail,
        "node": track.node,
    }


def add_tracks(session: Session, tracks: Sequence[TrackEnded], *, site: str = "local") -> None:
    """Insert the ended tracks not stored yet (a track may be delivered twice) in one
    statement, in the caller's transaction."""
    uids = {t.uid for t in tracks}
    stored = set(session.scalars(select(TrackRecord.uid).where(TrackRecord.uid.in_(uids))))
    fresh = {t.uid: t for t in tracks if t.uid not in stored}  # once each, in order
    if fresh:
        session.execute(insert(TrackRecord), [track_row(t, site=site) for t in fresh.values()])


def save_tracks(db: Database, tracks: Sequence[TrackEnded], *, site: str = "local") -> None:
    """Store ended tracks in one transaction."""
    with db.session() as s:
        add_tracks(s, tracks, site=site)


def get_track(db: Database, track_row_id: int) -> TrackRecord | None:
    """One stored track by its row id, or None."""
    with db.session() as s:
        return s.get(TrackRecord, track_row_id)


def track_paths(
    db: Database,
    *,
    camera_id: int,
    since: datetime,
    until: datetime,
    classes: Sequence[str] = (),
    limit: int,
) -> list[list[Any]]:
    """Paths of a camera's tracks seen in ``[since, until)``, newest first, at most ``limit``.

    Args:
        db: The database.
        camera_id: The camera.
        since: Start of the period (tracks still visible then count).
        until: End of the period (exclusive).
        classes: Object classes to keep; empty keeps all.
        limit: Most tracks read (the newest).

    Returns:
        Each track's path: ``[[seconds, x, y], ...]`` in image fractions.
    """
    query = (
        select(TrackRecord.path)
        .where(
            TrackRecord.camera_id == camera_id,
            TrackRecord.first_at < until,
            TrackRecord.last_at >= since,
        )
        .order_by(TrackRecord.first_at.desc())
        .limit(limit)
    )
    if classes:
        query = query.where(TrackRecord.object_class.in_(list(classes)))
    with db.session() as s:
        return [list(p or []) for p in s.scalars(query)]

"""Segments and gaps: the recorded index of every camera."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, or_, select

from vigil.store.db import Database
from vigil.store.evidence_locks import segment_locked
from vigil.store.models import (
    Alarm,
    EventRecord,
    Gap,
    Segment,
    SegmentTombstone,
    TrackRecord,
)
from vigil.store.recording_requests import segment_requested
from vigil.store.types import utcnow

# Bound on the parameters of one ``IN`` (SQLite allows 32766; PostgreSQL more).
PATHS_BATCH = 500


def _overlapping(
    model: type[Segment] | type[Gap], camera_id: int, start: datetime, end: datetime
) -> Select[Any]:
    """Rows of a camera whose [start, end) overlaps the window; an open row runs to now."""
    return (
        select(model)
        .where(
            model.camera_id == camera_id,
            model.start < end,
            or_(model.end.is_(None), model.end > start),
        )
        .order_by(model.start)
    )


def segments_between(
    db: Database, camera_id: int, start: datetime, end: datetime
) -> Sequence[Segment]:
    """Segments of a camera that overlap [start, end), oldest first (open ones included)."""
    with db.session() as s:
        return s.scalars(_overlapping(Segment, camera_id, start, end)).all()


def camera_segments(db: Database, camera_id: int) -> Sequence[Segment]:
    """Every segment of a camera, oldest first."""
    with db.session() as s:
        return s.scalars(
            select(Segment).where(Segment.camera_id == camera_id).order_by(Segment.start)
        ).all()


def node_at(db: Database, camera_id: int, at: datetime) -> str | None:
    """The node that was recording the camera at ``at`` (its segment then, else its latest
    segment that started before), or None without one."""
    with db.session() as s:
        return s.scalar(
            select(Segment.node)
            .where(Segment.camera_id == camera_id, Segment.start <= at)
            .order_by(Segment.start.desc())
            .limit(1)
        )


def get_segment(db: Database, segment_id: int) -> Segment | None:
    """One segment, or None."""
    with db.session() as s:
        return s.get(Segment, segment_id)


def recorded_until(db: Database, camera_id: int) -> datetime | None:
    """The end of a camera's latest segment; None without one, or while it is open."""
    with db.session() as s:
        return s.scalar(
            select(Segment.end)
            .where(Segment.camera_id == camera_id)
            .order_by(Segment.start.desc())
            .limit(1)
        )


def gaps_between(db: Database, camera_id: int, start: datetime, end: datetime) -> Sequence[Gap]:
    """Recorded gaps of a camera that overlap [start, end), oldest first."""
    with db.session() as s:
        return s.scalars(_overlapping(Gap, camera_id, start, end)).all()


def total_bytes(db: Database, *, node: str | None = None) -> int:
    """Bytes of all recorded segments, or of those recorded by ``node``."""
    query = select(func.coalesce(func.sum(Segment.bytes), 0))
    if node is not None:
        query = query.where(Segment.node == node)
    with db.session() as s:
        return int(s.scalar(query) or 0)


def oldest_closed_segments(
    db: Database,
    *,
    limit: int,
    camera_id: int | None = None,
    before: datetime | None = None,
    sparing_held_at: datetime | None = None,
    sparing_requested: bool = False,
    node: str | None = None,
    other_than_node: str | None = None,
) -> Sequence[Segment]:
    """The oldest finished segments: what retention and the disk budget delete first.

    Args:
        db: The database.
        limit: At most this many.
        camera_id: Only this camera's.
        before: Only segments that ended before this.
        sparing_held_at: Leave out segments that a recording request holds at this time.
        sparing_requested: Leave out segments that overlap any recording request.
        node: Only segments this recorder node recorded.
        other_than_node: Only segments other nodes recorded.

    Segments under an evidence lock are always left out: nothing deletes evidence.
    """
    query = select(Segment).where(Segment.end.is_not(None), ~segment_locked(utcnow()))
    if camera_id is not None:
        query = query.where(Segment.camera_id == camera_id)
    if before is not None:
        query = query.where(Segment.end < before)
    if node is not None:
        query = query.where(Segment.node == node)
    if other_than_node is not None:
        query = query.where(Segment.node != other_than_node)
    with db.session() as s:
        if sparing_requested:
            query = query.where(~segment_requested(session=s))
        if sparing_held_at is not None:
            query = query.where(~segment_requested(held_at=sparing_held_at, session=s))
        return s.scalars(query.order_by(Segment.start).limit(limit)).all()


def open_segments(db: Database, node: str) -> Sequence[Segment]:
    """Segments a node left open (it stopped or crashed while writing)."""
    with db.session() as s:
        return s.scalars(select(Segment).where(Segment.node == node, Segment.end.is_(None))).all()


def delete_segments(db: Database, ids: Sequence[int]) -> None:
    """Remove segments from the index (their files are removed by the caller).

    Chained segments leave a tombstone, so that verification can tell this deletion from a
    segment removed behind Vigil's back; tombstones older than a camera's oldest remaining
    segment are no longer needed (a chain may start anywhere) and go.
    """
    if not ids:
        return
    with db.session() as s:
        # Only the rows this transaction deletes: when two janitors (nodes sharing the
        # index) pick the same victims, one tombstone each, not one per janitor.
        gone = s.scalars(
            delete(Segment)
            .where(Segment.id.in_(ids))
            .returning(Segment)
            .execution_options(synchronize_session=False)
        ).all()
        for seg in gone:
            if seg.chain_hash is not None:
                s.add(
                    SegmentTombstone(
                        camera_id=seg.camera_id,
                        start=seg.start,
                        end=seg.end,
                        sha256=seg.sha256,
                        prev_chain_hash=seg.prev_chain_hash,
                        chain_hash=seg.chain_hash,
                    )
                )
        s.flush()
        for camera_id in {seg.camera_id for seg in gone}:
            older_kept = exists().where(
                Segment.camera_id == camera_id, Segment.start <= SegmentTombstone.start
            )
            s.execute(
                delete(SegmentTombstone)
                .where(SegmentTombstone.camera_id == camera_id, ~older_kept)
                .execution_options(synchronize_session=False)
            )


def indexed_paths(db: Database, paths: Sequence[str]) -> set[str]:
    """Which of these recordings-relative paths a segment row names."""
    found: set[str] = set()
    with db.session() as s:
        for i in range(0, len(paths), PATHS_BATCH):
            batch = list(paths[i : i + PATHS_BATCH])
            found.update(s.scalars(select(Segment.path).where(Segment.path.in_(batch))).all())
    return found


def images_in_use(db: Database, paths: Sequence[str]) -> set[str]:
    """Which of these data-directory paths an event, alarm or track still names (the images
    taken from footage: snapshots, thumbnails)."""
    found: set[str] = set()
    with db.session() as s:
        for i in range(0, len(paths), PATHS_BATCH):
            batch = list(paths[i : i + PATHS_BATCH])
            for column in (EventRecord.snapshot, Alarm.snapshot, TrackRecord.thumbnail):
                found.update(p for p in s.scalars(select(column).where(column.in_(batch))) if p)
    return found


def delete_gaps_before(db: Database, camera_id: int, before: datetime) -> None:
    """Forget gaps that ended before the oldest footage that is kept."""
    with db.session() as s:
        s.execute(delete(Gap).where(and_(Gap.camera_id == camera_id, Gap.end < before)))

"""Segments and gaps: the recorded index of every camera."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from vigil.domain.errors import LeaseLost
from vigil.domain.hashing import chain_hash
from vigil.media.packets import StreamInfo
from vigil.media.playback import SegmentFile
from vigil.store import leases
from vigil.store.db import Database
from vigil.store.evidence_locks import segment_locked
from vigil.store.models import Gap, Segment, SegmentTombstone
from vigil.store.paths import confined_file
from vigil.store.recording_requests import segment_requested
from vigil.store.types import utcnow

# The fencing epoch this node holds for a camera, or None when it holds none.
EpochOf = Callable[[int], "int | None"]


class DbSegmentIndex:
    """The recorder's :class:`~vigil.media.segments.SegmentIndex`, in the database.

    With ``epoch_of`` every write is fenced: it commits only while this node holds the
    camera's lease with the epoch it was granted (checked in the same transaction), so a
    node that lost a camera (paused, cut off) can never write a row for it.
    """

    def __init__(self, db: Database, node: str, epoch_of: EpochOf | None = None) -> None:
        self._db = db
        self._node = node
        self._epoch_of = epoch_of

    def _fence(self, s: Session, camera_id: int) -> None:
        if self._epoch_of is None:
            return
        epoch = self._epoch_of(camera_id)
        if epoch is None or not leases.holds(s, camera_id, self._node, epoch, utcnow()):
            raise LeaseLost(f"node {self._node} no longer holds camera {camera_id}")

    def segment_opened(self, camera_id: int, path: str, start: datetime, info: StreamInfo) -> int:
        """Insert the open segment and end any gap the camera had open."""
        with self._db.session() as s:
            self._fence(s, camera_id)
            seg = Segment(
                camera_id=camera_id,
                node=self._node,
                path=path,
                start=start,
                video_codec=info.video_codec,
                audio_codec=info.audio_codec,
                width=info.video.width or None,
                height=info.video.height or None,
            )
            s.add(seg)
            s.execute(
                update(Gap).where(Gap.camera_id == camera_id, Gap.end.is_(None)).values(end=start)
            )
            s.flush()
            return seg.id

    def segment_closed(
        self, segment_id: int, end: datetime, size: int, sha256: str | None = None
    ) -> None:
        """Note the end and size of a finished segment and, given its file's SHA-256, link it
        into its camera's hash chain (after the camera's latest earlier chained segment)."""
        with self._db.session() as s:
            seg = s.get(Segment, segment_id)
            if seg is None:  # removed meanwhile (camera deleted)
                return
            self._fence(s, seg.camera_id)
            if seg.end is not None:  # closed by the node that took the camera over
                return
            seg.end, seg.bytes = end, size
            if sha256 is not None:
                _link(s, seg, sha256)

    def gap_opened(self, camera_id: int, start: datetime, reason: str) -> None:
        """Open a gap, unless one is open already."""
        with self._db.session() as s:
            self._fence(s, camera_id)
            open_gap = s.scalar(select(Gap.id).where(Gap.camera_id == camera_id, Gap.end.is_(None)))
            if open_gap is None:
                s.add(Gap(camera_id=camera_id, start=start, reason=reason))


def _link(session: Session, seg: Segment, sha256: str) -> None:
    assert seg.end is not None
    prev = session.scalar(
        select(Segment.chain_hash)
        .where(
            Segment.camera_id == seg.camera_id,
            Segment.chain_hash.is_not(None),
            Segment.start < seg.start,
            Segment.id != seg.id,
        )
        .order_by(Segment.start.desc())
        .limit(1)
    )
    seg.sha256 = sha256
    seg.prev_chain_hash = prev
    seg.chain_hash = chain_hash(
        prev, sha256, camera_id=seg.camera_id, start=seg.start, end=seg.end, size=seg.bytes
    )


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


def get_segment(db: Database, segment_id: int) -> Segment | None:
    """One segment, or None."""
    with db.session() as s:
        return s.get(Segment, segment_id)


def segment_files(
    db: Database, root: Path, camera_id: int, start: datetime, end: datetime
) -> list[SegmentFile]:
    """The camera's segment files overlapping [start, end) that are on this machine, confined
    to the recordings root. The server reads footage through ``media/footage.py``, which
    also reaches the files other recorder nodes keep."""
    files = []
    for seg in segments_between(db, camera_id, start, end):
        path = confined_file(root, seg.path)
        if path is None:
            continue  # deleted by retention meanwhile, or an index entry pointing outside
        files.append(SegmentFile(path=path, start=seg.start, end=seg.end))
    return files


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


def total_bytes(db: Database) -> int:
    """Bytes of all recorded segments."""
    with db.session() as s:
        return int(s.scalar(select(func.coalesce(func.sum(Segment.bytes), 0))) or 0)


def oldest_closed_segments(
    db: Database,
    *,
    limit: int,
    camera_id: int | None = None,
    before: datetime | None = None,
    sparing_held_at: datetime | None = None,
    sparing_requested: bool = False,
) -> Sequence[Segment]:
    """The oldest finished segments: what retention and the disk budget delete first.

    Args:
        db: The database.
        limit: At most this many.
        camera_id: Only this camera's.
        before: Only segments that ended before this.
        sparing_held_at: Leave out segments that a recording request holds at this time.
        sparing_requested: Leave out segments that overlap any recording request.

    Segments under an evidence lock are always left out: nothing deletes evidence.
    """
    query = select(Segment).where(Segment.end.is_not(None), ~segment_locked(utcnow()))
    if camera_id is not None:
        query = query.where(Segment.camera_id == camera_id)
    if before is not None:
        query = query.where(Segment.end < before)
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
        gone = s.scalars(select(Segment).where(Segment.id.in_(ids))).all()
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
        s.execute(delete(Segment).where(Segment.id.in_(ids)))
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


def delete_gaps_before(db: Database, camera_id: int, before: datetime) -> None:
    """Forget gaps that ended before the oldest footage that is kept."""
    with db.session() as s:
        s.execute(delete(Gap).where(and_(Gap.camera_id == camera_id, Gap.end < before)))

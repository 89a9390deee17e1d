"""The recorder's segment index in the database: segments opened and closed, gaps, the
hash chain's links, every write fenced by the node's lease on the camera."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil.domain.errors import LeaseLost
from vigil.domain.hashing import chain_hash
from vigil.media.packets import StreamInfo
from vigil.store import leases
from vigil.store.db import Database
from vigil.store.models import Gap, Segment
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

"""Evidence locks: footage of a camera that nothing deletes (retention, the disk budget,
events mode) until the lock's ``until`` passes or someone releases it, with who and why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from vigil.domain.errors import Conflict, NotFound
from vigil.store.db import Database
from vigil.store.models import EvidenceLock, Segment
from vigil.store.types import utcnow


def active_condition(now: datetime) -> ColumnElement[bool]:
    """The locks in force at ``now``: not released, and indefinite or not yet expired."""
    return and_(
        EvidenceLock.released_at.is_(None),
        or_(EvidenceLock.until.is_(None), EvidenceLock.until > now),
    )


def segment_locked(now: datetime) -> ColumnElement[bool]:
    """True for a segment that overlaps a lock of its camera in force at ``now`` (for
    ``Segment`` queries). A lock covers the closed [start, end]; a segment [start, end)."""
    return exists().where(
        EvidenceLock.camera_id == Segment.camera_id,
        EvidenceLock.start < Segment.end,
        EvidenceLock.end >= Segment.start,
        active_condition(now),
    )


def create_lock(
    db: Database,
    *,
    camera_id: int,
    start: datetime,
    end: datetime,
    created_by: str,
    reason: str,
    until: datetime | None,
) -> EvidenceLock:
    """Protect ``start``..``end`` of a camera until ``until`` (None: indefinitely).

    Raises:
        ValueError: ``end`` is not after ``start``, or ``until`` is already past.
    """
    if end <= start:
        raise ValueError(f"an evidence lock must end ({end}) after it starts ({start})")
    if until is not None and until <= utcnow():
        raise ValueError(f"'until' ({until}) is in the past: the lock would protect nothing")
    with db.session() as s:
        lock = EvidenceLock(
            camera_id=camera_id,
            start=start,
            end=end,
            created_by=created_by,
            reason=reason,
            until=until,
        )
        s.add(lock)
        s.flush()
        return lock


def list_locks(
    db: Database, *, camera_id: int | None = None, active_only: bool = False
) -> Sequence[EvidenceLock]:
    """Locks, newest first; of one camera and/or only those in force when asked."""
    query = select(EvidenceLock)
    if camera_id is not None:
        query = query.where(EvidenceLock.camera_id == camera_id)
    if active_only:
        query = query.where(active_condition(utcnow()))
    with db.session() as s:
        return s.scalars(query.order_by(EvidenceLock.id.desc())).all()


def get_lock(db: Database, lock_id: int) -> EvidenceLock:
    """One lock; ``NotFound`` when there is none."""
    with db.session() as s:
        lock = s.get(EvidenceLock, lock_id)
    if lock is None:
        raise NotFound(f"evidence lock {lock_id} not found")
    return lock


def release_lock(db: Database, lock_id: int, *, released_by: str, reason: str) -> EvidenceLock:
    """End a lock now, recording who and why; its footage falls back under retention.

    Raises:
        NotFound: No such lock.
        Conflict: It was released already.
    """
    with db.session() as s:
        lock = s.get(EvidenceLock, lock_id, with_for_update=True)
        if lock is None:
            raise NotFound(f"evidence lock {lock_id} not found")
        if lock.released_at is not None:
            raise Conflict(
                f"evidence lock {lock_id} was already released by {lock.released_by} "
                f"at {lock.released_at.isoformat()}"
            )
        lock.released_at = utcnow()
        lock.released_by = released_by
        lock.release_reason = reason
        s.flush()
        return lock


def locked_bytes(db: Database) -> int:
    """Bytes of finished segments under a lock in force now (for storage-full messages)."""
    with db.session() as s:
        total = s.scalar(
            select(func.coalesce(func.sum(Segment.bytes), 0)).where(
                Segment.end.is_not(None), segment_locked(utcnow())
            )
        )
    return int(total or 0)

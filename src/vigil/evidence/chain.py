"""Verification of a camera's recording chain: every segment's file still has the SHA-256
noted when it was closed, every index row still has its chain hash, and each segment links
to the one before it (or, across footage Vigil deleted by policy, through its tombstones).

Retention deletes the oldest footage: the chain then starts at the first remaining segment,
which is not an error. A segment removed from the middle (file or index row), an altered
file and an edited index row are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select

from vigil.domain.hashing import chain_hash, file_sha256
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.models import Segment, SegmentTombstone
from vigil.store.paths import confined

ProblemKind = Literal["altered", "missing_file", "index_altered", "broken_link"]
# Enough for years of policy deletions between two kept segments.
MAX_BRIDGE = 1_000_000


class ChainProblem(BaseModel):
    """One thing wrong with the chain, at one segment."""

    segment_id: int
    start: datetime
    end: datetime | None
    kind: ProblemKind
    detail: str


class ChainReport(BaseModel):
    """The result of verifying ``start``..``end`` of a camera's recordings."""

    camera_id: int
    start: datetime
    end: datetime
    ok: bool
    segments: int  # closed segments in the range
    verified: int  # of those, hashed and found intact
    unhashed: int  # recorded before hashing existed: cannot be vouched for
    open: int  # still being written: hashed when closed
    deleted_by_policy: int  # segments Vigil deleted between kept ones (tombstones crossed)
    chain_start: bool  # the first segment starts the remaining chain (nothing kept before it)
    first_chain_hash: str | None
    last_chain_hash: str | None
    problems: list[ChainProblem]


Progress = Callable[[int, int], None]


def verify_camera_chain(
    db: Database,
    root: Path,
    camera_id: int,
    start: datetime,
    end: datetime,
    *,
    progress: Progress | None = None,
    locate: Callable[[Segment], Path | None] | None = None,
) -> ChainReport:
    """Verify the segments of a camera overlapping [start, end) (reads every file).

    Args:
        db: The database.
        root: The recordings directory.
        camera_id: The camera.
        start: Start of the range (UTC-aware).
        end: End of the range.
        progress: Called with (segments done, segments in all) after each segment.
        locate: Where a segment's file is read (``media/footage.py``: also from other
            recorder nodes); None: under ``root``.
    """
    segments = recordings.segments_between(db, camera_id, start, end)
    closed = [s for s in segments if s.end is not None]
    problems: list[ChainProblem] = []
    verified = unhashed = bridged = 0
    previous = _chained_before(db, camera_id, closed[0].start) if closed else None
    chain_start = closed and previous is None and closed[0].chain_hash is not None
    chained: list[Segment] = []
    for done, seg in enumerate(closed, 1):
        if seg.sha256 is None or seg.chain_hash is None:
            unhashed += 1
        else:
            found = _check_segment(root, seg, locate)
            if previous is not None:
                link = _check_link(db, seg, previous)
                if isinstance(link, ChainProblem):
                    found.append(link)
                else:
                    bridged += link
            problems.extend(found)
            verified += not found
            previous = seg
            chained.append(seg)
        if progress is not None:
            progress(done, len(closed))
    return ChainReport(
        camera_id=camera_id,
        start=start,
        end=end,
        ok=not problems,
        segments=len(closed),
        verified=verified,
        unhashed=unhashed,
        open=len(segments) - len(closed),
        deleted_by_policy=bridged,
        chain_start=bool(chain_start),
        first_chain_hash=chained[0].chain_hash if chained else None,
        last_chain_hash=chained[-1].chain_hash if chained else None,
        problems=problems,
    )


def _problem(seg: Segment, kind: ProblemKind, detail: str) -> ChainProblem:
    return ChainProblem(segment_id=seg.id, start=seg.start, end=seg.end, kind=kind, detail=detail)


def _check_segment(
    root: Path, seg: Segment, locate: Callable[[Segment], Path | None] | None
) -> list[ChainProblem]:
    """The file against its noted SHA-256, and the row against its chain hash."""
    assert seg.sha256 is not None and seg.end is not None
    found: list[ChainProblem] = []
    path = confined(root, seg.path) if locate is None else locate(seg)
    if path is None:
        found.append(_problem(seg, "index_altered", f"index path {seg.path!r} leaves the root"))
    else:
        try:
            actual = file_sha256(path)
        except OSError as exc:
            found.append(_problem(seg, "missing_file", f"file {seg.path} unreadable: {exc}"))
        else:
            if actual != seg.sha256:
                found.append(
                    _problem(
                        seg,
                        "altered",
                        f"file {seg.path} was altered: SHA-256 {actual} but {seg.sha256} "
                        "when recorded",
                    )
                )
    expected = chain_hash(
        seg.prev_chain_hash,
        seg.sha256,
        camera_id=seg.camera_id,
        start=seg.start,
        end=seg.end,
        size=seg.bytes,
    )
    if expected != seg.chain_hash:
        found.append(
            _problem(
                seg,
                "index_altered",
                "index row edited: its times, size or hashes do not give its chain hash",
            )
        )
    return found


def _check_link(db: Database, seg: Segment, previous: Segment) -> int | ChainProblem:
    """How many policy deletions lie between ``previous`` and ``seg`` (0: adjacent), or the
    broken link."""
    if seg.prev_chain_hash == previous.chain_hash:
        return 0
    tombstones = _tombstones_between(db, seg.camera_id, previous.start, seg.start)
    cursor, steps = seg.prev_chain_hash, 0
    while cursor is not None and cursor in tombstones and steps < MAX_BRIDGE:
        cursor, steps = tombstones[cursor], steps + 1
        if cursor == previous.chain_hash:
            return steps
    return _problem(
        seg,
        "broken_link",
        f"a segment is missing between {previous.start.isoformat()} and "
        f"{seg.start.isoformat()}: this segment does not follow segment {previous.id} "
        "(removed from the index, or the chain was rewritten)",
    )


def _tombstones_between(
    db: Database, camera_id: int, after: datetime, before: datetime
) -> dict[str, str | None]:
    """chain_hash -> prev_chain_hash of the tombstones of a camera between two segments."""
    with db.session() as s:
        rows = s.execute(
            select(SegmentTombstone.chain_hash, SegmentTombstone.prev_chain_hash).where(
                SegmentTombstone.camera_id == camera_id,
                SegmentTombstone.start > after,
                SegmentTombstone.start < before,
            )
        ).all()
    return {chain: prev for chain, prev in rows}


def _chained_before(db: Database, camera_id: int, before: datetime) -> Segment | None:
    """The camera's last chained segment that starts before ``before``."""
    with db.session() as s:
        return s.scalar(
            select(Segment)
            .where(
                Segment.camera_id == camera_id,
                Segment.chain_hash.is_not(None),
                Segment.end.is_not(None),
                Segment.start < before,
            )
            .order_by(Segment.start.desc())
            .limit(1)
        )

"""Erasure of a data subject's footage: the segments of the chosen ranges go through the one
deletion path retention uses (``media/storage.py`` ``remove_segments``), which leaves a
tombstone for each hashed segment, so the camera's hash chain still verifies across the
hole (``deleted_by_policy``). The absence gets a gap row saying why, and the images made
from that footage (event snapshots, track thumbnails) go with it.

Files that a recorder node keeps on its own disk are deleted by that node, asked at once
(``media/footage.py`` ``delete_on_nodes``); a node that is down keeps them for now, and the
erasure says so (``files_pending_on_nodes``) and leaves the request open: erasing again
retries them, and completes the request once no file waits. Meanwhile the node's janitor
deletes them on its own when it runs again, since no index row names them.

Segments are deleted whole (~10 s each): a range reaching into a segment erases all of
it, and the record lists every segment with its times and hash. Footage under an evidence
lock in force, or still being recorded, is never touched: the whole erasure is refused,
nothing is deleted, and the refusal is recorded too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from vigil.domain.errors import Conflict
from vigil.domain.subject_requests import RequestKind, RequestStatus, TimeRange, merge_ranges
from vigil.media.footage import delete_on_nodes, elsewhere
from vigil.media.storage import remove_segments
from vigil.privacy.files import remove_files
from vigil.security import audit
from vigil.store import recordings
from vigil.store import subject_requests as store
from vigil.store.db import Database
from vigil.store.evidence_locks import list_locks
from vigil.store.models import Alarm, EventRecord, EvidenceLock, Gap, Segment, TrackRecord
from vigil.store.paths import confined_file
from vigil.store.types import utcnow


class ErasureRefused(Conflict):
    """Some of the footage may not be erased (evidence lock, still recording): nothing was."""


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What an erasure deleted; ``complete`` is False when some file could not be removed."""

    record: dict[str, Any]
    complete: bool


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _blocking_locks(db: Database, segments: Sequence[Segment]) -> list[EvidenceLock]:
    """Locks in force that overlap any of the segments (as ``segment_locked`` decides)."""
    blocking: dict[int, EvidenceLock] = {}
    for camera_id in {s.camera_id for s in segments}:
        locks = list_locks(db, camera_id=camera_id, active_only=True)
        for seg in (s for s in segments if s.camera_id == camera_id):
            for lock in locks:
                if seg.end is not None and lock.start < seg.end and lock.end >= seg.start:
                    blocking[lock.id] = lock
    return sorted(blocking.values(), key=lambda lock: lock.id)


def _segments_of(db: Database, ranges: Sequence[TimeRange]) -> list[Segment]:
    found: dict[int, Segment] = {}
    for r in ranges:
        for seg in recordings.segments_between(db, r.camera_id, r.start, r.end):
            found[seg.id] = seg
    return sorted(found.values(), key=lambda s: (s.camera_id, s.start))


def erase_ranges(
    db: Database,
    *,
    data_dir: Path,
    recordings_dir: Path,
    request_id: int,
    ranges: Sequence[TimeRange],
    reason: str,
    username: str,
    address: str | None = None,
) -> ErasureResult:
    """Erase the footage of ``ranges`` for an erasure request in review, record it on the
    request and in the audit trail, and complete the request when every file went.

    Raises:
        NotFound: No such request.
        Conflict: The request is not an erasure request in review, or a job runs.
        ErasureRefused: Locked or still-recording footage in the ranges (nothing deleted).
    """
    row = store.get_request(db, request_id)
    if row.kind != RequestKind.ERASURE:
        raise Conflict(f"request {request_id} asks for {row.kind}, not erasure: nothing erased")
    if row.status != RequestStatus.REVIEW:
        raise Conflict(
            f"request {request_id} is {row.status}: erase after a search has been reviewed"
        )
    if store.job_running(row):
        raise Conflict(f"a {row.job_kind} of request {request_id} is running: wait or cancel it")
    merged = merge_ranges(ranges)
    segments = _segments_of(db, merged)
    asked_ranges = [
        {"camera_id": r.camera_id, "start": _iso(r.start), "end": _iso(r.end)} for r in merged
    ]
    asked: dict[str, Any] = {"reason": reason, "ranges": asked_ranges}
    refusal = _refusal(db, segments)
    if refusal is not None:
        message, facts = refusal
        details = {**asked, **facts, "message": message}
        store.add_entry(
            db, request_id, username=username, action="erase", outcome="denied", details=details
        )
        audit.record(
            db,
            action="privacy.request.erase",
            outcome=audit.Outcome.DENIED,
            username=username,
            target=f"subject_request:{request_id}",
            address=address,
            details=details,
        )
        raise ErasureRefused(message)

    remote = elsewhere(recordings_dir, segments)
    remove_segments(db, recordings_dir, segments)
    left = [s.path for s in segments if (recordings_dir / s.path).exists()]
    gaps = _record_gaps(db, segments, request_id)
    # Whole segments went: so do the images taken from any of their footage.
    erased = merge_ranges(TimeRange(s.camera_id, s.start, s.end or s.start) for s in segments)
    derived, images = _erase_derived_images(db, data_dir, erased, segments)
    # Files on recorder nodes' own disks, this erasure's and those an earlier attempt of
    # the request left waiting on a node that was down.
    earlier, earlier_images = _still_pending(db, request_id)
    for node, paths in earlier_images.items():
        images.setdefault(node, []).extend(paths)
    on_nodes = delete_on_nodes(db, data_dir, [*remote, *earlier], images)
    pending = on_nodes.pending
    done = not left and not pending
    went = set(on_nodes.deleted)
    deleted_on_nodes = sum(1 for s in [*remote, *earlier] if s.path in went)
    record = {
        **asked,
        "segments": [
            {
                "id": s.id,
                "camera_id": s.camera_id,
                "path": s.path,
                "start": _iso(s.start),
                "end": _iso(s.end),
                "bytes": s.bytes,
                "sha256": s.sha256,
            }
            for s in segments
        ],
        "files_deleted": len(segments) - len(remote) - len(left) + deleted_on_nodes,
        "files_not_deleted": left,
        # node -> {"reason", "paths"}: files a node could not delete now (down, refusing);
        # the request completes when erasing again finds none (the node's janitor also
        # deletes them when it runs again, since no index row names them).
        "files_pending_on_nodes": pending,
        "bytes": sum(s.bytes for s in segments),
        "gaps": gaps,
        **derived,
    }
    store.add_entry(
        db,
        request_id,
        username=username,
        action="erase",
        outcome="success" if done else "failure",
        details=record,
    )
    for camera_id in sorted({r.camera_id for r in merged}):
        mine = [s for s in segments if s.camera_id == camera_id]
        audit.record(
            db,
            action="privacy.request.erase",
            outcome=audit.Outcome.SUCCESS if done else audit.Outcome.FAILURE,
            username=username,
            camera_id=camera_id,
            target=f"subject_request:{request_id}",
            address=address,
            details={
                "reason": reason,
                "legal_reference": row.legal_reference,
                "ranges": [r for r in asked_ranges if r["camera_id"] == camera_id],
                "segments": len(mine),
                "bytes": sum(s.bytes for s in mine),
                "files": [s.path for s in mine],
                "files_not_deleted": [p for p in left if p in {s.path for s in mine}],
                "nodes_pending": sorted(pending),
            },
        )
    if done:
        store.transition(
            db,
            request_id,
            RequestStatus.COMPLETED,
            username=username,
            action="completed",
            note=f"footage erased: {reason}",
        )
        remove_files(data_dir, store.forget_personal_files(db, request_id))
    return ErasureResult(record=record, complete=done)


def _still_pending(db: Database, request_id: int) -> tuple[list[Segment], dict[str, list[str]]]:
    """The files that the request's latest erasure left waiting on nodes: segment files,
    as (row-less) segments for :func:`delete_on_nodes`, and images by node."""
    for entry in reversed(store.entries(db, request_id)):
        if entry.action != "erase" or entry.outcome == "denied":
            continue
        waiting = (entry.details or {}).get("files_pending_on_nodes") or {}
        segments = [
            Segment(node=node, path=path)
            for node, state in waiting.items()
            for path in state.get("paths", [])
        ]
        images = {node: list(state.get("images", [])) for node, state in waiting.items()}
        return segments, images
    return [], {}


def _refusal(db: Database, segments: Sequence[Segment]) -> tuple[str, dict[str, Any]] | None:
    recording = [s for s in segments if s.end is None]
    if recording:
        first = recording[0]
        return (
            f"camera {first.camera_id} is still recording the footage from "
            f"{first.start.isoformat()}: erase once that segment has closed (within one "
            "segment's length); nothing was erased",
            {"recording": [{"camera_id": s.camera_id, "start": _iso(s.start)} for s in recording]},
        )
    locks = _blocking_locks(db, segments)
    if not locks:
        return None
    described = "; ".join(
        f"lock {lock.id} on camera {lock.camera_id} from {lock.start.isoformat()} to "
        f"{lock.end.isoformat()} by {lock.created_by} ({lock.reason})"
        for lock in locks
    )
    return (
        f"footage under evidence lock cannot be erased: {described}. Nothing was erased: "
        "set those hits aside or narrow the ranges, or have the lock released first",
        {"locks": [lock.id for lock in locks]},
    )


def _record_gaps(db: Database, segments: Sequence[Segment], request_id: int) -> int:
    """One gap per run of erased segments that met end to start, so the timeline says why."""
    runs: list[list[Segment]] = []
    for seg in segments:
        last = runs[-1][-1] if runs else None
        if last is not None and last.camera_id == seg.camera_id and last.end == seg.start:
            runs[-1].append(seg)
        else:
            runs.append([seg])
    reason = f"erased under data-subject request {request_id}"
    with db.session() as s:
        for run in runs:
            s.add(
                Gap(camera_id=run[0].camera_id, start=run[0].start, end=run[-1].end, reason=reason)
            )
    return len(runs)


def _erase_derived_images(
    db: Database, data_dir: Path, ranges: Sequence[TimeRange], segments: Sequence[Segment]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Event snapshots and track thumbnails taken from the erased footage: those on this
    machine deleted, and those elsewhere by node (the node that recorded the erased
    segment they were taken from, whose analytics wrote them)."""
    snapshots: list[tuple[int, datetime, str]] = []
    thumbnails: list[tuple[int, datetime, str]] = []
    with db.session() as s:
        for r in ranges:
            events = s.execute(
                select(EventRecord.id, EventRecord.at, EventRecord.snapshot).where(
                    EventRecord.camera_id == r.camera_id,
                    EventRecord.at >= r.start,
                    EventRecord.at <= r.end,
                    EventRecord.snapshot.is_not(None),
                )
            ).all()
            tracks = s.execute(
                select(TrackRecord.id, TrackRecord.first_at, TrackRecord.thumbnail).where(
                    TrackRecord.camera_id == r.camera_id,
                    TrackRecord.first_at <= r.end,
                    TrackRecord.last_at >= r.start,
                    TrackRecord.thumbnail.is_not(None),
                )
            ).all()
            snapshots += [(r.camera_id, at, path) for _, at, path in events if path]
            thumbnails += [(r.camera_id, max(at, r.start), path) for _, at, path in tracks if path]
            if events:
                s.execute(
                    update(EventRecord)
                    .where(EventRecord.id.in_([i for i, _, _ in events]))
                    .values(snapshot=None)
                )
            if tracks:
                s.execute(
                    update(TrackRecord)
                    .where(TrackRecord.id.in_([i for i, _, _ in tracks]))
                    .values(thumbnail=None)
                )
        if snapshots:
            named = [path for _, _, path in snapshots]
            s.execute(update(Alarm).where(Alarm.snapshot.in_(named)).values(snapshot=None))
    on_nodes: dict[str, list[str]] = {}
    for camera_id, at, path in [*snapshots, *thumbnails]:
        if confined_file(data_dir, path) is not None:
            continue
        node = _recorded_by(segments, camera_id, at)
        if node is not None:
            on_nodes.setdefault(node, []).append(path)
    derived = {
        "snapshots_deleted": remove_files(data_dir, [p for _, _, p in snapshots]),
        "thumbnails_deleted": remove_files(data_dir, [p for _, _, p in thumbnails]),
        "images_on_nodes": sum(len(paths) for paths in on_nodes.values()),
        "erased_at": utcnow().isoformat(),
    }
    return derived, on_nodes


def _recorded_by(segments: Sequence[Segment], camera_id: int, at: datetime) -> str | None:
    """The node that recorded the camera's erased segment holding ``at``."""
    for seg in segments:
        if seg.camera_id == camera_id and seg.start <= at <= (seg.end or seg.start):
            return seg.node
    return None

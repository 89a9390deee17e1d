"""Room on disk: the global disk budget, the low-water mark, per-camera retention, footage
outside recording requests of cameras that record only around events, and the repair of
segments left open by a crash. Oldest footage goes first; footage that a recording request
holds goes last; footage under an evidence lock never goes (``store/evidence_locks.py``)."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import av

from vigil.config import StorageSettings
from vigil.domain.cameras import RecordingMode
from vigil.domain.hashing import file_sha256
from vigil.media.mp4 import iter_boxes
from vigil.media.segment_index import DbSegmentIndex
from vigil.store import cameras as camera_store
from vigil.store import evidence_locks, recording_requests, recordings
from vigil.store.db import Database
from vigil.store.models import Segment
from vigil.store.paths import confined_file
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

# Room asked for before a segment is opened, until real segments tell us their size.
DEFAULT_SEGMENT_ESTIMATE = 16 * 1024**2
DELETE_BATCH = 50
SWEEP_BATCH = 500
CRASH_GAP_REASON = "recorder stopped unexpectedly (crash or power loss)"
# A segment file is created a moment before its index row: a file without a row younger
# than this may be one being opened, and is left alone.
UNINDEXED_GRACE_S = 600.0


class DiskGuard:
    """Keeps recordings within the disk budget and above the low-water mark.

    Called before every segment is opened; frees space by deleting the oldest finished
    segments. Thread-safe: every camera's ingest thread asks it.

    With ``node`` (a recorder node, which may keep its own disk), the budget counts that
    node's recordings, and room is made from that node's oldest footage first, then from
    other nodes' footage whose files lie in this folder (a folder shared by the nodes, or
    footage of the node under an earlier name); never from another node's footage on
    another disk, which would delete its rows and free nothing here. Without ``node``,
    every segment in the index is this folder's (one machine).
    """

    def __init__(
        self, db: Database, root: Path, settings: StorageSettings, node: str | None = None
    ) -> None:
        self._db = db
        self._root = root
        self._settings = settings
        self._node = node
        self._lock = threading.Lock()
        self._used = recordings.total_bytes(db, node=node)
        self.segment_estimate = DEFAULT_SEGMENT_ESTIMATE

    def has_room(self) -> bool:
        """True when one more segment fits; deletes oldest footage to make room."""
        with self._lock:
            while not self._fits():
                if not self._delete_oldest():
                    locked = evidence_locks.locked_bytes(self._db)
                    log.error(
                        "storage full: nothing left to delete under %s%s; cameras stop "
                        "recording until there is room",
                        self._root,
                        f" but evidence-locked footage ({locked} bytes), which is never "
                        "deleted: release locks or add storage"
                        if locked
                        else "",
                    )
                    return False
            return True

    def note_written(self, size: int) -> None:
        """A segment of ``size`` bytes was closed."""
        with self._lock:
            self._used += size
            self.segment_estimate = max(size, self.segment_estimate // 2)

    def refresh(self) -> None:
        """Re-read the recorded total from the index (after retention deleted files)."""
        with self._lock:
            self._used = recordings.total_bytes(self._db, node=self._node)

    def _fits(self) -> bool:
        need = self.segment_estimate
        free = shutil.disk_usage(self._root).free
        if free - need < self._settings.min_free_bytes:
            return False
        budget = self._settings.disk_budget_bytes
        return budget is None or self._used + need <= budget

    def _delete_oldest(self) -> bool:
        victims = self._oldest(sparing_held_at=utcnow())
        if not victims:
            # Recording now comes first: held footage (requests, often automatic) goes, oldest
            # first, rather than every camera stopping; but loudly, for it was asked to stay.
            victims = self._oldest(sparing_held_at=None)
            if not victims:
                return False
            log.error(
                "storage full: deleting held footage (camera %s from %s) to keep recording; "
                "raise the disk budget or shorten how long recording requests keep footage",
                victims[0].camera_id,
                victims[0].start.isoformat(),
            )
        # Delete a few at a time so we stop as soon as there is room.
        freed = remove_segments(self._db, self._root, victims[:5])
        own = sum(v.bytes for v in victims[:5] if self._node is None or v.node == self._node)
        self._used = max(0, self._used - min(freed, own))
        return True

    def _oldest(self, *, sparing_held_at: datetime | None) -> Sequence[Segment]:
        """The oldest finished segments this guard may delete (see the class)."""
        if self._node is None:
            return recordings.oldest_closed_segments(
                self._db, limit=DELETE_BATCH, sparing_held_at=sparing_held_at
            )
        own = recordings.oldest_closed_segments(
            self._db, limit=DELETE_BATCH, sparing_held_at=sparing_held_at, node=self._node
        )
        if own:
            return own
        others = recordings.oldest_closed_segments(
            self._db,
            limit=DELETE_BATCH,
            sparing_held_at=sparing_held_at,
            other_than_node=self._node,
        )
        return [seg for seg in others if confined_file(self._root, seg.path) is not None]


def remove_segments(db: Database, root: Path, segments: Sequence[Segment]) -> int:
    """Delete segment files and their index rows; returns the bytes freed."""
    freed = 0
    inside = root.resolve()
    for seg in segments:
        path = root / seg.path
        try:
            # The entry's folder, not the file: a symlink in the root is removed itself.
            if not path.parent.resolve().is_relative_to(inside):
                log.error("not deleting %s: the index row points outside %s", path, root)
                continue
            path.unlink(missing_ok=True)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the row's path
            log.error("cannot delete %r: %s", seg.path, exc)
            continue
        freed += seg.bytes
    recordings.delete_segments(db, [s.id for s in segments])
    return freed


@dataclass(frozen=True, slots=True)
class FilesRemoved:
    """What :func:`remove_unindexed` did with each path it was given."""

    deleted: list[str]
    absent: list[str]
    indexed: list[str]  # still named by a segment row: kept


def remove_unindexed(db: Database, root: Path, paths: Sequence[str]) -> FilesRemoved:
    """Delete these recordings-relative files from ``root`` when no segment row names them
    (the server deleted the rows: erasure, camera deletion, retention run elsewhere). A
    path that a row still names is kept, so a stale or forged request cannot delete live
    footage; one that leaves ``root`` is counted absent and never touched."""
    indexed = recordings.indexed_paths(db, paths)
    deleted: list[str] = []
    absent: list[str] = []
    for rel in paths:
        if rel in indexed:
            continue
        path = confined_file(root, rel)
        if path is None:
            absent.append(rel)
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            absent.append(rel)
            continue
        deleted.append(rel)
    return FilesRemoved(deleted=deleted, absent=absent, indexed=sorted(indexed))


def remove_unused_images(
    db: Database, data_dir: Path, paths: Sequence[str], folders: Sequence[str]
) -> FilesRemoved:
    """Delete these data-directory files (images taken from footage) when they lie in one
    of ``folders`` and no event, alarm or track names them any more (erased footage's
    snapshots); the others are kept (``indexed``: still named by a row)."""
    in_use = recordings.images_in_use(db, paths)
    root = data_dir.resolve()
    deleted: list[str] = []
    absent: list[str] = []
    for rel in paths:
        if rel in in_use:
            continue
        path = confined_file(root, rel)
        if path is None or not any(path.is_relative_to(root / f) for f in folders):
            absent.append(rel)
            continue
        path.unlink(missing_ok=True)
        deleted.append(rel)
    return FilesRemoved(deleted=deleted, absent=absent, indexed=sorted(in_use))


def sweep_unindexed(
    db: Database, root: Path, *, grace_s: float = UNINDEXED_GRACE_S, now: float | None = None
) -> list[str]:
    """Delete segment files under ``root`` that no index row names any more and that are
    older than ``grace_s``; returns their relative paths. This is how a recorder node with
    its own disk learns of deletions made while it was down or unreachable: the rows are
    the truth, its files follow them."""
    cutoff = (time.time() if now is None else now) - grace_s
    candidates: list[str] = []
    for path in root.rglob("*.mp4"):
        try:
            if path.is_symlink() or path.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        candidates.append(path.relative_to(root).as_posix())
    removed: list[str] = []
    for i in range(0, len(candidates), SWEEP_BATCH):
        removed += remove_unindexed(db, root, candidates[i : i + SWEEP_BATCH]).deleted
    if removed:
        log.info("deleted %d files under %s whose index rows are gone", len(removed), root)
    return removed


def janitor_pass(db: Database, root: Path, settings: StorageSettings) -> None:
    """One round of the recorder's janitor over every camera: retention, and for cameras
    recording only around events, the footage outside their recording requests."""
    # An events-mode camera keeps the pre-buffer plus the segment that reaches into it.
    prebuffer = timedelta(seconds=settings.event_prebuffer_s + settings.segment_seconds)
    for camera in camera_store.list_cameras(db):
        days = camera.retention_days or settings.default_retention_days
        removed = enforce_retention(db, root, camera.id, days)
        if removed:
            log.info("camera %s: retention removed %d segments", camera.id, removed)
        if camera.recording_mode == RecordingMode.EVENTS:
            dropped = drop_unrequested(db, root, camera.id, prebuffer)
            if dropped:
                log.debug("camera %s: %d segments outside events removed", camera.id, dropped)


def enforce_retention(db: Database, root: Path, camera_id: int, days: float) -> int:
    """Delete a camera's footage older than ``days``, except what a recording request holds
    (``store/recording_requests.py``); returns how many segments went."""
    now = utcnow()
    cutoff = now - timedelta(days=days)
    removed = _remove_all(
        db, root, camera_id=camera_id, before=cutoff, sparing_held_at=now, sparing_requested=False
    )
    recordings.delete_gaps_before(db, camera_id, cutoff)
    recording_requests.purge_requests(db, camera_id, ended_before=cutoff, now=now)
    return removed


def drop_unrequested(db: Database, root: Path, camera_id: int, keep: timedelta) -> int:
    """For a camera recording only around events: delete its finished footage older than
    ``keep`` (the pre-buffer) that no recording request covers; returns how many segments
    went. No gap is recorded: the absence is intended, and the timeline shows no range."""
    return _remove_all(
        db,
        root,
        camera_id=camera_id,
        before=utcnow() - keep,
        sparing_held_at=None,
        sparing_requested=True,
    )


def _remove_all(
    db: Database,
    root: Path,
    *,
    camera_id: int,
    before: datetime,
    sparing_held_at: datetime | None,
    sparing_requested: bool,
) -> int:
    removed = 0
    while True:
        old = recordings.oldest_closed_segments(
            db,
            limit=DELETE_BATCH,
            camera_id=camera_id,
            before=before,
            sparing_held_at=sparing_held_at,
            sparing_requested=sparing_requested,
        )
        if not old:
            return removed
        remove_segments(db, root, old)
        removed += len(old)


def repair_open_segments(db: Database, root: Path, node: str) -> int:
    """Close the segments a crashed recorder left open, at their last complete frame.

    A fragmented MP4 cut off mid-fragment still reads up to the last whole fragment; its
    end time is the start plus the last readable frame. Unreadable files are dropped.
    """
    repaired = 0
    index = DbSegmentIndex(db, node)
    for seg in recordings.open_segments(db, node):
        path = root / seg.path
        if path.exists():
            truncate_to_whole_fragments(path)
        duration = readable_duration(path)
        if duration is None:  # killed before its first fragment was complete
            log.warning("dropping unreadable segment %s", path)
            remove_segments(db, root, [seg])
            end = seg.start
        else:
            end = seg.start + timedelta(seconds=duration)
            # Hashed as repaired: the chain vouches for what is kept, not for the lost tail.
            index.segment_closed(seg.id, end, path.stat().st_size, file_sha256(path))
            repaired += 1
        index.gap_opened(seg.camera_id, end, CRASH_GAP_REASON)
    return repaired


def truncate_to_whole_fragments(path: Path) -> int:
    """Cut a fragmented MP4 after its last complete ``moof+mdat``; returns the new size."""
    data = path.read_bytes()
    good, previous = 0, b""
    for kind, _payload, end in iter_boxes(data):
        if kind != b"moof" and not (kind == b"mdat" and previous != b"moof"):
            good = end  # a whole header box, or a whole moof+mdat pair
        previous = kind
    if good < len(data):
        with path.open("r+b") as f:
            f.truncate(good)
    return good


def readable_duration(path: Path) -> float | None:
    """Seconds of video that can be read from a (possibly truncated) segment file."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            last_end: float | None = None
            first: float | None = None
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                t = float(packet.pts * packet.time_base)
                dur = float((packet.duration or 0) * packet.time_base)
                first = t if first is None else min(first, t)
                last_end = t + dur if last_end is None else max(last_end, t + dur)
            if first is None or last_end is None:
                return None
            return last_end - first
    except (av.error.FFmpegError, OSError):
        return None

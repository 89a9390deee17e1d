"""Evidence locks: locked footage survives retention, events mode and the disk budget; with
only locked footage left the camera goes storage_full instead (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from tests.media.test_event_recording import age, all_segments, files_exist, storage
from tests.media.test_recording import record_file, segments_of
from vigil.config import Settings
from vigil.domain.cameras import CameraStatus
from vigil.domain.errors import Conflict
from vigil.media.storage import DiskGuard, drop_unrequested, enforce_retention
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.evidence_locks import create_lock, list_locks, release_lock
from vigil.store.models import Segment
from vigil.store.types import utcnow


def lock(db: Database, seg: Segment, **extra: object) -> int:
    assert seg.end is not None
    fields: dict[str, object] = {"until": None, **extra}
    return create_lock(
        db,
        camera_id=seg.camera_id,
        start=seg.start + timedelta(seconds=0.5),  # any overlap locks the whole segment
        end=seg.start + timedelta(seconds=1),
        created_by="investigator 7",
        reason="case 2026/118",
        **fields,  # type: ignore[arg-type]
    ).id


def test_locked_segments_survive_retention_and_events_mode(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    first, middle, last = segments_of(db, camera_id)
    age(db, [first.id, middle.id, last.id], timedelta(days=30))
    lock(db, all_segments(db, camera_id)[1])
    assert drop_unrequested(db, settings.recordings_dir, camera_id, timedelta(seconds=1)) == 2
    assert [s.id for s in all_segments(db, camera_id)] == [middle.id]
    assert enforce_retention(db, settings.recordings_dir, camera_id, days=1) == 0
    assert files_exist(settings, all_segments(db, camera_id)) == [True]


def test_released_or_expired_locks_protect_nothing(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    first, middle, _ = segments_of(db, camera_id)
    lock_id = lock(db, first)
    expiring = lock(db, middle, until=utcnow() + timedelta(seconds=1))
    with db.session() as s:  # let the second lock expire without waiting
        from vigil.store.models import EvidenceLock

        row = s.get(EvidenceLock, expiring)
        assert row is not None
        row.until = utcnow() - timedelta(seconds=1)
    released = release_lock(db, lock_id, released_by="supervisor", reason="case closed")
    assert released.released_by == "supervisor" and released.release_reason == "case closed"
    with pytest.raises(Conflict, match="already released"):
        release_lock(db, lock_id, released_by="someone", reason="again")
    assert list_locks(db, camera_id=camera_id, active_only=True) == []
    assert enforce_retention(db, settings.recordings_dir, camera_id, days=-1) == 3


def test_disk_budget_spares_locked_footage_and_reports_storage_full(
    db: Database,
    settings: Settings,
    h264_clip: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, first_id)
    for seg in segs:
        lock(db, seg)
    one_segment = max(s.bytes for s in segs)
    budget = recordings.total_bytes(db) + one_segment // 2  # room for no further segment
    guard = DiskGuard(db, settings.recordings_dir, storage(disk_budget_bytes=budget))
    guard.segment_estimate = one_segment
    clip2 = tmp_path / "second.mp4"
    clip2.write_bytes(h264_clip.read_bytes())
    with caplog.at_level(logging.ERROR, logger="vigil.media.storage"):
        second_id, statuses = record_file(db, settings, clip2, guard=guard)
    assert [s.id for s in segments_of(db, first_id)] == [s.id for s in segs], "evidence kept"
    assert files_exist(settings, segments_of(db, first_id)) == [True, True, True]
    assert any(s == CameraStatus.STORAGE_FULL for s, _ in statuses)
    assert any("evidence-locked footage" in r.message for r in caplog.records)
    assert segments_of(db, second_id) == [], "recording stopped rather than delete evidence"

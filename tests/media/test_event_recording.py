"""Recording around events: the janitor keeps what recording requests ask for (plus the
pre-buffer) and deletes the rest for events-mode cameras; requests hold footage past
retention and past the disk budget while other footage can go. Real segment files."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from tests.media.test_recording import gaps_of, record_file, segments_of
from vigil.config import Settings, StorageSettings
from vigil.media.storage import DiskGuard, janitor_pass
from vigil.store import cameras as camera_store
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.models import Segment
from vigil.store.recording_requests import request_recording, requests_between
from vigil.store.types import utcnow


def age(db: Database, segment_ids: list[int], by: timedelta) -> None:
    """Move segments back in time, as if recorded ``by`` ago."""
    with db.session() as s:
        for segment_id in segment_ids:
            seg = s.get(Segment, segment_id)
            assert seg is not None and seg.end is not None
            seg.start -= by
            seg.end -= by


def all_segments(db: Database, camera_id: int) -> list[Segment]:
    now, far = utcnow(), timedelta(days=30)
    return list(recordings.segments_between(db, camera_id, now - far, now + far))


def files_exist(settings: Settings, segs: list[Segment]) -> list[bool]:
    return [(settings.recordings_dir / s.path).exists() for s in segs]


def storage(**changes: object) -> StorageSettings:
    return StorageSettings(min_free_bytes=0, segment_seconds=2.0).model_copy(update=changes)


def test_events_mode_keeps_requested_footage_and_the_prebuffer_only(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    camera_store.update_camera(db, camera_id, recording_mode="events")
    first, second, last = segments_of(db, camera_id)
    age(db, [first.id, second.id], timedelta(hours=1))
    first, second, last = segments_of(db, camera_id)
    gaps_before = [(g.start, g.end, g.reason) for g in gaps_of(db, camera_id)]
    # An event in the second segment asked for footage around it.
    assert second.end is not None
    request_recording(
        db,
        camera_id=camera_id,
        start=second.start + timedelta(seconds=0.5),
        end=second.end - timedelta(seconds=0.5),
        keep_until=None,
        reason="rule door: door forced",
    )
    janitor_pass(db, settings.recordings_dir, storage(event_prebuffer_s=60))
    kept = segments_of(db, camera_id)
    assert [s.id for s in kept] == [second.id, last.id], "the request and the pre-buffer stay"
    assert files_exist(settings, [first, second, last]) == [False, True, True]
    assert [(g.start, g.end, g.reason) for g in gaps_of(db, camera_id)] == gaps_before, (
        "footage left out on purpose is no recorded gap"
    )
    # Once the pre-buffer has passed, the unrequested recent segment goes as well.
    janitor_pass(db, settings.recordings_dir, storage(event_prebuffer_s=0, segment_seconds=0.6))
    age(db, [last.id], timedelta(minutes=1))
    janitor_pass(db, settings.recordings_dir, storage(event_prebuffer_s=0, segment_seconds=0.6))
    assert [s.id for s in segments_of(db, camera_id)] == [second.id]


def test_continuous_cameras_keep_everything_within_retention(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    age(db, [s.id for s in segs], timedelta(hours=1))
    janitor_pass(db, settings.recordings_dir, storage(event_prebuffer_s=0))
    assert [s.id for s in segments_of(db, camera_id)] == [s.id for s in segs]


def test_keep_until_and_event_retention_hold_footage_past_retention(
    db: Database, settings: Settings, h264_clip: Path, tmp_path: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    camera_store.update_camera(db, camera_id, retention_days=1.0)
    age(db, [s.id for s in all_segments(db, camera_id)], timedelta(days=2))
    first, second, last = all_segments(db, camera_id)
    assert first.end is not None and second.end is not None and last.end is not None
    request_recording(
        db,
        camera_id=camera_id,
        start=second.start,
        end=second.start + timedelta(seconds=1),
        keep_until=utcnow() + timedelta(days=30),
        reason="alarm 7",
    )
    request_recording(
        db,
        camera_id=camera_id,
        start=last.start + timedelta(seconds=0.5),
        end=last.end,
        keep_until=None,
        reason="motion",
    )
    janitor_pass(db, settings.recordings_dir, storage())
    assert [s.id for s in all_segments(db, camera_id)] == [second.id]
    assert files_exist(settings, [first, second, last]) == [False, True, False]
    window = (first.start - timedelta(days=1), utcnow())
    assert [r.reason for r in requests_between(db, camera_id, *window)] == ["alarm 7"], (
        "a request that holds nothing any more is forgotten"
    )

    # With event retention, a request without keep_until holds its footage that long.
    clip2 = tmp_path / "second.mp4"
    clip2.write_bytes(h264_clip.read_bytes())
    camera_id2, _ = record_file(db, settings, clip2)
    camera_store.update_camera(db, camera_id2, retention_days=1.0, event_retention_days=5.0)
    age(db, [s.id for s in all_segments(db, camera_id2)], timedelta(days=2))
    _, b, _ = all_segments(db, camera_id2)
    request_recording(
        db, camera_id=camera_id2, start=b.start, end=b.start, keep_until=None, reason="motion"
    )
    janitor_pass(db, settings.recordings_dir, storage())
    assert [s.id for s in all_segments(db, camera_id2)] == [b.id]


def test_disk_budget_spares_held_footage_while_anything_else_can_go(
    db: Database,
    settings: Settings,
    h264_clip: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first_id, _ = record_file(db, settings, h264_clip)
    held = segments_of(db, first_id)[0]
    assert held.end is not None
    request_recording(
        db,
        camera_id=first_id,
        start=held.start,
        end=held.end - timedelta(seconds=0.5),
        keep_until=utcnow() + timedelta(days=1),
        reason="alarm 1",
    )
    one_segment = max(s.bytes for s in segments_of(db, first_id))
    budget = storage(disk_budget_bytes=int(one_segment * 2.5))
    guard = DiskGuard(db, settings.recordings_dir, budget)
    guard.segment_estimate = one_segment
    clip2 = tmp_path / "second.mp4"
    clip2.write_bytes(h264_clip.read_bytes())
    second_id, statuses = record_file(db, settings, clip2, guard=guard)
    assert not statuses, "room was made from unheld footage"
    assert [s.id for s in segments_of(db, first_id)] == [held.id]
    assert segments_of(db, second_id), "the newest footage is kept too"
    assert not any("held footage" in r.message for r in caplog.records)

    # Nothing but held footage left: it goes rather than recording stopping, loudly.
    tight = DiskGuard(db, settings.recordings_dir, storage(disk_budget_bytes=one_segment))
    tight.segment_estimate = one_segment
    for seg in segments_of(db, second_id):
        request_recording(
            db,
            camera_id=second_id,
            start=seg.start,
            end=seg.start,
            keep_until=utcnow() + timedelta(days=1),
            reason="alarm 2",
        )
    with caplog.at_level(logging.ERROR, logger="vigil.media.storage"):
        assert tight.has_room()
    assert recordings.total_bytes(db) == 0
    assert any("deleting held footage" in r.message for r in caplog.records)

"""The recorder's sink and storage, fed from real files through a real ingest."""

from __future__ import annotations

import itertools
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import av
import pytest

from tests.media.test_ingest import encode_clip
from vigil.config import Settings, StorageSettings
from vigil.domain.cameras import CameraStatus
from vigil.media.footage import local_segment_files
from vigil.media.ingest import CameraIngest
from vigil.media.packets import StreamInfo
from vigil.media.playback import export_mp4
from vigil.media.segment_index import DbSegmentIndex
from vigil.media.segments import LAPSE_GAP_REASON, SegmentRecorder
from vigil.media.storage import DiskGuard, enforce_retention, repair_open_segments
from vigil.store import cameras as camera_store
from vigil.store import leases, nodes, recordings
from vigil.store.db import Database
from vigil.store.models import Gap, Segment
from vigil.store.types import utcnow


def record_file(
    db: Database, settings: Settings, clip: Path, *, guard: DiskGuard | None = None
) -> tuple[int, list[tuple[CameraStatus, str | None]]]:
    """Record one pass of a clip as a camera, as fast as it can be read."""
    camera = camera_store.create_camera(db, name=clip.stem, main_url=f"file://{clip}")
    root = settings.recordings_dir
    root.mkdir(parents=True, exist_ok=True)
    guard = guard or DiskGuard(db, root, settings.storage)
    statuses: list[tuple[CameraStatus, str | None]] = []
    sink = SegmentRecorder(
        camera.id,
        root,
        DbSegmentIndex(db, "test-node"),
        guard,
        segment_seconds=settings.storage.segment_seconds,
        on_status=lambda s, e: statuses.append((s, e)),
    )
    ingest = CameraIngest(
        camera.id, f"file://{clip}", [sink], realtime_files=False, on_status=lambda s, e: None
    )
    assert ingest._read_once() is None  # one whole pass of the file, cleanly ended
    return camera.id, statuses


def _around_now() -> tuple[datetime, datetime]:
    now, far = utcnow(), timedelta(days=1)
    return now - far, now + far


def segments_of(db: Database, camera_id: int) -> list[Segment]:
    return list(recordings.segments_between(db, camera_id, *_around_now()))


def gaps_of(db: Database, camera_id: int) -> list[Gap]:
    return list(recordings.gaps_between(db, camera_id, *_around_now()))


def test_segments_are_contiguous_cut_at_keyframes_and_indexed(
    db: Database, settings: Settings, h264_aac_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_aac_clip)
    segs = segments_of(db, camera_id)
    # 6 s at a keyframe per second, cut every 2 s.
    assert len(segs) == 3
    for a, b in itertools.pairwise(segs):
        assert a.end == b.start, "consecutive segments must meet exactly: no gap"
    total = sum(((s.end - s.start).total_seconds() for s in segs if s.end), 0.0)
    assert total == pytest.approx(6.0, abs=0.1)
    for seg in segs:
        assert seg.end is not None and seg.bytes > 0
        assert (seg.video_codec, seg.audio_codec, seg.width, seg.height) == (
            "h264",
            "aac",
            640,
            360,
        )
        path = settings.recordings_dir / seg.path
        assert path.stat().st_size == seg.bytes
        with av.open(str(path)) as c:
            frames = list(c.decode(video=0))
            assert frames[0].key_frame, "every segment starts at a keyframe"
            assert len(frames) == 50
            assert c.streams.audio[0].codec_context.name == "aac"


def test_stream_end_records_a_gap_with_its_reason(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    gaps = recordings.gaps_between(db, camera_id, segs[0].start, segs[-1].end + timedelta(days=1))
    assert len(gaps) == 1
    assert gaps[0].start == segs[-1].end and gaps[0].end is None
    assert gaps[0].reason == "recording stopped"


def test_disk_budget_deletes_oldest_first_and_reports_full(
    db: Database, settings: Settings, h264_clip: Path, tmp_path: Path
) -> None:
    first_id, _ = record_file(db, settings, h264_clip)
    first_segments = segments_of(db, first_id)
    one_segment = max(s.bytes for s in first_segments)
    # Room for about two segments: the next camera's footage pushes out the oldest.
    budget = StorageSettings(min_free_bytes=0, disk_budget_bytes=int(one_segment * 2.5))
    guard = DiskGuard(db, settings.recordings_dir, budget)
    guard.segment_estimate = one_segment
    clip2 = tmp_path / "second.mp4"
    clip2.write_bytes(h264_clip.read_bytes())
    second_id, statuses = record_file(db, settings, clip2, guard=guard)
    assert recordings.total_bytes(db) <= budget.disk_budget_bytes
    remaining_first = segments_of(db, first_id)
    assert len(remaining_first) < len(first_segments)
    assert remaining_first == first_segments[len(first_segments) - len(remaining_first) :]
    for seg in first_segments[: len(first_segments) - len(remaining_first)]:
        assert not (settings.recordings_dir / seg.path).exists()
    assert segments_of(db, second_id), "the newest footage is kept"
    assert not statuses, "room was made, so recording never stopped"


def test_storage_full_when_nothing_can_be_deleted(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    full = StorageSettings(min_free_bytes=0, disk_budget_bytes=1)
    guard = DiskGuard(db, settings.recordings_dir, full)
    camera_id, statuses = record_file(db, settings, h264_clip, guard=guard)
    assert segments_of(db, camera_id) == []
    assert statuses[0][0] == CameraStatus.STORAGE_FULL
    gaps = gaps_of(db, camera_id)
    assert gaps and gaps[0].reason.startswith("storage full")


def test_retention_removes_only_footage_older_than_the_camera_keeps(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    assert enforce_retention(db, settings.recordings_dir, camera_id, days=1) == 0
    # Age the first segment by two days.
    with db.session() as s:
        old = s.get(Segment, segs[0].id)
        assert old is not None and old.end is not None
        old.start -= timedelta(days=2)
        old.end -= timedelta(days=2)
    assert enforce_retention(db, settings.recordings_dir, camera_id, days=1) == 1
    assert [s.id for s in segments_of(db, camera_id)] == [s.id for s in segs[1:]]
    assert not (settings.recordings_dir / segs[0].path).exists()


def test_restart_repairs_a_segment_cut_off_mid_fragment(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    seg = segments_of(db, camera_id)[-1]
    path = settings.recordings_dir / seg.path
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.75)])  # as if killed while writing
    with db.session() as s:
        row = s.get(Segment, seg.id)
        assert row is not None
        row.end = None  # the crashed recorder never closed it
    assert repair_open_segments(db, settings.recordings_dir, "test-node") == 1
    repaired = segments_of(db, camera_id)[-1]
    assert repaired.end is not None
    kept = (repaired.end - repaired.start).total_seconds()
    assert 0.5 <= kept < 2.0, "what was readable is kept, up to the last whole fragment"
    with av.open(str(path)) as c:
        assert sum(1 for _ in c.decode(video=0)) >= 25


def test_unreadable_open_segment_is_dropped_on_repair(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    seg = segments_of(db, camera_id)[-1]
    (settings.recordings_dir / seg.path).write_bytes(b"\x00" * 100)
    with db.session() as s:
        row = s.get(Segment, seg.id)
        assert row is not None
        row.end = None
    assert repair_open_segments(db, settings.recordings_dir, "test-node") == 0
    assert seg.id not in [s.id for s in segments_of(db, camera_id)]
    assert len(segments_of(db, camera_id)) == 2, "the other segments are untouched"


def test_unreachable_camera_reports_why(db: Database) -> None:
    ingest = CameraIngest(1, "rtsp://127.0.0.1:9/none", [], reconnect_min_s=0.1)
    error = ingest._read_once()
    assert error is not None and error.startswith("cannot open stream")


def test_corrupt_stream_is_an_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 1000)
    ingest = CameraIngest(1, f"file://{bad}", [], realtime_files=False)
    error = ingest._read_once()
    assert error is not None and "cannot open stream" in error


def test_credentials_never_appear_in_errors() -> None:
    ingest = CameraIngest(1, "rtsp://admin:s3cret@127.0.0.1:9/x", [], secrets=["s3cret", "admin"])
    error = ingest._read_once()
    assert error is not None and "s3cret" not in error


def test_truncated_clip_records_what_is_readable(
    db: Database, settings: Settings, h264_clip: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.ts"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(h264_clip), "-c", "copy", "-f", "mpegts", str(cut)],
        check=True,
    )
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2] + b"\xff" * 5000)
    camera_id, _ = record_file(db, settings, cut)
    segs = segments_of(db, camera_id)
    assert segs and all(s.end is not None for s in segs)
    total = sum((s.end - s.start).total_seconds() for s in segs if s.end)
    assert 1.5 < total < 4.5


def test_write_failure_closes_cleanly_reports_and_records_the_gap(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera = camera_store.create_camera(db, name="blocked", main_url=f"file://{h264_clip}")
    root = settings.recordings_dir
    root.mkdir(parents=True, exist_ok=True)
    (root / str(camera.id)).write_text("a file where the camera's folder should be")
    statuses: list[tuple[CameraStatus, str | None]] = []
    sink = SegmentRecorder(
        camera.id,
        root,
        DbSegmentIndex(db, "test-node"),
        DiskGuard(db, root, settings.storage),
        segment_seconds=2,
        on_status=lambda s, e: statuses.append((s, e)),
    )
    ingest = CameraIngest(camera.id, f"file://{h264_clip}", [sink], realtime_files=False)
    assert ingest._read_once() is None, "the ingest goes on; only writing failed"
    assert statuses and statuses[0][0] == CameraStatus.STORAGE_FULL
    assert statuses[0][1] is not None and "cannot create segment" in statuses[0][1]
    assert segments_of(db, camera.id) == []
    gaps = gaps_of(db, camera.id)
    assert len(gaps) == 1 and "cannot create segment" in gaps[0].reason


def test_b_frame_video_is_recorded_whole(db: Database, settings: Settings, tmp_path: Path) -> None:
    clip = tmp_path / "bframes.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
         "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25",
         "-keyint_min", "25", "-sc_threshold", "0", "-pix_fmt", "yuv420p", str(clip)],
        check=True,
    )  # fmt: skip
    camera_id, _ = record_file(db, settings, clip)
    segs = segments_of(db, camera_id)
    assert len(segs) == 3
    for seg in segs:
        with av.open(str(settings.recordings_dir / seg.path)) as c:
            frames = list(c.decode(video=0))
        assert frames[0].key_frame and len(frames) == 50, "no frame lost at the cuts"


def test_the_segment_being_written_plays_up_to_its_last_second(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    # A camera as the demo's B-frame ones: 100 kbit/s and a keyframe every 4 s.
    clip = encode_clip(tmp_path / "sparse.mp4", seconds=12, b_frames=2, bitrate="100k", gop=100)
    camera = camera_store.create_camera(db, name="sparse", main_url=f"file://{clip}")
    root = settings.recordings_dir
    root.mkdir(parents=True, exist_ok=True)
    guard = DiskGuard(db, root, settings.storage)
    sink = SegmentRecorder(camera.id, root, DbSegmentIndex(db, "n"), guard, segment_seconds=60)
    t0 = utcnow()
    shown_s = 0.0
    with av.open(str(clip)) as c:
        video = c.streams.video[0]
        sink.open(StreamInfo(camera.id, video, None, t0))
        try:
            for packet in c.demux(video):
                if packet.pts is None or packet.dts is None or packet.dts * packet.time_base > 9:
                    continue
                pts_s = float(packet.pts * packet.time_base)
                sink.write(packet, t0 + timedelta(seconds=pts_s))
                shown_s = max(shown_s, pts_s)
            (segment,) = segments_of(db, camera.id)
            assert segment.end is None, "still being written"
            files = local_segment_files(db, root, camera.id, t0, t0 + timedelta(minutes=1))
            export = export_mp4(files, t0, t0 + timedelta(minutes=1), tmp_path / "export.mp4")
        finally:
            sink.close(None)
    assert export.start == t0
    assert export.end >= t0 + timedelta(seconds=shown_s - 1.5), "all but the last second"


def test_a_lease_renewed_late_resumes_with_a_gap_and_leaves_nothing_open(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    """An overloaded node's lease lapses mid-segment and is renewed late under the same
    epoch: writing stops at once, and resumes at the next keyframe after the renewal; the cut
    segment is closed in the index, and the gap between says why."""
    camera = camera_store.create_camera(db, name="late", main_url=f"file://{h264_clip}")
    nodes.heartbeat(db, "test-node", "http://test-node", capacity=10)
    (grant,) = leases.schedule(
        db, now=utcnow(), lease=timedelta(hours=1), alive_within=timedelta(hours=1)
    )
    root = settings.recordings_dir
    root.mkdir(parents=True, exist_ok=True)
    calls = itertools.count()
    lapsed = False

    def may_write() -> bool:
        nonlocal lapsed
        lapsed = 40 <= next(calls) < 80  # 6 s at 25 fps: about 1.6 s from 1.6 s on
        return not lapsed

    sink = SegmentRecorder(
        camera.id,
        root,
        DbSegmentIndex(db, "test-node", epoch_of=lambda _c: None if lapsed else grant.epoch),
        DiskGuard(db, root, settings.storage),
        segment_seconds=settings.storage.segment_seconds,
        may_write=may_write,
    )
    ingest = CameraIngest(camera.id, f"file://{h264_clip}", [sink], realtime_files=False)
    assert ingest._read_once() is None
    segs = segments_of(db, camera.id)
    assert segs and all(seg.end is not None for seg in segs), "the cut segment was closed"
    lapse = [gap for gap in gaps_of(db, camera.id) if gap.reason == LAPSE_GAP_REASON]
    assert len(lapse) == 1
    (gap,) = lapse
    assert gap.end is not None and gap.start < gap.end
    before = [seg for seg in segs if seg.end is not None and seg.end <= gap.start]
    after = [seg for seg in segs if seg.start >= gap.end]
    assert before and after, "recorded on both sides of the lapse"
    assert before[-1].end == gap.start and after[0].start == gap.end

"""The recording hash chain, on real recordings (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete
from typer.testing import CliRunner

from tests.media.test_recording import record_file, segments_of
from vigil.cli import app
from vigil.config import Settings
from vigil.domain.hashing import file_sha256
from vigil.evidence.chain import ChainReport, verify_camera_chain
from vigil.media.storage import enforce_retention, remove_segments, repair_open_segments
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.models import Segment
from vigil.store.types import utcnow


def _verify(db: Database, settings: Settings, camera_id: int) -> ChainReport:
    now = utcnow()
    return verify_camera_chain(
        db, settings.recordings_dir, camera_id, now - timedelta(days=1), now + timedelta(days=1)
    )


def test_segments_are_hashed_and_chained_when_closed(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    assert len(segs) == 3
    assert segs[0].prev_chain_hash is None, "the camera's first segment starts the chain"
    for prev, seg in itertools.pairwise(segs):
        assert seg.prev_chain_hash == prev.chain_hash
    for seg in segs:
        assert seg.sha256 == file_sha256(settings.recordings_dir / seg.path)
    report = _verify(db, settings, camera_id)
    assert report.ok and report.verified == 3 and report.chain_start
    assert report.last_chain_hash == segs[-1].chain_hash


def test_one_changed_byte_is_detected(db: Database, settings: Settings, h264_clip: Path) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    seg = segments_of(db, camera_id)[1]
    path = settings.recordings_dir / seg.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = _verify(db, settings, camera_id)
    assert not report.ok
    assert [(p.segment_id, p.kind) for p in report.problems] == [(seg.id, "altered")]


def test_a_deleted_middle_segment_is_detected(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    first, middle, last = segments_of(db, camera_id)
    (settings.recordings_dir / middle.path).unlink()
    report = _verify(db, settings, camera_id)
    assert [(p.segment_id, p.kind) for p in report.problems] == [(middle.id, "missing_file")]
    # Removed from the index as well, as someone covering their tracks would.
    with db.session() as s:
        s.execute(delete(Segment).where(Segment.id == middle.id))
    report = _verify(db, settings, camera_id)
    assert [(p.segment_id, p.kind) for p in report.problems] == [(last.id, "broken_link")]
    assert first.start.isoformat() in report.problems[0].detail


def test_an_edited_index_row_is_detected(db: Database, settings: Settings, h264_clip: Path) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    seg = segments_of(db, camera_id)[0]
    with db.session() as s:
        row = s.get(Segment, seg.id)
        assert row is not None and row.end is not None
        row.end = row.end + timedelta(seconds=5)  # stretch the evidence's time
    report = _verify(db, settings, camera_id)
    assert [p.kind for p in report.problems] == ["index_altered"]


def test_retention_of_the_oldest_is_not_an_error(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    first, _, _ = segments_of(db, camera_id)
    remove_segments(db, settings.recordings_dir, [first])  # what retention does
    report = _verify(db, settings, camera_id)
    assert report.ok and report.chain_start and report.verified == 2
    assert enforce_retention(db, settings.recordings_dir, camera_id, days=-1) == 2
    assert _verify(db, settings, camera_id).segments == 0


def test_a_policy_deletion_in_the_middle_is_bridged(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    _, middle, _ = segments_of(db, camera_id)
    recordings.delete_segments(db, [middle.id])  # as events mode does between requests
    report = _verify(db, settings, camera_id)
    assert report.ok and report.deleted_by_policy == 1


def test_a_repaired_segment_is_hashed_after_repair(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    seg = segments_of(db, camera_id)[-1]
    path = settings.recordings_dir / seg.path
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.75)])
    with db.session() as s:
        row = s.get(Segment, seg.id)
        assert row is not None
        row.end, row.sha256, row.chain_hash, row.prev_chain_hash = None, None, None, None
    assert repair_open_segments(db, settings.recordings_dir, "test-node") == 1
    repaired = segments_of(db, camera_id)[-1]
    assert repaired.sha256 == file_sha256(path)
    assert _verify(db, settings, camera_id).ok


def test_cli_recordings_verify(db: Database, settings: Settings, h264_clip: Path) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    now = utcnow()
    args = ["recordings", "verify", "--camera", str(camera_id)]
    args += ["--start", (now - timedelta(hours=1)).isoformat()]
    args += ["--end", (now + timedelta(hours=1)).isoformat()]
    env = {"VIGIL_DATA_DIR": str(settings.data_dir), "VIGIL_DATABASE_URL": settings.db_url}
    runner = CliRunner()
    good = runner.invoke(app, args, env=env)
    assert good.exit_code == 0 and "INTACT" in good.output, good.output
    (settings.recordings_dir / segments_of(db, camera_id)[1].path).unlink()
    bad = runner.invoke(app, args, env=env)
    assert bad.exit_code == 1 and "missing_file" in bad.output, bad.output

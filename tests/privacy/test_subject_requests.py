"""Data-subject requests: lifecycle and record, erasure through the tombstoned deletion path
(hash chain still verifies), evidence locks refusing erasure, per-camera retention
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.media.test_event_recording import age, all_segments, files_exist, storage
from tests.media.test_recording import record_file, segments_of
from vigil.cli import app as cli
from vigil.config import Settings
from vigil.domain.subject_requests import (
    Appearance,
    InvalidRequestTransition,
    RequestKind,
    RequestStatus,
    SearchCriteria,
    TimeRange,
    appearance_ranges,
    check_transition,
    merge_ranges,
    normalise_plate,
)
from vigil.evidence.chain import verify_camera_chain
from vigil.media.storage import janitor_pass
from vigil.privacy.erasure import ErasureRefused, erase_ranges
from vigil.privacy.subject_search import run_search
from vigil.security import audit
from vigil.store import cameras as camera_store
from vigil.store import subject_requests as store
from vigil.store.db import Database
from vigil.store.evidence_locks import create_lock
from vigil.store.models import EventRecord, Gap, SegmentTombstone
from vigil.store.models_subject_requests import SubjectRequest, SubjectRequestHit
from vigil.store.types import utcnow

DPO = "dpo"


def open_request(
    db: Database, camera_ids: list[int], *, kind: RequestKind = RequestKind.ERASURE
) -> SubjectRequest:
    now = utcnow()
    criteria = SearchCriteria(
        camera_ids=camera_ids,
        start=now - timedelta(days=1),
        end=now + timedelta(days=1),
        plate="KA 482 BX",
    )
    return store.create_request(
        db,
        kind=kind,
        subject="driver of a grey van",
        legal_reference="GDPR art. 17, letter of 2026-11-20",
        requester_contact="subject@example.org",
        criteria=criteria,
        created_by=DPO,
    )


def searched(db: Database, request_id: int) -> SubjectRequest:
    """The request as a finished search leaves it: in review."""
    store.claim_job(db, request_id, kind="search", username=DPO)
    return store.finish_job(db, request_id, state="done", detail={"hits": 0})


def hit_at(db: Database, data_dir: Path, request_id: int, camera_id: int, seg_start: object):
    thumb = data_dir / "privacy" / "requests" / str(request_id) / "hits" / "1.jpg"
    thumb.parent.mkdir(parents=True, exist_ok=True)
    thumb.write_bytes(b"\xff\xd8\xff jpeg")
    at = seg_start + timedelta(seconds=0.5)  # type: ignore[operator]
    return store.add_hit(
        db,
        SubjectRequestHit(
            request_id=request_id,
            camera_id=camera_id,
            kind="plate",
            first_at=at,
            last_at=at + timedelta(seconds=0.4),
            at=at,
            box=[1.0, 2.0, 3.0, 4.0],
            score=0.9,
            text="KA482BX",
            sightings=1,
            thumbnail=thumb.relative_to(data_dir).as_posix(),
            selected=True,
        ),
    )


def erase_trail(db: Database) -> list[audit.AuditRecord]:
    return list(audit.iter_entries(db, audit.AuditFilter(action="privacy.request.erase")))


def test_per_camera_retention_keeps_each_cameras_own_period(
    db: Database, settings: Settings, h264_clip: Path, tmp_path: Path
) -> None:
    short, _ = record_file(db, settings, h264_clip)
    other = tmp_path / "other.mp4"
    other.write_bytes(h264_clip.read_bytes())
    long, _ = record_file(db, settings, other)
    camera_store.update_camera(db, short, retention_days=1.0)
    camera_store.update_camera(db, long, retention_days=5.0)
    age(db, [s.id for s in all_segments(db, short) + all_segments(db, long)], timedelta(days=2))
    kept = all_segments(db, long)
    janitor_pass(db, settings.recordings_dir, storage(default_retention_days=1.0))
    assert all_segments(db, short) == [], "two days old: past this camera's one day"
    assert [s.id for s in all_segments(db, long)] == [s.id for s in kept]
    assert files_exist(settings, kept) == [True, True, True]
    # Without its own retention a camera falls back to the installation's default.
    camera_store.update_camera(db, long, retention_days=None)
    janitor_pass(db, settings.recordings_dir, storage(default_retention_days=1.0))
    assert all_segments(db, long) == []


def test_domain_rules() -> None:
    check_transition(RequestStatus.OPEN, RequestStatus.SEARCHING)
    check_transition(RequestStatus.REVIEW, RequestStatus.COMPLETED)
    with pytest.raises(InvalidRequestTransition, match="cancel the search first"):
        check_transition(RequestStatus.SEARCHING, RequestStatus.REJECTED)
    with pytest.raises(InvalidRequestTransition, match=r"nothing \(closed\)"):
        check_transition(RequestStatus.COMPLETED, RequestStatus.SEARCHING)
    assert normalise_plate(" ka-482 bx") == "KA482BX"
    now = utcnow()
    s = timedelta(seconds=1)
    merged = appearance_ranges(
        [
            Appearance(1, now, now + s),
            Appearance(1, now + 3 * s, now + 4 * s),
            Appearance(2, now, now),
        ],
        pad_s=1.0,
    )
    assert merged == [TimeRange(1, now - s, now + 5 * s), TimeRange(2, now - s, now + s)]
    assert merge_ranges([TimeRange(1, now, now + s), TimeRange(1, now + 2 * s, now + 3 * s)]) == [
        TimeRange(1, now, now + s),
        TimeRange(1, now + 2 * s, now + 3 * s),
    ], "ranges that do not meet stay apart"
    with pytest.raises(ValueError, match="at most 31 days"):
        SearchCriteria(camera_ids=[1], start=now, end=now + timedelta(days=40), plate="AB12")
    with pytest.raises(ValueError, match="'end' must be after 'start'"):
        SearchCriteria(camera_ids=[1], start=now, end=now, plate="AB12")


def test_lifecycle_is_checked_and_every_step_recorded(db: Database) -> None:
    row = open_request(db, [1])
    assert row.status == RequestStatus.OPEN
    with pytest.raises(InvalidRequestTransition):
        store.transition(db, row.id, RequestStatus.COMPLETED, username=DPO, action="completed")
    searching = store.claim_job(db, row.id, kind="search", username=DPO)
    assert searching.status == RequestStatus.SEARCHING and store.job_running(searching)
    with pytest.raises(Exception, match="is running"):
        store.claim_job(db, row.id, kind="search", username=DPO)
    with pytest.raises(Exception, match="cancel it first"):
        store.transition(db, row.id, RequestStatus.REJECTED, username=DPO, action="rejected")
    done = store.finish_job(db, row.id, state="done", detail={"hits": 0, "problems": []})
    assert done.status == RequestStatus.REVIEW and done.job_progress == 1.0
    closed = store.transition(
        db, row.id, RequestStatus.REJECTED, username=DPO, action="rejected", note="no proof of ID"
    )
    assert closed.closed_by == DPO and closed.close_note == "no proof of ID"
    with pytest.raises(InvalidRequestTransition):
        store.claim_job(db, row.id, kind="search", username=DPO)
    record = [(e.action, e.username) for e in store.entries(db, row.id)]
    assert record == [
        ("created", DPO),
        ("search_started", DPO),
        ("search_done", None),
        ("rejected", DPO),
    ]


def test_a_job_left_running_by_a_dead_server_can_be_taken_over(db: Database) -> None:
    row = open_request(db, [1])
    store.claim_job(db, row.id, kind="search", username=DPO)
    with db.session() as s:
        stale = s.get(SubjectRequest, row.id)
        assert stale is not None
        stale.job_heartbeat_at = utcnow() - store.JOB_STALE_AFTER - timedelta(seconds=1)
    assert not store.job_running(store.get_request(db, row.id))
    again = store.claim_job(db, row.id, kind="search", username="dpo2")
    assert again.status == RequestStatus.SEARCHING and store.job_running(again)


def test_erasure_leaves_tombstones_a_gap_and_a_record_and_the_chain_still_verifies(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    first, middle, last = segments_of(db, camera_id)
    row = open_request(db, [camera_id])
    searched(db, row.id)
    hit = hit_at(db, settings.data_dir, row.id, camera_id, middle.start)
    # An analytics event in the erased segment (not in the hit's range): its snapshot goes.
    snapshot = settings.data_dir / "snapshots" / f"{camera_id}" / "e1.jpg"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(b"jpeg")
    with db.session() as s:
        s.add(
            EventRecord(
                id="e1",
                type="plate.read",
                at=middle.start + timedelta(seconds=1),
                camera_id=camera_id,
                snapshot=snapshot.relative_to(settings.data_dir).as_posix(),
            )
        )
    ranges = appearance_ranges([Appearance(camera_id, hit.first_at, hit.last_at)], pad_s=0)
    result = erase_ranges(
        db,
        data_dir=settings.data_dir,
        recordings_dir=settings.recordings_dir,
        request_id=row.id,
        ranges=ranges,
        reason="subject's erasure request granted",
        username=DPO,
        address="10.0.0.9",
    )

    assert result.complete
    assert [s.id for s in segments_of(db, camera_id)] == [first.id, last.id]
    assert files_exist(settings, [first, middle, last]) == [True, False, True]
    with db.session() as s:
        tombstones = s.scalars(select(SegmentTombstone.chain_hash)).all()
        gaps = s.scalars(select(Gap).where(Gap.camera_id == camera_id)).all()
        event = s.get(EventRecord, "e1")
    assert tombstones == [middle.chain_hash]
    assert any(
        g.start == middle.start and g.end == middle.end and "erased" in g.reason for g in gaps
    )
    assert event is not None and event.snapshot is None and not snapshot.exists()
    report = verify_camera_chain(
        db,
        settings.recordings_dir,
        camera_id,
        first.start - timedelta(minutes=1),
        last.start + timedelta(minutes=1),
    )
    assert report.ok and report.verified == 2 and report.deleted_by_policy == 1
    now = utcnow()
    args = ["recordings", "verify", "--camera", str(camera_id)]
    args += ["--start", (now - timedelta(hours=1)).isoformat()]
    args += ["--end", (now + timedelta(hours=1)).isoformat()]
    env = {"VIGIL_DATA_DIR": str(settings.data_dir), "VIGIL_DATABASE_URL": settings.db_url}
    verified = CliRunner().invoke(cli, args, env=env)
    assert verified.exit_code == 0 and "INTACT" in verified.output, verified.output

    # The record: who, when, why, which ranges and files; the request completed.
    done = store.get_request(db, row.id)
    assert done.status == RequestStatus.COMPLETED and done.closed_by == DPO
    erase = [e for e in store.entries(db, row.id) if e.action == "erase"]
    assert len(erase) == 1 and erase[0].username == DPO and erase[0].outcome == "success"
    details = erase[0].details
    assert details["reason"] == "subject's erasure request granted"
    assert [seg["path"] for seg in details["segments"]] == [middle.path]
    assert details["segments"][0]["sha256"] == middle.sha256
    assert details["snapshots_deleted"] == 1 and details["files_not_deleted"] == []
    # Photos of the subject go when the request closes; what was found stays.
    assert store.get_hit(db, row.id, hit.id).thumbnail is None
    assert not (settings.data_dir / (hit.thumbnail or "")).exists()
    trail = erase_trail(db)
    assert [(e.username, e.camera_id, e.address, e.outcome) for e in trail] == [
        (DPO, camera_id, "10.0.0.9", "success")
    ]
    assert trail[0].details["files"] == [middle.path]
    assert audit.verify_chain(db).ok
    # The record outlives the camera.
    assert camera_store.delete_camera(db, camera_id)
    kept = [e for e in store.entries(db, row.id) if e.action == "erase"]
    assert kept[0].details["segments"][0]["path"] == middle.path
    assert [h.id for h in store.list_hits(db, row.id)] == [hit.id]


def test_locked_footage_is_never_erased_and_the_refusal_is_recorded(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    middle = segs[1]
    assert middle.end is not None
    lock = create_lock(
        db,
        camera_id=camera_id,
        start=middle.start + timedelta(seconds=1),
        end=middle.start + timedelta(seconds=1.5),
        created_by="investigator 7",
        reason="case 2026/118",
        until=None,
    )
    row = open_request(db, [camera_id])
    searched(db, row.id)
    whole = TimeRange(camera_id, segs[0].start, segs[-1].start + timedelta(seconds=1))
    with pytest.raises(
        ErasureRefused, match=rf"lock {lock.id} on camera {camera_id}.*case 2026/118"
    ):
        erase_ranges(
            db,
            data_dir=settings.data_dir,
            recordings_dir=settings.recordings_dir,
            request_id=row.id,
            ranges=[whole],
            reason="granted",
            username=DPO,
        )
    assert [s.id for s in segments_of(db, camera_id)] == [s.id for s in segs], "nothing erased"
    assert files_exist(settings, segs) == [True, True, True]
    assert store.get_request(db, row.id).status == RequestStatus.REVIEW
    refused = [e for e in store.entries(db, row.id) if e.action == "erase"]
    assert [(e.outcome, e.details["locks"]) for e in refused] == [("denied", [lock.id])]
    trail = erase_trail(db)
    assert [e.outcome for e in trail] == ["denied"]


def test_only_an_erasure_request_in_review_erases(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    whole = [TimeRange(camera_id, segs[0].start, segs[0].start + timedelta(seconds=1))]
    args = {
        "data_dir": settings.data_dir,
        "recordings_dir": settings.recordings_dir,
        "ranges": whole,
        "reason": "r",
        "username": DPO,
    }
    access = open_request(db, [camera_id], kind=RequestKind.ACCESS)
    searched(db, access.id)
    with pytest.raises(Exception, match="asks for access, not erasure"):
        erase_ranges(db, request_id=access.id, **args)  # type: ignore[arg-type]
    unsearched = open_request(db, [camera_id])
    with pytest.raises(Exception, match="is open: erase after a search has been reviewed"):
        erase_ranges(db, request_id=unsearched.id, **args)  # type: ignore[arg-type]
    assert len(segments_of(db, camera_id)) == 3


def test_a_search_reports_missing_segments_and_stops_when_cancelled(
    db: Database, settings: Settings, h264_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    (settings.recordings_dir / segs[1].path).unlink()
    row = open_request(db, [camera_id, 999])
    store.claim_job(db, row.id, kind="search", username=DPO)
    done = run_search(
        db,
        data_dir=settings.data_dir,
        recordings_dir=settings.recordings_dir,
        request_id=row.id,
        matchers=[lambda frame: []],  # nothing matches: this test is about the scan
    )
    assert done.status == RequestStatus.REVIEW and done.job_state == "done"
    detail = done.job_detail
    assert detail["segments_total"] == detail["segments_done"] == 3
    assert detail["cameras_without_footage"] == [999]
    assert [(p["segment_id"], "missing" in p["problem"]) for p in detail["problems"]] == [
        (segs[1].id, True)
    ]
    assert detail["frames"] >= 4, "about one frame a second of the 4 s still there"

    store.claim_job(db, row.id, kind="search", username=DPO)
    store.request_cancel(db, row.id, username=DPO)
    cancelled = run_search(
        db,
        data_dir=settings.data_dir,
        recordings_dir=settings.recordings_dir,
        request_id=row.id,
        matchers=[lambda frame: []],
    )
    assert cancelled.job_state == "cancelled" and cancelled.job_detail["segments_done"] == 0
    assert cancelled.status == RequestStatus.REVIEW
    actions = [e.action for e in store.entries(db, row.id)]
    assert actions[-2:] == ["search_cancel", "search_cancelled"]

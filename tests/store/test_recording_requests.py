"""Recording requests on SQLite and PostgreSQL: merging, listing, holding, purging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.store import cameras as camera_store
from vigil.store.db import Database
from vigil.store.recording_requests import (
    held_ranges,
    purge_requests,
    request_recording,
    requests_between,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def camera_id(db: Database) -> int:
    return camera_store.create_camera(db, name="Gate", main_url="rtsp://10.0.0.1/main").id


def test_separate_requests_stay_apart(db: Database, camera_id: int) -> None:
    a = request_recording(
        db, camera_id=camera_id, start=at(0), end=at(10), keep_until=None, reason="a"
    )
    b = request_recording(
        db, camera_id=camera_id, start=at(20), end=at(30), keep_until=None, reason="b"
    )
    assert a.id != b.id
    assert [r.reason for r in requests_between(db, camera_id, at(-100), at(100))] == ["a", "b"]
    assert [r.reason for r in requests_between(db, camera_id, at(10), at(15))] == ["a"]
    assert requests_between(db, camera_id, at(11), at(19)) == []


def test_overlapping_request_extends_keeps_later_keep_until_and_lists_reasons(
    db: Database, camera_id: int
) -> None:
    first = request_recording(
        db, camera_id=camera_id, start=at(0), end=at(40), keep_until=at(1000), reason="door"
    )
    merged = request_recording(
        db,
        camera_id=camera_id,
        start=at(-10),
        end=at(60),
        keep_until=at(500),
        reason="motion",
        alarm_id=None,
    )
    assert merged.id == first.id
    (only,) = requests_between(db, camera_id, at(-100), at(100))
    assert (only.start, only.end, only.keep_until) == (at(-10), at(60), at(1000))
    assert only.reason == "door; motion"
    # A set keep_until wins over none; the same reason is not repeated.
    again = request_recording(
        db, camera_id=camera_id, start=at(50), end=at(70), keep_until=None, reason="door"
    )
    assert (again.end, again.keep_until, again.reason) == (at(70), at(1000), "door; motion")


def test_a_request_bridging_two_merges_all_three(db: Database, camera_id: int) -> None:
    request_recording(db, camera_id=camera_id, start=at(0), end=at(10), keep_until=None, reason="a")
    request_recording(
        db, camera_id=camera_id, start=at(20), end=at(30), keep_until=at(99), reason="b"
    )
    request_recording(db, camera_id=camera_id, start=at(5), end=at(25), keep_until=None, reason="c")
    (only,) = requests_between(db, camera_id, at(-100), at(100))
    assert (only.start, only.end, only.keep_until) == (at(0), at(30), at(99))
    assert only.reason == "a; b; c"


def test_requests_of_other_cameras_do_not_merge(db: Database, camera_id: int) -> None:
    other = camera_store.create_camera(db, name="Yard", main_url="rtsp://10.0.0.2/main").id
    request_recording(db, camera_id=camera_id, start=at(0), end=at(10), keep_until=None, reason="a")
    request_recording(db, camera_id=other, start=at(0), end=at(10), keep_until=None, reason="b")
    assert len(requests_between(db, camera_id, at(-100), at(100))) == 1
    assert len(requests_between(db, other, at(-100), at(100))) == 1


def test_end_before_start_is_refused(db: Database, camera_id: int) -> None:
    with pytest.raises(ValueError, match="before it starts"):
        request_recording(
            db, camera_id=camera_id, start=at(10), end=at(0), keep_until=None, reason="x"
        )


def test_held_by_keep_until_or_by_the_cameras_event_retention(db: Database, camera_id: int) -> None:
    now = at(0)
    kept = request_recording(
        db,
        camera_id=camera_id,
        start=at(-3 * 86400),
        end=at(-3 * 86400 + 60),
        keep_until=at(3600),
        reason="kept",
    )
    plain = request_recording(
        db, camera_id=camera_id, start=at(-600), end=at(-500), keep_until=None, reason="plain"
    )
    assert [r.id for r in held_ranges(db, camera_id, now)] == [kept.id]
    assert held_ranges(db, camera_id, at(7200)) == [], "keep_until has passed"
    # With event retention, a request without keep_until holds until its end plus that long.
    camera_store.update_camera(db, camera_id, event_retention_days=1.0)
    assert [r.id for r in held_ranges(db, camera_id, now)] == [kept.id, plain.id]
    assert held_ranges(db, camera_id, at(-500 + 86400 + 1)) == []


def test_purge_forgets_only_ended_requests_that_hold_nothing(db: Database, camera_id: int) -> None:
    now = at(0)
    request_recording(
        db, camera_id=camera_id, start=at(-900), end=at(-800), keep_until=None, reason="old"
    )
    request_recording(
        db, camera_id=camera_id, start=at(-700), end=at(-600), keep_until=at(60), reason="held"
    )
    request_recording(
        db, camera_id=camera_id, start=at(-100), end=at(-50), keep_until=None, reason="recent"
    )
    assert purge_requests(db, camera_id, ended_before=at(-300), now=now) == 1
    reasons = [r.reason for r in requests_between(db, camera_id, at(-1000), now)]
    assert reasons == ["held", "recent"]

"""A centre's mirror of its sites: each camera, alarm and event once however often it is
read, older answers never overwrite newer ones, one server links each site, and a site's
feed gives only its own rows, after the cursor, within what the caller may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from vigil.federation import feed
from vigil.federation import store as site_store
from vigil.federation.cursor import Cursor
from vigil.federation.models import Site
from vigil.store.db import Database
from vigil.store.models import Alarm, Camera, EventRecord
from vigil.store.types import utcnow

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def add_site(db: Database, name: str = "north") -> Site:
    return site_store.create_site(
        db,
        name=name,
        url="https://north.example:8443",
        token_encrypted="x",
        fingerprint="AA",
        certificate="PEM",
    )


def remote_alarm(
    remote_id: int, *, state: str = "new", at: datetime = T0, **extra: Any
) -> dict[str, Any]:
    return {
        "id": remote_id,
        "uid": f"{remote_id:032x}",
        "camera_id": 7,
        "rule_name": "door",
        "event_id": None,
        "event_type": "input.webhook",
        "title": f"door {remote_id} forced",
        "category": "intrusion",
        "priority": 2,
        "state": state,
        "owner": None,
        "sop": [],
        "occurrences": 1,
        "first_at": T0.isoformat(),
        "last_at": T0.isoformat(),
        "escalated_at": None,
        "acknowledged_at": None,
        "closed_at": None,
        "closing_reason": None,
        "created_at": T0.isoformat(),
        "updated_at": at.isoformat(),
        **extra,
    }


def cursor_at(at: datetime, remote_id: int) -> str:
    return Cursor(at, f"{remote_id:012d}").encode()


def camera_item(remote_id: int = 7, name: str = "gate") -> dict[str, Any]:
    return {"id": remote_id, "uid": f"cam{remote_id:029d}", "name": name, "location": "east"}


def test_each_alarm_is_stored_once_however_often_it_is_read(db: Database) -> None:
    add_site(db)
    site_store.sync_cameras(db, "north", [camera_item()])
    page = [remote_alarm(1), remote_alarm(2)]
    first = site_store.store_alarms(db, "north", page, cursor_at(T0, 2))
    again = site_store.store_alarms(db, "north", page, cursor_at(T0, 2))  # the overlap
    assert [c.change for c in first] == ["raised", "raised"]
    assert again == []
    with db.session() as s:
        alarms = s.scalars(select(Alarm).order_by(Alarm.id)).all()
        camera = s.scalar(select(Camera).where(Camera.site == "north"))
        assert camera is not None
        assert [(a.site, a.uid, a.camera_id) for a in alarms] == [
            ("north", page[0]["uid"], camera.id),
            ("north", page[1]["uid"], camera.id),
        ]
        assert all(a.rule_id is None and a.escalate_after_min is None for a in alarms)
    assert site_store.get_site(db, "north").alarms_cursor == cursor_at(T0, 2)  # type: ignore[union-attr]


def test_a_newer_state_replaces_an_older_one_never_the_reverse(db: Database) -> None:
    add_site(db)
    site_store.store_alarms(db, "north", [remote_alarm(1)], cursor_at(T0, 1))
    later = T0 + timedelta(seconds=5)
    acked = remote_alarm(1, state="acknowledged", at=later, acknowledged_at=later.isoformat())
    changes = site_store.store_alarms(db, "north", [acked], cursor_at(later, 1))
    assert [(c.change, c.state.value) for c in changes] == [("state", "acknowledged")]
    stale = site_store.store_alarms(db, "north", [remote_alarm(1)], cursor_at(T0, 1))
    assert stale == []
    with db.session() as s:
        alarm = s.scalars(select(Alarm)).one()
        assert alarm.state == "acknowledged"
    # The cursor never moves back to the stale page's.
    assert site_store.get_site(db, "north").alarms_cursor == cursor_at(later, 1)  # type: ignore[union-attr]


def test_cameras_follow_what_the_site_shows(db: Database) -> None:
    add_site(db)
    site_store.sync_cameras(db, "north", [camera_item(7, "gate"), camera_item(8, "yard")])
    site_store.sync_cameras(db, "north", [camera_item(7, "main gate")])  # yard hidden
    with db.session() as s:
        cameras = s.scalars(select(Camera).where(Camera.site == "north")).all()
        assert [(c.name, c.enabled, c.uid) for c in cameras] == [
            ("north/main gate", False, camera_item(7)["uid"])  # recorded there, not here
        ]


def test_events_are_stored_once_with_the_site_and_the_mirrored_camera(db: Database) -> None:
    add_site(db)
    site_store.sync_cameras(db, "north", [camera_item()])
    event = {
        "id": "e" * 32,
        "type": "input.webhook",
        "at": T0.isoformat(),
        "camera_id": 7,
        "site": "north-itself",
        "snapshot": "snapshots/7/x.jpg",
        "snapshot_url": "/api/events/x/snapshot",
    }
    cursor = Cursor(T0, event["id"]).encode()
    assert site_store.store_events(db, "north", [event], cursor) == 1
    assert site_store.store_events(db, "north", [event], cursor) == 0
    with db.session() as s:
        record = s.scalars(select(EventRecord)).one()
        camera_id = s.scalar(select(Camera.id).where(Camera.site == "north"))
        # Its snapshot stays at the site (relayed from there): no path of the site's here.
        assert (record.site, record.camera_id) == ("north", camera_id)
        assert record.snapshot == site_store.SITE_SNAPSHOT


def test_one_server_links_a_site_until_its_lease_ends(db: Database) -> None:
    add_site(db)
    soon = utcnow() + timedelta(seconds=30)
    assert site_store.claim_link(db, "north", "server-a", until=soon)
    assert not site_store.claim_link(db, "north", "server-b", until=soon)
    assert site_store.claim_link(db, "north", "server-a", until=soon)  # renewed
    site_store.release_link(db, "north", "server-a")
    assert site_store.claim_link(db, "north", "server-b", until=utcnow() - timedelta(seconds=1))
    assert site_store.claim_link(db, "north", "server-a", until=soon)  # b's lease ended


def test_removing_a_site_forgets_its_mirror(db: Database) -> None:
    add_site(db)
    site_store.sync_cameras(db, "north", [camera_item()])
    site_store.store_alarms(db, "north", [remote_alarm(1)], cursor_at(T0, 1))
    assert site_store.delete_site(db, "north")
    assert not site_store.delete_site(db, "north")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Alarm)) == 0
        assert s.scalar(select(func.count()).select_from(Camera)) == 0


def local_alarm(db: Database, camera_id: int | None, updated_at: datetime) -> int:
    with db.session() as s:
        alarm = Alarm(
            rule_name="r",
            title="t",
            category="c",
            priority=3,
            camera_id=camera_id,
            first_at=T0,
            last_at=T0,
            updated_at=updated_at,
        )
        s.add(alarm)
        s.flush()
        return alarm.id


def test_the_feed_gives_own_alarms_after_the_cursor_within_the_callers_cameras(
    db: Database,
) -> None:
    add_site(db)
    site_store.store_alarms(db, "north", [remote_alarm(1)], cursor_at(T0, 1))  # mirrored
    with db.session() as s:
        mine, other = Camera(name="a", main_url="rtsp://a"), Camera(name="b", main_url="rtsp://b")
        s.add_all([mine, other])
        s.flush()
        mine_id, other_id = mine.id, other.id
    first = local_alarm(db, mine_id, T0)
    hidden = local_alarm(db, other_id, T0 + timedelta(seconds=1))
    no_camera = local_alarm(db, None, T0 + timedelta(seconds=2))

    items, cursor = feed.alarms_after(db, None, limit=10, cameras={mine_id})
    assert [i["id"] for i in items] == [first, no_camera]
    everything, _ = feed.alarms_after(db, None, limit=10, cameras=None)
    assert [i["id"] for i in everything] == [first, hidden, no_camera]  # never the mirrored
    page, page_cursor = feed.alarms_after(db, None, limit=1, cameras=None)
    assert [i["id"] for i in page] == [first]
    assert page_cursor is not None
    rest, _ = feed.alarms_after(db, Cursor.decode(page_cursor), limit=10, cameras=None)
    assert [i["id"] for i in rest] == [hidden, no_camera]
    assert cursor is not None
    assert feed.alarms_after(db, Cursor.decode(cursor), limit=10, cameras=None)[0] == []

"""The sites API at a centre (registration refused for what cannot be linked safely) and
the feed a site gives a centre, limited to what the centre's token may see."""

from __future__ import annotations

from fastapi.testclient import TestClient

from vigil.config import Settings
from vigil.domain.events import Event
from vigil.domain.permissions import Scope
from vigil.federation import store as site_store
from vigil.security.passwords import hash_password
from vigil.security.tokens import create_token
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.events import save_events
from vigil.store.models import Alarm
from vigil.store.types import utcnow
from vigil.store.users import Assigned


def token_of(db: Database, username: str, role: str, scope: Scope) -> dict[str, str]:
    user = user_store.create_user(
        db,
        username=username,
        password_hash=hash_password("a long enough password 1"),
        roles=[Assigned(role, scope)],
    )
    token, _ = create_token(db, user_id=user.id, name="centre link")
    return {"Authorization": f"Bearer {token}"}


def camera(client: TestClient, name: str) -> int:
    r = client.post("/api/cameras", json={"name": name, "main_url": "rtsp://127.0.0.1:9/x"})
    assert r.status_code == 201, r.text
    camera_id: int = r.json()["id"]
    return camera_id


def alarm_of(db: Database, camera_id: int | None) -> int:
    now = utcnow()
    with db.session() as s:
        alarm = Alarm(
            rule_name="door",
            title="door forced",
            category="intrusion",
            priority=2,
            camera_id=camera_id,
            first_at=now,
            last_at=now,
        )
        s.add(alarm)
        s.flush()
        return alarm.id


def test_the_feed_gives_a_centre_only_what_its_token_may_see(
    client: TestClient, db: Database
) -> None:
    allowed, other = camera(client, "gate"), camera(client, "yard")
    mine, hidden, general = alarm_of(db, allowed), alarm_of(db, other), alarm_of(db, None)
    centre = token_of(db, "centre", "operator", Scope.of(cameras=[allowed]))

    r = client.get("/api/federation/cameras", headers=centre)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["items"]] == [allowed]
    r = client.get("/api/federation/alarms", headers=centre)
    assert r.status_code == 200, r.text
    page = r.json()
    assert sorted(a["id"] for a in page["items"]) == sorted([mine, general])
    assert all(len(a["uid"]) == 32 for a in page["items"])
    # From its cursor on, nothing new: nothing.
    r = client.get("/api/federation/alarms", headers=centre, params={"after": page["cursor"]})
    assert r.json() == {"items": [], "cursor": None}
    everything = client.get("/api/federation/alarms").json()["items"]  # the administrator's
    assert hidden in [a["id"] for a in everything]
    r = client.get("/api/federation/alarms", params={"after": "yesterday"})
    assert r.status_code == 422


def test_alarms_say_which_site_raised_them(
    client: TestClient, db: Database, settings: Settings
) -> None:
    alarm_id = alarm_of(db, None)
    items = client.get("/api/alarms").json()["items"]
    assert [(a["id"], a["site"]) for a in items] == [(alarm_id, settings.site)]


def mirror_north(db: Database) -> None:
    """A linked site "north" with a camera, an alarm and an event mirrored here."""
    site_store.create_site(
        db, name="north", url="https://north.example:8443", token_encrypted="x", fingerprint="AA",
        certificate="PEM",
    )  # fmt: skip
    site_store.sync_cameras(db, "north", [{"id": 7, "uid": "c" * 32, "name": "gate"}])
    at = utcnow().isoformat()
    alarm = {
        "id": 1, "uid": "a" * 32, "camera_id": 7, "rule_name": "door", "title": "north's door",
        "category": "intrusion", "priority": 2, "state": "new", "sop": [], "occurrences": 1,
        "first_at": at, "last_at": at, "created_at": at, "updated_at": at,
    }  # fmt: skip
    assert site_store.store_alarms(db, "north", [alarm], None)
    event = {"id": "e" * 32, "type": "input.webhook", "at": at, "camera_id": 7}
    assert site_store.store_events(db, "north", [event], None) == 1


def test_lists_filter_by_site(client: TestClient, db: Database, settings: Settings) -> None:
    mirror_north(db)
    lobby = camera(client, "lobby")
    alarm_of(db, lobby)
    save_events(db, [Event(type="input.webhook", at=utcnow(), camera_id=lobby)])

    def sites(path: str, **params: str) -> list[str]:
        r = client.get(path, params={"state": "all", **params} if "alarms" in path else params)
        assert r.status_code == 200, r.text
        body = r.json()
        return sorted(i["site"] for i in (body["items"] if "alarms" in path else body))

    own = settings.site  # this installation's own rows, whatever they are stored as
    for path in ("/api/cameras", "/api/alarms", "/api/events"):
        assert sites(path) == sorted(["north", own]), path  # without the filter: all
        assert sites(path, site="north") == ["north"], path
        assert sites(path, site=own) == [own], path
        assert sites(path, site="south") == [], path
    # An installation with a name: its own rows, stored "local" or under the name, by it.
    assert site_store.stored_sites("centre", "centre") == ["local", "centre"]
    assert site_store.stored_sites("local", "centre") == ["local", "centre"]
    assert site_store.stored_sites("north", "centre") == ["north"]
    assert site_store.stored_sites(None, "centre") is None


def test_a_site_that_cannot_be_linked_safely_is_not_registered(
    client: TestClient, db: Database, settings: Settings
) -> None:
    body = {"name": "north", "url": "http://127.0.0.1:9", "token": "t", "fingerprint": None}
    r = client.post("/api/sites", json=body)
    assert r.status_code == 422
    assert "https://" in r.json()["detail"]
    r = client.post("/api/sites", json={**body, "name": settings.site, "url": "https://x:1"})
    assert r.status_code == 422
    assert "names this installation" in r.json()["detail"]
    r = client.post("/api/sites", json={**body, "url": "https://127.0.0.1:9"})
    assert r.status_code == 422  # nothing answers there: no certificate to confirm
    assert "cannot read the certificate" in r.json()["detail"]
    operator = token_of(db, "op", "operator", Scope.everywhere())
    assert client.post("/api/sites", json=body, headers=operator).status_code == 403
    assert client.get("/api/sites").json() == []
    assert client.delete("/api/sites/north").status_code == 404

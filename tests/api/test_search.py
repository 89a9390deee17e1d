"""Forensic search over events and tracks on SQLite and PostgreSQL: seeded by publishing on the
real server's bus (events stored by the rules engine, tracks by the track writer)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api.test_alarms import ctx, portal
from tests.api.test_rules import camera
from tests.conftest import authorise, wait_until
from vigil.api.app import create_app
from vigil.config import Settings
from vigil.domain.events import Event, ObjectRef, TrackEnded
from vigil.search import query
from vigil.store.models import TrackRecord

T0 = datetime.fromisoformat("2025-03-01T10:00:00+00:00")


@dataclass
class Seeded:
    gate: int
    yard: int
    events: dict[str, str]  # name -> event id
    tracks: dict[str, str]  # name -> track row id (as search returns it)
    data_dir: Path


def publish(client: TestClient, *messages: Event | TrackEnded) -> None:
    bus = ctx(client).bus
    for m in messages:
        portal(client).call(bus.publish, m.subject(), m)


def search(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/api/search", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [f"{h['kind']}:{h['id']}" for h in body["items"]]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def seed(client: TestClient, data_dir: Path) -> Seeded:
    gate, yard = camera(client, "Gate"), camera(client, "Yard")
    snap = Path("snapshots") / str(gate) / "2025-03-01" / "e1.jpg"
    (data_dir / snap).parent.mkdir(parents=True)
    (data_dir / snap).write_bytes(b"\xff\xd8snapshot")
    thumb = Path("thumbnails") / str(gate) / "t1.jpg"
    (data_dir / thumb).parent.mkdir(parents=True)
    (data_dir / thumb).write_bytes(b"\xff\xd8thumbnail")
    (data_dir.parent / "secret.txt").write_text("outside the data dir")

    def obj(cls: str, colour: str | None, track: int) -> ObjectRef:
        return ObjectRef(class_name=cls, colour=colour, track_id=track, confidence=0.9)

    events = {
        "e1": Event(
            type="intrusion",
            at=at(10),
            camera_id=gate,
            zone="lot",
            object=obj("person", "red", 1),
            snapshot=str(snap),
        ),
        "e2": Event(
            type="line_crossing",
            at=at(20),
            camera_id=yard,
            zone="door",
            object=obj("car", "blue", 2),
        ),
        "e3": Event(
            type="loitering",
            at=at(30),
            camera_id=gate,
            zone="lot",
            object=obj("person", "black", 3),
        ),
        "e4": Event(type="input.mqtt", at=at(35), attributes={"topic": "x"}),  # no camera
    }

    def track(n: int, cam: int, cls: str, colour: str | None, first: float, last: float,
              zones: list[str], thumbnail: str | None = None) -> TrackEnded:  # fmt: skip
        path = [(0.0, 0.1, 0.5), (last - first, 0.9, 0.5)]
        return TrackEnded(
            camera_id=cam, track_id=n, class_name=cls, colour=colour, first_at=at(first),
            last_at=at(last), path=path, zones=zones, thumbnail=thumbnail, node="rec1",
        )  # fmt: skip

    tracks = {
        "t1": track(1, gate, "person", "red", 5, 15, ["lot"], str(thumb)),
        "t2": track(2, yard, "car", "white", 25, 40, ["door", "lane"]),
        "t3": track(3, gate, "car", "red", 50, 60, []),
        "t4": track(4, gate, "person", None, 70, 80, ['odd "name"'], "../secret.txt"),
        "t5": track(5, gate, "person", None, 90, 95, [], "/etc/passwd"),
    }
    publish(client, *events.values(), *tracks.values())
    portal(client).call(ctx(client).engine.flush)
    wait_until(lambda: search(client, kind="tracks")["total"] == len(tracks), 10, "tracks stored")
    with ctx(client).db.session() as session:
        rows = {n: i for n, i in session.execute(select(TrackRecord.track_id, TrackRecord.id))}
    track_ids = {name: str(rows[t.track_id]) for name, t in tracks.items()}
    return Seeded(gate, yard, {k: e.id for k, e in events.items()}, track_ids, data_dir)


@pytest.fixture
def seeded(settings: Settings) -> Iterator[tuple[TestClient, Seeded]]:
    with TestClient(create_app(settings)) as client:
        authorise(client, settings.db_url)
        yield client, seed(client, settings.data_dir)


def E(s: Seeded, *names: str) -> list[str]:
    return [f"event:{s.events[n]}" for n in names]


def T(s: Seeded, *names: str) -> list[str]:
    return [f"track:{s.tracks[n]}" for n in names]


def test_everything_newest_first_with_names_and_playback(seeded: tuple[TestClient, Seeded]) -> None:
    client, s = seeded
    body = search(client)
    assert body["total"] == 9
    order = ["t5", "t4", "t3", "e4", "e3", "t2", "e2", "e1", "t1"]
    assert ids(body) == [(E(s, n) if n.startswith("e") else T(s, n))[0] for n in order]
    hit = {h["id"]: h for h in body["items"]}
    e1 = hit[s.events["e1"]]
    assert e1["camera_name"] == "Gate" and e1["type"] == "intrusion" and e1["zone"] == "lot"
    assert e1["class_name"] == "person" and e1["colour"] == "red"
    assert e1["snapshot_url"] == e1["thumbnail_url"] == f"/api/events/{s.events['e1']}/snapshot"
    assert e1["playback"] == {"camera_id": s.gate, "start": "2025-03-01T10:00:05Z"}
    t2 = hit[s.tracks["t2"]]
    assert t2["kind"] == "track" and t2["camera_name"] == "Yard" and t2["zones"] == ["door", "lane"]
    assert t2["at"] == "2025-03-01T10:00:25Z" and t2["end"] == "2025-03-01T10:00:40Z"
    assert t2["thumbnail_url"] is None and t2["playback"]["start"] == "2025-03-01T10:00:20Z"
    t1 = hit[s.tracks["t1"]]
    assert t1["thumbnail_url"] == f"/api/tracks/{s.tracks['t1']}/thumbnail"
    assert hit[s.events["e4"]]["playback"] is None and hit[s.events["e4"]]["camera_id"] is None


def test_each_filter(seeded: tuple[TestClient, Seeded]) -> None:
    client, s = seeded
    assert ids(search(client, kind="events")) == E(s, "e4", "e3", "e2", "e1")
    assert ids(search(client, kind="tracks")) == T(s, "t5", "t4", "t3", "t2", "t1")
    assert ids(search(client, camera_id=s.yard)) == [*T(s, "t2"), *E(s, "e2")]
    both = search(client, camera_id=[s.gate, s.yard], kind="events")
    assert ids(both) == E(s, "e3", "e2", "e1")
    assert ids(search(client, type="intrusion")) == E(s, "e1")  # a type leaves tracks out
    assert ids(search(client, type="input.*")) == E(s, "e4")
    assert ids(search(client, class_name="car")) == [*T(s, "t3", "t2"), *E(s, "e2")]
    assert ids(search(client, class_name="car", colour="red")) == T(s, "t3")
    assert ids(search(client, colour=["red", "blue"])) == [
        *T(s, "t3"), *E(s, "e2", "e1"), *T(s, "t1"),
    ]  # fmt: skip
    assert ids(search(client, zone="lot")) == [*E(s, "e3", "e1"), *T(s, "t1")]
    assert ids(search(client, zone="lane")) == T(s, "t2")
    assert ids(search(client, zone="la")) == []  # a zone is a whole name
    assert ids(search(client, zone='odd "name"')) == T(s, "t4")
    # Time: events in [since, until); tracks in view at any time of it.
    window = {"since": at(12).isoformat(), "until": at(26).isoformat()}
    assert ids(search(client, **window)) == [*T(s, "t2"), *E(s, "e2"), *T(s, "t1")]
    naive = {"since": "2025-03-01T10:00:12", "until": "2025-03-01T10:00:26"}  # taken as UTC
    assert ids(search(client, **naive)) == ids(search(client, **window))
    combined = search(client, camera_id=s.gate, class_name="person", colour="red", zone="lot")
    assert ids(combined) == [*E(s, "e1"), *T(s, "t1")]
    assert search(client, camera_id=9999) == {"total": 0, "more": False, "items": []}


def test_pagination(seeded: tuple[TestClient, Seeded]) -> None:
    client, s = seeded
    everything = ids(search(client))
    pages = [search(client, limit=2, offset=o) for o in range(0, 10, 2)]
    assert all(p["total"] == 9 for p in pages)
    assert [i for p in pages for i in ids(p)] == everything
    assert search(client, limit=2, offset=9)["items"] == []
    assert ids(search(client, kind="tracks", limit=1, offset=1)) == T(s, "t4")


def test_broad_filters_are_counted_up_to_a_bound(
    seeded: tuple[TestClient, Seeded], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = seeded
    everything = ids(search(client))
    monkeypatch.setattr(query, "SEARCH_COUNT_MAX", 3)
    first = search(client, limit=2)
    assert (first["total"], first["more"], ids(first)) == (3, True, everything[:2])
    # Paging on counts past the page asked for, until the end is in sight.
    later = search(client, limit=2, offset=6)
    assert (later["total"], later["more"], ids(later)) == (8, True, everything[6:8])
    last = search(client, limit=2, offset=8)
    assert (last["total"], last["more"], ids(last)) == (9, False, everything[8:])


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"colour": "teal"}, "colour", "black, white, grey, red"),
        ({"since": at(10).isoformat(), "until": at(5).isoformat()}, "until", "after since"),
        ({"class_name": "persn"}, "class_name", "known: "),
        ({"kind": "alarms"}, "kind", "events"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"since": "yesterday"}, "since", "datetime"),
        ({"camera_id": "gate"}, "camera_id", "integer"),
    ],
)
def test_bad_filters_are_refused_clearly(
    settings: Settings, params: dict[str, Any], field: str, says: str
) -> None:
    with TestClient(create_app(settings)) as client:
        authorise(client, settings.db_url)
        r = client.get("/api/search", params=params)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert errors[0]["field"].startswith(field) and says in errors[0]["message"]


def test_thumbnails_and_snapshots_are_served_from_the_data_dir_only(
    seeded: tuple[TestClient, Seeded],
) -> None:
    client, s = seeded
    r = client.get(f"/api/tracks/{s.tracks['t1']}/thumbnail")
    assert r.status_code == 200 and r.content == b"\xff\xd8thumbnail"
    hit = next(h for h in search(client)["items"] if h["id"] == s.events["e1"])
    assert client.get(hit["thumbnail_url"]).content == b"\xff\xd8snapshot"
    for name in ("t4", "t5"):  # ../secret.txt and /etc/passwd
        r = client.get(f"/api/tracks/{s.tracks[name]}/thumbnail")
        assert r.status_code == 404 and "outside" not in r.text
    assert client.get(f"/api/tracks/{s.tracks['t2']}/thumbnail").status_code == 404
    assert client.get("/api/tracks/999999/thumbnail").status_code == 404
    assert client.get("/api/tracks/..%2Fsecret.txt/thumbnail").status_code in (404, 422)

"""Registers of vehicles: a CSV import, plate readings looked up in them, and a stolen
vehicle's reading raising a priority-1 alarm through a rule on the hit's attributes; expired
entries and readings of other plates raise nothing; every change is audited."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_alarms import ctx, portal
from tests.api.test_rules import camera
from tests.conftest import wait_until
from vigil.domain.events import Event, ObjectRef
from vigil.domain.registers import parse_entries_csv
from vigil.store.db import Database
from vigil.store.registers import claim_due_syncs, create_register, lookup_plate
from vigil.store.types import utcnow

CSV = """plate,reason,source,owner,valid_until,colour
CA 1234 AB,stolen 2026-11-30,MVR Sofia,Ivan Petrov,,grey
CB5678KK,stolen,MVR Sofia,,2020-01-01,
,,,,,
C 99 X,,,,,
PB0001TT,reported,Police,,not a date,
"""


def test_a_csv_file_s_rows_are_read_and_the_bad_ones_named_by_line() -> None:
    parsed = parse_entries_csv(CSV)
    entries, errors = parsed.entries, parsed.errors
    assert [e.plate for e in entries] == ["CA1234AB", "CB5678KK", "C99X"]
    assert entries[0].owner == "Ivan Petrov" and entries[0].valid_until is None
    assert entries[1].valid_until is not None and not entries[1].active(utcnow())
    assert len(errors) == 1 and errors[0].startswith("line 6: valid_until"), errors
    delta = parse_entries_csv("plate,action\nCA1234AB,delete\nPB1,add\nX1,maybe\n")
    assert ([e.plate for e in delta.entries], delta.removed) == (["PB1"], ["CA1234AB"])
    assert delta.errors == ["line 4: action: 'maybe' is not add or delete"]
    with pytest.raises(ValueError, match="'plate' column"):
        parse_entries_csv("number,reason\nCA1234AB,x\n")


def stolen_register(client: TestClient) -> int:
    r = client.post("/api/registers", json={"name": "Stolen (MVR)", "category": "stolen"})
    assert r.status_code == 201, r.text
    register_id: int = r.json()["id"]
    r = client.post(
        f"/api/registers/{register_id}/import",
        content=CSV.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["updated"], len(r.json()["errors"])) == (3, 0, 1)
    return register_id


def test_registers_lookup_exact_fuzzy_and_expired(client: TestClient, db: Database) -> None:
    register_id = stolen_register(client)
    now = utcnow()
    exact = lookup_plate(db, "ca-1234-ab", now)
    assert [(m.plate, m.score, m.register) for m in exact] == [("CA1234AB", 1.0, "Stolen (MVR)")]
    assert exact[0].owner == "Ivan Petrov" and exact[0].category == "stolen"
    # One OCR confusion away (8 for B) matches a fuzzy register, less surely; two do not.
    assert [m.score for m in lookup_plate(db, "CA1234A8", now)] == [0.9]
    assert lookup_plate(db, "CA12B4A8", now) == []
    assert lookup_plate(db, "CB5678KK", now) == [], "expired in 2020"
    assert lookup_plate(db, "CB5678KK", now.replace(year=2019)) != []

    listed = client.get("/api/registers").json()
    assert [(r["name"], r["entries"], r["active"]) for r in listed] == [("Stolen (MVR)", 3, 2)]
    entries = client.get(f"/api/registers/{register_id}/entries?plate=CB").json()
    assert [(e["plate"], e["active"]) for e in entries] == [("CB5678KK", False)]
    # Sent again, an entry replaces the one of its plate.
    r = client.post(
        f"/api/registers/{register_id}/entries",
        json={"entries": [{"plate": "cb 5678 kk", "reason": "found again", "valid_until": None}]},
    )
    assert (r.json()["added"], r.json()["updated"]) == (0, 1)
    assert lookup_plate(db, "CB5678KK", now)[0].reason == "found again"
    entry_id = entries[0]["id"]
    assert client.delete(f"/api/registers/{register_id}/entries/{entry_id}").status_code == 204
    assert client.delete(f"/api/registers/{register_id}/entries/{entry_id}").status_code == 404
    assert (
        client.post(
            "/api/registers", json={"name": "Stolen (MVR)", "category": "stolen"}
        ).status_code
        == 409
    )
    audit = client.get("/api/audit", params={"limit": 1000}).json()["entries"]
    actions = {a["action"] for a in audit if a["action"].startswith("register.")}
    assert actions == {
        "register.create",
        "register.import",
        "register.entries",
        "register.entry_delete",
    }
    assert all(a["username"] == "admin" for a in audit if a["action"].startswith("register."))


def test_a_stolen_vehicle_s_reading_raises_a_priority_1_alarm(client: TestClient) -> None:
    stolen_register(client)
    cam = camera(client)
    rule = {
        "name": "Stolen vehicle",
        "trigger": {
            "kind": "event",
            "event_types": ["watchlist.hit"],
            "attributes": [{"path": "list.category", "op": "eq", "value": "stolen"}],
        },
        "actions": [{"type": "raise_alarm", "priority": 1}],
    }
    assert client.post("/api/rules", json=rule).status_code == 201
    car = ObjectRef(class_name="car", track_id=4, box=(0.2, 0.3, 0.6, 0.8))

    def reading(plate: str) -> Event:
        return Event(
            type="plate.read",
            at=utcnow(),
            camera_id=cam,
            object=car,
            attributes={"plate": plate, "confidence": 0.93, "plate_crop": "snapshots/x.jpg"},
            snapshot="snapshots/1/x.jpg",
            source="node-a",
        )

    bus = ctx(client).bus
    with client.websocket_connect("/api/events?topics=alarms,events") as ws:
        for plate in ("PB1111AA", "CB5678KK", "CA1234A8"):  # unlisted, expired, stolen (8/B)
            event = reading(plate)
            portal(client).call(bus.publish, event.subject(), event)
        seen: list[dict[str, Any]] = []
        while not any(m["kind"] == "alarm.changed" for m in seen):
            seen.append(json.loads(ws.receive_text()))
    hits = [
        m["payload"]
        for m in seen
        if m["kind"] == "event" and m["payload"]["type"] == "watchlist.hit"
    ]
    assert len(hits) == 1, seen
    hit = hits[0]
    assert hit["attributes"]["plate"] == "CA1234A8" and hit["attributes"]["score"] == 0.9
    assert hit["attributes"]["entry"]["owner"] == "Ivan Petrov"
    assert hit["attributes"]["read"]["plate_crop"] == "snapshots/x.jpg"
    assert hit["snapshot"] == "snapshots/1/x.jpg" and hit["object"]["track_id"] == 4
    alarm = next(m["payload"] for m in seen if m["kind"] == "alarm.changed")
    details = client.get(f"/api/alarms/{alarm['alarm_id']}").json()
    assert details["priority"] == 1 and details["event_id"] == hit["id"]


class RegisterFile:
    """A register's export on a real local HTTP server: ``body`` with ``etag``; answers 304
    to a matching If-None-Match, and ``status`` instead when set."""

    def __init__(self) -> None:
        self.body, self.etag, self.status = b"", '"v0"', 200
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(dict(self.headers))
                if owner.status != 200:
                    self.send_response(owner.status)
                    self.end_headers()
                elif self.headers.get("If-None-Match") == owner.etag:
                    self.send_response(304)
                    self.end_headers()
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/csv")
                    self.send_header("ETag", owner.etag)
                    self.send_header("Content-Length", str(len(owner.body)))
                    self.end_headers()
                    self.wfile.write(owner.body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stolen.csv"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, body: str, etag: str) -> None:
        self.body, self.etag = body.encode(), etag


@pytest.fixture
def register_file() -> Iterator[RegisterFile]:
    served = RegisterFile()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_a_synchronised_register_adds_and_expires_entries(
    client: TestClient, db: Database, register_file: RegisterFile
) -> None:
    register_file.publish("plate,reason\nCA1234AB,stolen\nCB5678KK,stolen\n", '"v1"')
    body = {"name": "National", "category": "stolen", "sync_url": register_file.url}
    register_id = client.post("/api/registers", json=body).json()["id"]

    def sync() -> dict[str, Any]:
        r = client.post(f"/api/registers/{register_id}/sync")
        assert r.status_code == 200, r.text
        return dict(r.json())

    first = sync()
    # (The server's own schedule may have synced the new register a moment before.)
    assert first["added"] == 2 or first["changed"] is False, first
    assert len(lookup_plate(db, "CA1234AB", utcnow())) == 1
    assert sync()["changed"] is False, "the same file (ETag) is not applied again"
    assert register_file.requests[-1]["If-None-Match"] == '"v1"'
    # The next export expires one entry, drops another and lists a new one.
    register_file.publish(
        "plate,reason,valid_until\nCA1234AB,stolen,2020-01-01\nPB1111AA,wanted,\n", '"v2"'
    )
    result = sync()
    assert (result["added"], result["updated"], result["removed"]) == (1, 1, 1)
    assert lookup_plate(db, "CA1234AB", utcnow()) == [], "expired"
    assert lookup_plate(db, "CB5678KK", utcnow()) == [], "no longer listed"
    assert [m.plate for m in lookup_plate(db, "PB1111AA", utcnow())] == ["PB1111AA"]

    register_file.status = 500
    r = client.post(f"/api/registers/{register_id}/sync")
    assert r.status_code == 502 and "answered 500" in r.json()["detail"]
    listed = client.get("/api/registers").json()[0]
    assert "answered 500" in listed["sync_error"] and listed["active"] == 1, "kept as it was"
    audit = client.get("/api/audit", params={"limit": 1000}).json()["entries"]
    syncs = [
        (a["outcome"], a["details"].get("added")) for a in audit if a["action"] == "register.sync"
    ]
    assert sorted(syncs, key=str) == sorted(
        [("success", 2), ("success", 1), ("failure", None)], key=str
    )


def test_a_due_sync_is_claimed_by_one_server(db: Database) -> None:
    register = create_register(
        db, name="National", category="stolen", sync_url="http://127.0.0.1:9/x.csv"
    )
    now = utcnow()
    assert claim_due_syncs(db, now) == [register.id]
    assert claim_due_syncs(db, now) == [], "claimed already"
    assert claim_due_syncs(db, now + timedelta(seconds=3599)) == []
    assert claim_due_syncs(db, now + timedelta(seconds=3600)) == [register.id]


def test_a_vehicle_is_found_by_its_plate_across_cameras(client: TestClient) -> None:
    north, south = camera(client, "North"), camera(client, "South")
    start = utcnow() - timedelta(minutes=10)
    readings = [
        (north, "CA1234AB", 1),
        (south, "CA1234A8", 5),  # read with an 8 for the B
        (south, "CB9999XX", 6),
        (north, "CA1234AB", 9),
    ]
    events = [
        Event(
            type="plate.read",
            at=start + timedelta(minutes=minute),
            camera_id=cam,
            attributes={"plate": plate},
        )
        for cam, plate, minute in readings
    ]
    bus = ctx(client).bus
    for event in events:
        portal(client).call(bus.publish, event.subject(), event)
    portal(client).call(ctx(client).engine.flush)

    def found(**params: Any) -> list[tuple[int, str]]:
        r = client.get("/api/search", params=params)
        assert r.status_code == 200, r.text
        return [(h["camera_id"], h["id"]) for h in r.json()["items"]]

    ids = [e.id for e in events]
    trail = [(north, ids[3]), (south, ids[1]), (north, ids[0])]  # newest first
    assert found(plate="ca-1234-ab") == trail
    assert found(plate="CA12*") == trail
    assert found(plate="C?9999*") == [(south, ids[2])]
    assert found(plate="CA1234AB", camera_id=south) == [(south, ids[1])]
    assert found(plate="PB0000AA") == []
    audit = client.get("/api/audit", params={"action": "search"}).json()["entries"]
    assert any(a["details"].get("plate") == "ca-1234-ab" for a in audit), audit


def test_an_alarm_on_a_listed_vehicle_follows_it_across_cameras(client: TestClient) -> None:
    stolen_register(client)
    north, south = camera(client, "North"), camera(client, "South")
    rule = {
        "name": "Stolen vehicle",
        "trigger": {"kind": "event", "event_types": ["watchlist.hit"]},
        "actions": [{"type": "raise_alarm", "priority": 1}],
    }
    assert client.post("/api/rules", json=rule).status_code == 201
    bus = ctx(client).bus
    start = utcnow() - timedelta(minutes=5)
    # Seen on North, then on South read with an 8 for the B: the same vehicle.
    for minute, (cam, plate) in enumerate([(north, "CA1234AB"), (south, "CA1234A8")]):
        event = Event(
            type="plate.read",
            at=start + timedelta(minutes=minute),
            camera_id=cam,
            attributes={"plate": plate},
        )
        portal(client).call(bus.publish, event.subject(), event)
        seen = minute + 1

        def counted(seen: int = seen) -> bool:
            # The hit comes back through the bus: flush until it has fired.
            portal(client).call(ctx(client).engine.flush)
            items = client.get("/api/alarms").json()["items"]
            return sum(a["occurrences"] for a in items) >= seen

        wait_until(counted, 20, f"sighting {seen} counted")
    alarms = client.get("/api/alarms").json()
    assert alarms["total"] == 1, alarms
    alarm = client.get(f"/api/alarms/{alarms['items'][0]['id']}").json()
    assert alarm["occurrences"] == 2 and alarm["camera_id"] == north
    notes = [n["text"] for n in alarm["notes"]]
    assert any(text.startswith("CA1234AB seen on South") for text in notes), notes

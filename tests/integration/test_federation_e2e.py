"""Two full sites and a centre linked to both, one of the links through a TCP proxy that is
cut and restored: the site keeps working alone, the centre marks it unreachable, then
catches up with every alarm raised meanwhile, each once; working a site's alarm at the
centre works it at the site; a certificate other than the pinned one is refused. And a
site's camera played back, exported and watched live through the centre: decodable video."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from sqlalchemy import select, update
from websockets.sync.client import connect

from tests.conftest import Stack, wait_until
from tests.federation.stacks import TlsStack, centre_stack, site_state, site_token
from tests.federation.tcp_proxy import TcpProxy
from tests.mjpeg_server import jpeg_frames
from vigil.devices.simulator import Simulator
from vigil.evidence.verify import verify_package
from vigil.federation.models import Site
from vigil.security.secrets import SecretBox
from vigil.security.signing import load_signing_key, public_pem
from vigil.store.db import Database
from vigil.store.models import Alarm, EventRecord
from vigil.store.types import utcnow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def sites(tmp_path: Path, clip_dir: Path, h264_clip: Path) -> Iterator[tuple[TlsStack, TlsStack]]:
    a, b = TlsStack(tmp_path / "a", "north"), TlsStack(tmp_path / "b", "south")
    try:
        with Simulator([h264_clip], port=0, cache_dir=clip_dir / "sim-cache") as sim:
            for site in (a, b):
                site.start_server()
                site.start_recorder()
                site.add_camera("gate", sim.url_for("pattern"))
            yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[Stack]:
    stack = centre_stack(tmp_path / "centre")
    stack.start_server()
    yield stack
    stack.stop()


def of_site(centre: Stack, name: str) -> list[dict[str, Any]]:
    """The centre's alarms of site ``name`` (by the list's ``?site=`` filter)."""
    r = centre.client.get("/api/alarms", params={"state": "all", "limit": 1000, "site": name})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    assert {a["site"] for a in items} <= {name}, "the filter keeps only that site's"
    return items


def vigil(centre: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``vigil`` command against the centre, as its administrator."""
    assert centre.token is not None
    env = {**os.environ, "VIGIL_TOKEN": centre.token, "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args, "--server-url", centre.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_centre_catches_up_with_a_site_after_the_link_is_cut(
    sites: tuple[TlsStack, TlsStack], centre: Stack
) -> None:
    north, south = sites
    proxy = TcpProxy(north.port)
    proxy.start()
    try:
        _run(north, south, centre, proxy)
    finally:
        proxy.stop()


def _run(north: TlsStack, south: TlsStack, centre: Stack, proxy: TcpProxy) -> None:
    logs = lambda: centre.logs() + north.logs()  # noqa: E731
    north_url = f"https://127.0.0.1:{proxy.port}"
    body = {"name": "north", "url": north_url, "token": site_token(north)}

    # Trust on first use is explicit: the certificate is shown, nothing is stored.
    token_file = north.data_dir.parent / "north.token"
    token_file.write_text(body["token"])
    shown = vigil(centre, "sites", "add", "north", north_url, "--token-file", str(token_file))
    assert shown.returncode == 3, shown.stdout + shown.stderr
    assert f"--fingerprint {north.fingerprint}" in shown.stdout
    r = centre.client.post("/api/sites", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["detail"]["fingerprint"] == north.fingerprint
    # A fingerprint other than the one the site presents is refused.
    r = centre.client.post("/api/sites", json={**body, "fingerprint": south.fingerprint})
    assert r.status_code == 422, r.text
    assert centre.client.get("/api/sites").json() == []
    r = centre.client.post("/api/sites", json={**body, "fingerprint": north.fingerprint})
    assert r.status_code == 201, r.text
    south_body = {"name": "south", "url": south.url, "token": site_token(south)}
    r = centre.client.post("/api/sites", json={**south_body, "fingerprint": south.fingerprint})
    assert r.status_code == 201, r.text

    north.door_rules(4)
    south.door_rules(1)
    north_camera = north.client.get("/api/cameras").json()[0]
    north.raise_door(0, camera_id=north_camera["id"])
    south.raise_door(0)
    wait_until(lambda: len(of_site(centre, "north")) == 1, 60, "north's alarm at the centre", logs)
    wait_until(lambda: len(of_site(centre, "south")) == 1, 60, "south's alarm at the centre", logs)
    first = of_site(centre, "north")[0]
    assert first["title"] == "door 0 forced"
    # The alarm's camera is the centre's mirror of north's camera, marked with its site.
    mirrored = centre.client.get(f"/api/cameras/{first['camera_id']}").json()
    assert (mirrored["site"], mirrored["uid"]) == ("north", north_camera["uid"])
    assert mirrored["name"] == "north/gate"

    # The link is cut: north keeps working alone, the centre sees it unreachable.
    proxy.stop()
    for n in (1, 2, 3):
        north.raise_door(n)
    wait_until(lambda: len(north.alarms()) == 4, 30, "north raising alarms alone", logs)
    # Door 2's alarm and its event get a snapshot at north, as analytics attach one.
    picture = jpeg_frames(seconds=0.1, fps=10)[0]
    (north.data_dir / "snapshots").mkdir(exist_ok=True)
    (north.data_dir / "snapshots" / "door-2.jpg").write_bytes(picture)
    north_db = Database(north.db_url)
    try:
        with north_db.session() as s:
            door_2 = s.scalars(select(Alarm).where(Alarm.title == "door 2 forced")).one()
            door_2.snapshot = "snapshots/door-2.jpg"
            s.execute(
                update(EventRecord)
                .where(EventRecord.id == door_2.event_id)
                .values(snapshot="snapshots/door-2.jpg")
            )
    finally:
        north_db.dispose()
    wait_until(
        lambda: site_state(centre, "north")["state"] == "unreachable",
        60,
        "the centre marking north unreachable",
        logs,
    )
    assert site_state(centre, "north")["last_error"]
    assert len(of_site(centre, "north")) == 1, "nothing can have come through a cut link"
    assert site_state(centre, "south")["state"] == "online"

    # Restored: the centre catches up, every alarm of north once.
    proxy.start()
    wait_until(lambda: len(of_site(centre, "north")) >= 4, 90, "the centre catching up", logs)
    wait_until(lambda: site_state(centre, "north")["state"] == "online", 30, "north online")
    at_centre = of_site(centre, "north")
    assert sorted(a["uid"] for a in at_centre) == sorted(a["uid"] for a in north.alarms())
    assert len({a["uid"] for a in at_centre}) == len(at_centre) == 4
    events = centre.client.get("/api/events", params={"type": "input.webhook"}).json()
    north_events = [e["id"] for e in events if e["site"] == "north"]
    assert len(north_events) == len(set(north_events)) == 4

    # Acknowledged at the centre is acknowledged at north, and the centre's copy says so.
    target = next(a for a in at_centre if a["title"] == "door 2 forced")
    r = centre.client.post(f"/api/alarms/{target['id']}/transition", json={"state": "acknowledged"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged"
    at_north = {a["uid"]: a for a in north.alarms()}
    assert at_north[target["uid"]]["state"] == "acknowledged"
    assert [a["state"] for a in at_north.values()].count("acknowledged") == 1

    # Its history is north's: a comment made at the centre is in it, as is north's own.
    r = centre.client.post(f"/api/alarms/{target['id']}/comments", json={"text": "units sent"})
    assert r.status_code == 200, r.text
    north_id = at_north[target["uid"]]["id"]
    r = north.client.post(f"/api/alarms/{north_id}/comments", json={"text": "door shut"})
    assert r.status_code == 200, r.text
    detail = centre.client.get(f"/api/alarms/{target['id']}").json()
    assert {"units sent", "door shut"} <= {n["text"] for n in detail["notes"]}, detail["notes"]
    assert detail["event"]["site"] == "north" and detail["event"]["type"] == "input.webhook"
    # Its snapshot, kept at north, through the centre.
    assert target["snapshot_url"] == f"/api/alarms/{target['id']}/snapshot"
    r = centre.client.get(target["snapshot_url"])
    assert r.status_code == 200, r.text
    assert r.content == picture and r.headers["content-type"] == "image/jpeg"
    assert all(a["snapshot_url"] is None for a in at_centre if a["id"] != target["id"])
    # And its event's, the one the event feed and search show.
    event = next(e for e in events if e["id"] == detail["event"]["id"])
    assert event["snapshot_url"] == f"/api/events/{event['id']}/snapshot"
    r = centre.client.get(event["snapshot_url"])
    assert r.status_code == 200, r.text
    assert r.content == picture
    assert sum(e["snapshot_url"] is not None for e in events if e["site"] == "north") == 1

    # Recordings of north's camera through the centre.
    r = centre.client.get(f"/api/federation/cameras/{first['camera_id']}/timeline")
    assert r.status_code == 200, r.text
    assert r.json()["camera_id"] == north_camera["id"]

    # A site showing a certificate other than the pinned one is refused, saying so.
    db = Database(centre.db_url)
    secrets = SecretBox.for_data_dir(centre.data_dir)
    try:
        with db.session() as s:
            s.add(
                Site(
                    name="impostor",
                    url=south.url,  # south's server, but north's certificate pinned
                    token_encrypted=secrets.encrypt(south_body["token"]),
                    fingerprint=north.fingerprint,
                    certificate=north.certificate,
                    state="new",
                    created_at=utcnow(),
                )
            )
    finally:
        db.dispose()
    wait_until(
        lambda: site_state(centre, "impostor")["state"] == "refused", 60, "the impostor refused"
    )
    error = site_state(centre, "impostor")["last_error"]
    assert f"certificate of site impostor changed: expected {north.fingerprint}" in error
    assert f"got {south.fingerprint}" in error
    assert not of_site(centre, "impostor")
    listed = vigil(centre, "sites", "list")
    assert listed.returncode == 0, listed.stderr
    assert "impostor" in listed.stdout and "refused" in listed.stdout
    removed = vigil(centre, "sites", "remove", "impostor")
    assert removed.returncode == 0, removed.stderr
    assert [s["name"] for s in centre.client.get("/api/sites").json()] == ["north", "south"]


# ----- a site's footage through the centre ---------------------------------------------------

RECORDED_S = 6.0  # footage the site must have before it is asked for


@pytest.fixture
def north(tmp_path: Path, clip_dir: Path, h264_clip: Path) -> Iterator[TlsStack]:
    """One site recording one camera: three processes with the centre, not five."""
    site = TlsStack(tmp_path / "north", "north")
    try:
        with Simulator([h264_clip], port=0, cache_dir=clip_dir / "sim-cache") as sim:
            site.start_server()
            site.start_recorder()
            site.add_camera("gate", sim.url_for("pattern"))
            yield site
    finally:
        site.stop()


def recorded(timeline: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    return [
        (datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]))
        for r in timeline["ranges"]
    ]


def decoded(data: bytes, path: Path) -> tuple[str, int]:
    """The codec and the number of frames of an MP4 (every frame decoded: it must be sound),
    checked against ffprobe's count."""
    path.write_bytes(data)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        codec = stream.codec_context.name
        frames = sum(1 for _ in c.decode(stream))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert int(probe.stdout.strip()) == frames, f"{path.name}: ffprobe and PyAV disagree"
    return codec, frames


def live_through(centre: Stack, camera_id: int, fragments: int) -> bytes:
    """The init segment and ``fragments`` frames of the site camera's live view, from the
    centre's relay (a new init starts the stream again)."""
    url = f"{centre.url.replace('http', 'ws', 1)}/api/federation/cameras/{camera_id}/live"
    media: list[bytes] = []
    with connect(url, open_timeout=30, additional_headers=centre.auth_headers) as ws:
        while len(media) < fragments + 1:
            message = ws.recv(timeout=60)
            if isinstance(message, str):
                kind = json.loads(message)
                assert kind["type"] != "error", kind
                if kind["type"] == "init":
                    media = []
            else:
                media.append(message)
    return b"".join(media)


def test_a_sites_camera_plays_exports_and_goes_live_through_the_centre(
    north: TlsStack, centre: Stack, tmp_path: Path
) -> None:
    logs = lambda: centre.logs() + north.logs()  # noqa: E731
    body = {"name": "north", "url": north.url, "token": site_token(north)}
    r = centre.client.post("/api/sites", json={**body, "fingerprint": north.fingerprint})
    assert r.status_code == 201, r.text
    at_north = north.client.get("/api/cameras").json()[0]

    def mirrored() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = centre.client.get("/api/cameras?site=north").json()
        return listed

    wait_until(lambda: len(mirrored()) == 1, 60, "north's camera at the centre", logs)
    camera = mirrored()[0]
    assert (camera["site"], camera["uid"]) == ("north", at_north["uid"])
    assert centre.client.get("/api/cameras?site=centre").json() == [], "the centre has none"
    relay = f"/api/federation/cameras/{camera['id']}"

    def timeline() -> dict[str, Any]:
        r = centre.client.get(f"{relay}/timeline")
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    def enough() -> bool:
        return any((e - s).total_seconds() >= RECORDED_S for s, e in recorded(timeline()))

    wait_until(enough, 120, f"{RECORDED_S} s recorded at north", logs)
    start, end = next((s, e) for s, e in recorded(timeline()) if (e - s).total_seconds() >= 6)
    end = min(end, start + timedelta(seconds=RECORDED_S))

    play = centre.client.get(f"{relay}/playback.mp4", params={"start": start.isoformat()})
    assert play.status_code == 200, play.text
    assert play.headers["content-type"] == "video/mp4"
    assert abs(datetime.fromisoformat(play.headers["X-Vigil-Start"]) - start) < timedelta(seconds=2)
    codec, frames = decoded(play.content, tmp_path / "played.mp4")
    assert codec == "h264" and frames >= 25 * (RECORDED_S - 1), (codec, frames)

    span = {"start": start.isoformat(), "end": end.isoformat()}
    export = centre.client.get(f"{relay}/export", params=span, timeout=120)
    assert export.status_code == 200, export.text
    assert "attachment" in export.headers.get("content-disposition", "")
    codec, frames = decoded(export.content, tmp_path / "exported.mp4")
    assert codec == "h264" and 25 * (RECORDED_S - 2) <= frames <= 25 * (RECORDED_S + 2), frames

    # A signed evidence package, built and signed by north, which holds the footage.
    wanted = {**span, "reason": "case 1", "requested_by": "centre investigator"}
    package = centre.client.post(f"{relay}/evidence-export", json=wanted, timeout=120)
    assert package.status_code == 200, package.text
    (tmp_path / "evidence.zip").write_bytes(package.content)
    north_key = public_pem(load_signing_key(north.data_dir).public_key())
    verdict = verify_package(tmp_path / "evidence.zip", trusted_key_pem=north_key)
    assert verdict.ok and verdict.signed_by_trusted_key, verdict.problems

    codec, frames = decoded(live_through(centre, camera["id"], 30), tmp_path / "live.mp4")
    assert codec == "h264" and frames >= 30, (codec, frames)
    still = centre.client.get(f"{relay}/snapshot.jpg")
    assert still.status_code == 200, still.text
    assert still.headers["content-type"] == "image/jpeg" and still.content[:2] == b"\xff\xd8"

    # The centre's audit trail names the site whose footage was taken out.
    r = centre.client.get("/api/audit", params={"action": "camera.export"})
    assert r.status_code == 200, r.text
    assert any(e.get("details", {}).get("site") == "north" for e in r.json()["entries"]), r.json()

"""Two full sites and a centre linked to both, one of the links through a TCP proxy that is
cut and restored: the site keeps working alone, the centre marks it unreachable, then
catches up with every alarm raised meanwhile, each once; working a site's alarm at the
centre works it at the site; a certificate other than the pinned one is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Stack, authorise, wait_until
from tests.federation.tcp_proxy import TcpProxy
from vigil.devices.simulator import Simulator
from vigil.federation.models import Site
from vigil.security.secrets import SecretBox
from vigil.security.tls import CERT_FILE, TLS_DIR, fingerprint
from vigil.store.db import Database
from vigil.store.types import utcnow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


STARTUP_S = 120  # five processes on a small, busy machine


class PatientStack(Stack):
    """A stack that waits longer for its processes to come up."""

    def start_server(self) -> None:
        self.server = self._spawn("server")
        wait_until(lambda: self._ok(f"{self.url}/api/health"), STARTUP_S, "server up", self.logs)
        if self.token is None:
            self.token = authorise(self.client, self.db_url)

    def start_recorder(self) -> None:
        self.recorder = self._spawn("recorder")
        media = f"http://127.0.0.1:{self.recorder_port}/media/health"
        wait_until(lambda: self._ok(media), STARTUP_S, "recorder up", self.logs)


class TlsStack(PatientStack):
    """A site: server (HTTPS, generated certificate) and recorder."""

    def __init__(self, data_dir: Path, site: str) -> None:
        data_dir.mkdir(parents=True)
        super().__init__(
            data_dir,
            f"sqlite:///{data_dir / 'vigil.db'}",
            env={"VIGIL_SERVER__TLS": "on", "VIGIL_SITE": site},
        )
        self.url = self.url.replace("http://", "https://")
        self.client.close()
        self.client = httpx.Client(base_url=self.url, timeout=20, verify=False)  # test's view

    def _ok(self, url: str) -> bool:
        try:
            return httpx.get(url, timeout=1, verify=False).is_success
        except httpx.HTTPError:
            return False

    @property
    def certificate(self) -> str:
        return (self.data_dir / TLS_DIR / CERT_FILE).read_text()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate.encode())

    def door_rules(self, count: int) -> None:
        """Rules raising one alarm per webhook ``door-N`` (one rule each: a rule's open
        alarm would count a repeat instead of raising another)."""
        for n in range(count):
            rule = {
                "name": f"door {n}",
                "trigger": {"kind": "input", "source": "webhook", "name": f"door-{n}"},
                "actions": [{"type": "raise_alarm", "priority": 2, "title": f"door {n} forced"}],
            }
            r = self.client.post("/api/rules", json=rule)
            assert r.status_code == 201, r.text

    def raise_door(self, n: int, camera_id: int | None = None) -> None:
        params = {"camera_id": camera_id} if camera_id is not None else {}
        r = self.client.post(f"/api/inputs/webhook/door-{n}", json={"n": n}, params=params)
        assert r.status_code == 202, r.text

    def alarms(self) -> list[dict[str, Any]]:
        r = self.client.get("/api/alarms", params={"state": "all", "limit": 1000})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


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
    data = tmp_path / "centre"
    data.mkdir()
    stack = PatientStack(
        data,
        f"sqlite:///{data / 'vigil.db'}",
        env={"VIGIL_SITE": "centre", "VIGIL_FEDERATION__POLL_S": "0.5"},
    )
    stack.start_server()
    yield stack
    stack.stop()


def site_token(site: Stack) -> str:
    """A token the site's administrator issues for the centre."""
    r = site.client.post("/api/tokens", json={"name": "centre link"})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def of_site(centre: Stack, name: str) -> list[dict[str, Any]]:
    r = centre.client.get("/api/alarms", params={"state": "all", "limit": 1000})
    assert r.status_code == 200, r.text
    return [a for a in r.json()["items"] if a["site"] == name]


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


def site_state(centre: Stack, name: str) -> dict[str, Any]:
    found = [s for s in centre.client.get("/api/sites").json() if s["name"] == name]
    assert found, f"site {name} not registered"
    return found[0]


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

"""``vigil demo``: its cameras, rules and analytics, events and alarms in its first minute,
and a clean stop on Ctrl-C and SIGTERM.

On generated clips (no ../shared/media) the street camera's motion detector must produce
events and an alarm; with the shared clips and the detector models installed (set-up does
it), the NanoDet cameras must. The stop must leave no open segment, no traceback and no
"stream broke off".
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import free_port, require_service, wait_until
from tests.test_shutdown import STOP_TIMEOUT_S, assert_stopped_cleanly
from vigil import demo_map
from vigil.analytics.config import CameraAnalyticsConfig as Analytics
from vigil.analytics.models_install import missing_models
from vigil.config import Settings
from vigil.demo import (
    DEMO_ANALYTICS,
    DEMO_DETECTOR,
    DEMO_RULES,
    MOVING_PATTERN,
    READY_TIMEOUT_S,
    configure_analytics,
    find_demo_media,
    seed_map,
    seed_rules,
)
from vigil.security.sessions import SESSION_COOKIE

REPO = Path(__file__).resolve().parents[1]
# The demo's clips loop every 10-140 s and bring events within a few seconds of starting;
# this leaves room for a slow machine.
FIRST_EVENTS_S = 90
PERSON_CAMERA = "one-by-one-person-detection"


# ----- analytics and rules, through the API (in process) ----------------------------------


def test_each_demo_camera_gets_its_analytics_and_rules(client: TestClient) -> None:
    for name in [*DEMO_ANALYTICS, "square"]:
        body = {"name": name, "main_url": f"rtsp://127.0.0.1:9/{name}"}
        assert client.post("/api/cameras", json=body).status_code == 201
    seed_rules(client)
    configure_analytics(client)
    for camera in client.get("/api/cameras").json():
        saved = client.get(f"/api/cameras/{camera['id']}/analytics").json()
        wanted = DEMO_ANALYTICS.get(camera["name"], {})  # the others keep the defaults (off)
        assert Analytics.model_validate(saved) == Analytics.model_validate(wanted), camera
    assert [r["name"] for r in client.get("/api/rules").json()] == [r["name"] for r in DEMO_RULES]
    seed_rules(client)
    assert len(client.get("/api/rules").json()) == len(DEMO_RULES), "seeded once"


def test_the_demo_map_places_each_camera_on_its_plan_once(client: TestClient) -> None:
    for name in [*DEMO_ANALYTICS, "square"]:
        body = {"name": name, "main_url": f"rtsp://127.0.0.1:9/{name}"}
        assert client.post("/api/cameras", json=body).status_code == 201
    seed_map(client)
    (plan,) = client.get("/api/map").json()["plans"]
    assert (
        plan["name"] == demo_map.PLAN_NAME and (plan["width"], plan["height"]) == demo_map.PLAN_SIZE
    )
    assert client.get(f"/api/plans/{plan['id']}/image").headers["content-type"] == "image/png"
    spots = {
        (c["position"]["x"], c["position"]["y"])
        for c in client.get("/api/cameras").json()
        if c["position"] and c["position"]["plan_id"] == plan["id"]
    }
    assert len(spots) == len(DEMO_ANALYTICS) + 1, "every camera, each in its own place"
    seed_map(client)
    assert len(client.get("/api/map").json()["plans"]) == 1, "seeded once"


def test_analytics_a_user_changed_stay_as_they_are(client: TestClient) -> None:
    body = {"name": PERSON_CAMERA, "main_url": "rtsp://127.0.0.1:9/person"}
    camera = client.post("/api/cameras", json=body).json()
    path = f"/api/cameras/{camera['id']}/analytics"
    mine = {"enabled": False, "fps": 2, "detector": {"type": "motion"}}
    assert client.put(path, json=mine).status_code == 200
    configure_analytics(client)
    assert Analytics.model_validate(client.get(path).json()) == Analytics.model_validate(mine)


# ----- the demo, as a user runs it ---------------------------------------------------------


@dataclass
class Demo:
    """A running ``vigil demo`` (its own session, as in a terminal), signed in."""

    proc: subprocess.Popen[bytes]
    data_dir: Path
    log: Path
    api: httpx.Client

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signed_in(self) -> bool:
        credentials = self.data_dir / "demo-admin.txt"
        if not credentials.exists():
            return False
        name, password = credentials.read_text().split()[:2]
        try:
            # Checking a password takes seconds on a busy machine (argon2 is slow by design).
            r = self.api.post(
                "/api/auth/login", json={"username": name, "password": password}, timeout=30
            )
        except httpx.HTTPError:
            return False
        # The session cookie is Secure; a browser keeps it for http://127.0.0.1, httpx not.
        self.api.headers["Cookie"] = f"{SESSION_COOKIE}={r.cookies.get(SESSION_COOKIE, '')}"
        return r.is_success

    def get(self, path: str, **params: Any) -> Any:
        try:
            return self.api.get(path, params=params, timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return None

    def cameras(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.get("/api/cameras") or []}

    def event_types(self, camera: str) -> set[str]:
        found = self.get("/api/events", camera_id=self.cameras()[camera]["id"], limit=500)
        return {e["type"] for e in found or []}

    def alarms(self) -> list[dict[str, Any]]:
        page = self.get("/api/alarms", state="all") or {}
        return list(page.get("items", []))


@contextlib.contextmanager
def running_demo(tmp_path: Path, env: dict[str, str]) -> Iterator[Demo]:
    """Start ``vigil demo`` on free ports in its own session (so that a Ctrl-C can be sent to
    its process group as a terminal would) and sign in; on the way out, stop it if the test
    did not."""
    port, rtsp_port = free_port(), free_port()
    while rtsp_port in (port, port + 1):  # the demo's recorder listens on port + 1
        rtsp_port = free_port()
    data_dir, log = tmp_path / "data", tmp_path / "demo.log"
    command = [sys.executable, "-m", "vigil", "demo", "--port", str(port)]
    command += ["--rtsp-port", str(rtsp_port), "--data-dir", str(data_dir)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            env={**os.environ, "COLUMNS": "200", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
    demo = Demo(proc, data_dir, log, api)
    try:
        wait_until(demo.signed_in, 120, "signing in as the demo's administrator", demo.output)
        running = f"Vigil demo is running: http://127.0.0.1:{port}/"
        # The demo waits for its roles as long as they start (READY_TIMEOUT_S): so does this.
        welcome = READY_TIMEOUT_S
        wait_until(
            lambda: running in demo.output(), welcome, "the demo's welcome line", demo.output
        )
        yield demo
    finally:
        api.close()
        if proc.poll() is None:  # the test failed before stopping it
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S * 2)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def stop_demo(demo: Demo, *, ctrl_c: bool) -> None:
    """Stop the demo as a user does: Ctrl-C (SIGINT to its terminal's process group) or
    SIGTERM to the demo alone; it must exit 0 having stopped cleanly."""
    if ctrl_c:
        os.killpg(demo.proc.pid, signal.SIGINT)
    else:
        demo.proc.terminate()
    code = demo.proc.wait(STOP_TIMEOUT_S * 2)
    assert code == 0, demo.output()
    assert "demo stopped" in demo.output()
    assert_stopped_cleanly(demo.output(), f"sqlite:///{demo.data_dir / 'vigil.db'}")


@pytest.mark.slow
def test_demo_on_generated_clips_shows_events_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    empty_media = tmp_path / "no-media"
    empty_media.mkdir()
    with running_demo(tmp_path, {"VIGIL_DEMO_MEDIA": str(empty_media)}) as demo:
        credentials = demo.data_dir / "demo-admin.txt"
        name, password = credentials.read_text().split()[:2]
        assert f"sign in as {name} with password {password}" in demo.output()
        assert credentials.stat().st_mode & 0o077 == 0, "only its owner may read the password"
        assert httpx.get(f"{demo.api.base_url}/").status_code == 200
        assert httpx.get(f"{demo.api.base_url}/api/cameras").status_code == 401, "signed in only"
        assert sorted(demo.cameras()) == ["park", "square", "station", "street"]
        wait_until(
            lambda: all(c["health"]["status"] == "online" for c in demo.cameras().values()),
            120,
            "four demo cameras online",
            demo.output,
        )
        assert {r["name"] for r in demo.get("/api/rules")} == {r["name"] for r in DEMO_RULES}
        # The street's walker, followed by the motion detector: a crossing, a zone entry,
        # and the "Restricted area" alarm.
        wait_until(
            lambda: {"line_crossing", "intrusion"} <= demo.event_types(MOVING_PATTERN),
            FIRST_EVENTS_S,
            "the street camera's analytics events",
            demo.output,
        )
        wait_until(lambda: bool(demo.alarms()), 30, "an alarm", demo.output)
        assert {a["camera_id"] for a in demo.alarms()} == {demo.cameras()[MOVING_PATTERN]["id"]}
        stop_demo(demo, ctrl_c=True)


def installed_models_dir() -> Path:
    """Where scripts/setup.sh installed the models: the settings' models dir, as seen from
    the repository root (where the script runs)."""
    with contextlib.chdir(REPO):
        return Settings().models_dir


@pytest.mark.slow
def test_demo_with_models_shows_detector_events_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    if not find_demo_media():
        pytest.skip("needs the demo's clips in ../shared/media (or VIGIL_DEMO_MEDIA)")
    models = installed_models_dir()
    if reason := missing_models(models, [DEMO_DETECTOR]).get(DEMO_DETECTOR):
        # Under CI=true, set-up has installed them: their absence is a failure.
        require_service(f"the {DEMO_DETECTOR} model (scripts/setup.sh installs it)", reason)
    with running_demo(tmp_path, {"VIGIL_ANALYTICS__MODELS_DIR": str(models)}) as demo:
        person = demo.cameras()[PERSON_CAMERA]["id"]
        # People walk in: NanoDet finds them, they are counted at the entrance and reported
        # at the table, which raises the "Restricted area" alarm.
        wait_until(
            lambda: {"line_crossing", "intrusion"} <= demo.event_types(PERSON_CAMERA),
            FIRST_EVENTS_S,
            "NanoDet's events on the person camera",
            demo.output,
        )
        wait_until(
            lambda: person in {a["camera_id"] for a in demo.alarms()}, 30, "an alarm", demo.output
        )
        statuses = {s["camera_id"]: s for s in demo.get("/api/analytics/status")}
        analysed = [c["id"] for n, c in demo.cameras().items() if n in DEMO_ANALYTICS]
        assert all(statuses[c]["state"] == "running" for c in analysed), statuses
        stop_demo(demo, ctrl_c=False)

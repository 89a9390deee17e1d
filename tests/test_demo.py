"""``vigil demo`` on a machine without ../shared/media: generated clips, cameras online."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_until
from vigil.security.sessions import SESSION_COOKIE

pytestmark = pytest.mark.slow


def test_demo_starts_everything_and_stops_cleanly(tmp_path: Path) -> None:
    port, rtsp_port = free_port(), free_port()
    while rtsp_port in (port, port + 1):  # the demo's recorder listens on port + 1
        rtsp_port = free_port()
    empty_media = tmp_path / "no-media"
    empty_media.mkdir()
    log = (tmp_path / "demo.log").open("w+")
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil",
            "demo",
            "--port",
            str(port),
            "--rtsp-port",
            str(rtsp_port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env={**os.environ, "VIGIL_DEMO_MEDIA": str(empty_media), "COLUMNS": "200"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    base = f"http://127.0.0.1:{port}"
    session = httpx.Client(base_url=base, timeout=5)
    credentials = tmp_path / "data" / "demo-admin.txt"

    def signed_in() -> bool:
        if not credentials.exists():
            return False
        name, password = credentials.read_text().split()[:2]
        try:
            login = {"username": name, "password": password}
            r = session.post("/api/auth/login", json=login)
        except httpx.HTTPError:
            return False
        # The session cookie is Secure; a browser keeps it for http://127.0.0.1, httpx not.
        session.headers["Cookie"] = f"{SESSION_COOKIE}={r.cookies.get(SESSION_COOKIE, '')}"
        return r.is_success

    def cameras() -> list[dict[str, object]]:
        try:
            result: list[dict[str, object]] = session.get("/api/cameras", timeout=2).json()
            return result
        except (httpx.HTTPError, ValueError):
            return []

    def output() -> str:
        return (tmp_path / "demo.log").read_text()

    try:
        wait_until(signed_in, 60, "signing in as the demo's administrator", output)
        name, password = credentials.read_text().split()[:2]
        assert f"sign in as {name} with password {password}" in output()
        assert credentials.stat().st_mode & 0o077 == 0, "only its owner may read the password"
        wait_until(
            lambda: (
                len(cameras()) == 4 and all(c["health"]["status"] == "online" for c in cameras())
            ),  # type: ignore[index]
            120,
            "four demo cameras online",
            output,
        )
        running = f"Vigil demo is running: http://127.0.0.1:{port}/"
        wait_until(lambda: running in output(), 30, "the demo's welcome line", output)
        assert httpx.get(f"{base}/").status_code == 200
        assert httpx.get(f"{base}/api/cameras").status_code == 401, "nothing without signing in"
        assert sorted(c["name"] for c in cameras()) == ["park", "square", "station", "street"]  # type: ignore[type-var]
        rules = session.get("/api/rules").json()
        assert {r["name"] for r in rules} == {"Camera offline", "Panic button", "Restricted area"}
    finally:
        session.close()
        demo.send_signal(signal.SIGINT)
        code = demo.wait(60)
    assert code == 0, output()
    assert (tmp_path / "data" / "vigil.db").exists()

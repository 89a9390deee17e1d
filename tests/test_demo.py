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

    def cameras() -> list[dict[str, object]]:
        try:
            result: list[dict[str, object]] = httpx.get(
                f"http://127.0.0.1:{port}/api/cameras", timeout=2
            ).json()
            return result
        except httpx.HTTPError:
            return []

    def output() -> str:
        return (tmp_path / "demo.log").read_text()

    try:
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
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        assert sorted(c["name"] for c in cameras()) == ["park", "square", "station", "street"]  # type: ignore[type-var]
        rules = httpx.get(f"http://127.0.0.1:{port}/api/rules").json()
        assert {r["name"] for r in rules} == {"Camera offline", "Panic button", "Restricted area"}
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(60)
    assert code == 0, output()
    assert (tmp_path / "data" / "vigil.db").exists()

"""A camera that stops handing out frames while its ingest still reads online is announced
offline ("no frames for N s") as a status change, once, and online again once frames
return (``CameraIngest.check_frames``, which the recorder calls each health round and whose
announcements it publishes like every other status change, so that the rules engine stores
them as camera events and rules can act on them)."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import Stack, wait_until
from tests.mjpeg_server import mjpeg_camera
from vigil.domain.cameras import CameraStatus
from vigil.media.ingest import CameraIngest
from vigil.media.packets import StreamInfo

NO_FRAMES = re.compile(r"no frames for \d+ s")


class Hanging:
    """A sink whose writes block while ``hang`` is set (a disk or a database that hangs the
    ingest's thread where no read timeout reaches), until ``release``."""

    def __init__(self) -> None:
        self.hang, self.release = threading.Event(), threading.Event()

    def open(self, info: StreamInfo) -> None:
        pass

    def write(self, packet: av.Packet[Any], wall: datetime) -> None:
        if self.hang.is_set():
            self.release.wait()

    def close(self, reason: str | None) -> None:
        pass


def test_an_ingest_announces_frames_stopping_and_returning_once_each() -> None:
    seen: list[tuple[CameraStatus, str | None]] = []
    sink = Hanging()

    def announced(status: CameraStatus) -> bool:
        ingest.check_frames()
        return seen[-1][0] == status

    with mjpeg_camera() as url:
        ingest = CameraIngest(1, url, [sink], on_status=lambda s, e: seen.append((s, e)))
        ingest.start()
        try:
            wait_until(lambda: seen == [(CameraStatus.ONLINE, None)], 30, "online")
            ingest.check_frames()
            assert len(seen) == 1, "frames come: nothing to announce"
            sink.hang.set()
            wait_until(lambda: announced(CameraStatus.OFFLINE), 30, "announced offline")
            assert NO_FRAMES.fullmatch(seen[-1][1] or ""), f"says why: {seen[-1]}"
            ingest.check_frames()
            ingest.check_frames()
            assert len(seen) == 2, f"announced once while it lasts: {seen}"
            sink.hang.clear()
            sink.release.set()
            wait_until(lambda: announced(CameraStatus.ONLINE), 30, "announced online again")
            assert seen[-1] == (CameraStatus.ONLINE, None)
            ingest.check_frames()
            assert len(seen) == 3, f"and that once: {seen}"
        finally:
            sink.release.set()
            ingest.stop()


def test_a_vanished_camera_is_announced_offline_once_whatever_each_retry_says() -> None:
    seen: list[tuple[CameraStatus, str | None]] = []
    errors: set[str] = set()
    with mjpeg_camera() as url:
        ingest = CameraIngest(
            1, url, [], on_status=lambda s, e: seen.append((s, e)),
            reconnect_min_s=0.2, reconnect_max_s=0.2,
        )  # fmt: skip
        ingest.start()
        wait_until(lambda: seen == [(CameraStatus.ONLINE, None)], 30, "online")
    # The camera has gone: its stream ends, then each retry is refused.
    try:

        def failed_differently() -> bool:
            if ingest.stats.error:
                errors.add(ingest.stats.error)
            return len(errors) >= 2

        wait_until(failed_differently, 30, "retries failing with another error")
        ingest.check_frames()
        offline = [s for s, _ in seen if s == CameraStatus.OFFLINE]
        assert seen[0] == (CameraStatus.ONLINE, None) and len(offline) == 1, (seen, errors)
        assert len(seen) == 2, f"one change, one announcement (rules fire on it): {seen}"
    finally:
        ingest.stop()


# Through a running recorder and server ------------------------------------------------------
@contextmanager
def video_stops_camera(path: Path, seconds: float = 20) -> Iterator[str]:
    """A camera over HTTP (MPEG-TS) whose video stops after 3 s while its sound goes on, as
    an encoder that hangs: no read timeout fires, as data keeps coming. Each connection
    gets the stream from its start, spread over ``seconds``; yields its URL."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=3",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=40",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-b:v", "100k",
         "-c:a", "aac", "-b:a", "64k", "-f", "mpegts", str(path)],
        check=True,
    )  # fmt: skip
    data = path.read_bytes()
    step = len(data) // int(seconds * 10) // 188 * 188  # whole TS packets, ten times a second
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            try:
                for start in range(0, len(data), step):
                    if stopping.is_set():
                        return
                    self.wfile.write(data[start : start + step])
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/camera.ts"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()


def status_events(stack: Stack, camera_id: int) -> list[dict[str, Any]]:
    """The camera's status events the server stored, oldest first."""
    r = stack.client.get("/api/events", params={"camera_id": camera_id, "type": "camera.*"})
    assert r.status_code == 200, r.text
    listed: list[dict[str, Any]] = r.json()
    return listed[::-1]


@pytest.mark.timeout(600)  # processes that start slowly on a busy machine: a hang guard
def test_a_recorder_publishes_no_frames_and_their_return_as_camera_events(
    stack: Stack, tmp_path: Path
) -> None:
    with video_stops_camera(tmp_path / "video-stops.ts") as url:
        cam = stack.add_camera("Hung encoder", url)

        def no_frames() -> dict[str, Any] | None:
            return next(
                (
                    e
                    for e in status_events(stack, cam["id"])
                    if e["type"] == "camera.offline"
                    and NO_FRAMES.fullmatch(e["attributes"].get("error") or "")
                ),
                None,
            )

        wait_until(lambda: no_frames() is not None, 90, "a 'no frames' camera event", stack.logs)
        went = no_frames()
        assert went is not None and went["source"] == "recorder-1"

        def back_online() -> bool:
            events = status_events(stack, cam["id"])
            since = datetime.fromisoformat(went["at"])
            return any(
                e["type"] == "camera.online" and datetime.fromisoformat(e["at"]) > since
                for e in events
            )

        wait_until(back_online, 90, "a camera.online event after it", stack.logs)

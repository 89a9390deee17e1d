"""Cameras like the demo's real clips through real server and recorder processes: one with
B-frames, one without, both at a low bitrate. The B-frame camera goes to FFmpeg once, at
open, and stays online; on both, what the timeline shows as recorded plays and exports up
to the last second, while the segment holding it is still being written."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import av
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Stack, require_service, wait_until
from tests.integration.test_recording_e2e import recorded_seconds
from tests.media.test_ingest import encode_clip
from vigil.devices.simulator import Simulator, gstreamer_missing

pytestmark = pytest.mark.slow

# Production's segment length: the footage of the last seconds is in the open segment.
SEGMENT_SECONDS = 10
# What playback may miss of what the timeline shows: the fragment being written (1 s at
# most) and the stream's way from the camera to the file.
LIVE_EDGE = timedelta(seconds=2.5)


@pytest.fixture
def stack10(tmp_path: Path) -> Iterator[Stack]:
    """Server and recorder with the production segment length."""
    data = tmp_path / "data"
    data.mkdir()
    env = {"VIGIL_STORAGE__SEGMENT_SECONDS": str(SEGMENT_SECONDS)}
    s = Stack(data, f"sqlite:///{data / 'vigil.db'}", env=env)
    s.start_server()
    s.start_recorder()
    yield s
    s.stop()


@pytest.fixture
def cameras(clip_dir: Path) -> Iterator[Simulator]:
    """``bframes`` and ``plain``: 100 kbit/s, as the demo's B-frame clips are."""
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)
    clips = {
        "bframes": encode_clip(
            clip_dir / "e2e-bframes.mp4", seconds=20, b_frames=2, bitrate="100k"
        ),
        "plain": encode_clip(clip_dir / "e2e-plain.mp4", seconds=20, b_frames=0, bitrate="100k"),
    }
    with Simulator(clips, port=0, cache_dir=clip_dir / "sim-cache") as sim:
        yield sim


@contextmanager
def status_log(stack: Stack) -> Iterator[dict[int, list[str]]]:
    """Every status the server's event stream announces meanwhile, per camera, in order."""
    seen: dict[int, list[str]] = {}
    url = stack.url.replace("http", "ws") + "/api/events"

    def listen(ws: ClientConnection) -> None:
        try:
            while True:
                payload = json.loads(ws.recv())["payload"]
                seen.setdefault(payload["camera_id"], []).append(payload["status"])
        except ConnectionClosed:
            return

    with connect(url, open_timeout=10, additional_headers=stack.auth_headers) as ws:
        listener = threading.Thread(target=listen, args=(ws,), daemon=True)
        listener.start()
        try:
            yield seen
        finally:
            ws.close()
            listener.join(10)


def export_end(body: bytes, tmp_path: Path, name: str) -> datetime:
    """Wall time of the end of an exported MP4: its last chapter is titled with the wall
    time at the chapter's start."""
    path = tmp_path / name
    path.write_bytes(body)
    with av.open(str(path)) as c:
        last = c.chapters()[-1]
    shown = (last["end"] - last["start"]) * last["time_base"]
    return datetime.fromisoformat(last["metadata"]["title"]) + timedelta(seconds=float(shown))


def test_b_frame_camera_goes_to_ffmpeg_once_and_every_camera_exports_up_to_now(
    stack10: Stack, cameras: Simulator, tmp_path: Path
) -> None:
    with status_log(stack10) as statuses:
        ids = {name: stack10.add_camera(name, cameras.url_for(name))["id"] for name in cameras.urls}
        for camera_id in ids.values():
            stack10.wait_status(camera_id, "online")
        for camera_id in ids.values():  # within the first segment, still being written
            wait_until(
                lambda c=camera_id: recorded_seconds(stack10.timeline(c)) >= 6,
                30,
                "6 s recorded",
                stack10.logs,
            )
    logs = stack10.logs()
    assert "broke off" not in logs
    assert "frames out of order (B-frames); reading it with FFmpeg" in logs
    assert statuses[ids["bframes"]][-1] == "online"
    assert "offline" not in statuses[ids["bframes"]], statuses

    for name, camera_id in ids.items():
        timeline = stack10.timeline(camera_id)
        assert timeline["recording"], timeline
        shown_until = datetime.fromisoformat(timeline["ranges"][-1]["end"])
        window = {"start": (shown_until - timedelta(seconds=5)).isoformat()}
        window["end"] = shown_until.isoformat()

        r = stack10.client.get(f"/api/cameras/{camera_id}/export", params=window)
        assert r.status_code == 200, f"{name}: {r.text}"
        assert export_end(r.content, tmp_path, f"{name}.mp4") >= shown_until - LIVE_EDGE, name

        body = {**window, "reason": "case 12", "requested_by": "ivan"}
        r = stack10.client.post(f"/api/cameras/{camera_id}/evidence-export", json=body)
        assert r.status_code == 200, f"{name}: {r.text}"
        with zipfile.ZipFile(io.BytesIO(r.content)) as package:
            actual = json.loads(package.read("metadata.json"))["actual"]
        assert datetime.fromisoformat(actual["last_frame_end"]) >= shown_until - LIVE_EDGE, name

        moment = {"start": (shown_until - timedelta(seconds=2)).isoformat()}
        with stack10.client.stream(
            "GET", f"/api/cameras/{camera_id}/playback.mp4", params=moment
        ) as r:
            assert r.status_code == 200, f"{name}: playback"
            (tmp_path / f"{name}-play.mp4").write_bytes(b"".join(r.iter_bytes()))
        with av.open(str(tmp_path / f"{name}-play.mp4")) as c:
            frames = list(c.decode(video=0))
        assert frames and frames[0].key_frame, name

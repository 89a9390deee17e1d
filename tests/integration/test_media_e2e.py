"""Media paths through real processes: MJPEG cameras, live view over WebSocket, playback
and export over HTTP, the CLI, and the same on PostgreSQL."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import Stack, fresh_postgres, wait_until
from tests.integration.test_recording_e2e import recorded_seconds
from tests.mjpeg_server import mjpeg_camera
from vigil.devices.simulator import Simulator

pytestmark = pytest.mark.slow


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    info: dict[str, Any] = json.loads(out)
    return info


def live_url(stack: Stack, camera_id: int, stream: str | None = None) -> str:
    url = stack.url.replace("http", "ws") + f"/api/cameras/{camera_id}/live"
    return f"{url}?stream={stream}" if stream else url


def read_live(
    url: str, frames: int, received: list[list[bytes | str]], headers: dict[str, str]
) -> None:
    """Read one viewer's messages until ``frames`` fragments arrived."""
    messages: list[bytes | str] = []
    received.append(messages)
    with connect(url, open_timeout=10, max_size=None, additional_headers=headers) as ws:
        while sum(isinstance(m, bytes) for m in messages) < frames + 1:
            messages.append(ws.recv(timeout=20))


def test_many_viewers_share_one_ingest_and_get_playable_fmp4(
    stack: Stack, simulator: Simulator, tmp_path: Path
) -> None:
    cam = stack.add_camera("live", simulator.url_for("pattern"))
    stack.wait_status(cam["id"], "online")
    url = live_url(stack, cam["id"])
    received: list[list[bytes | str]] = []
    viewers = [
        threading.Thread(target=read_live, args=(url, 30, received, stack.auth_headers))
        for _ in range(3)
    ]
    for v in viewers:
        v.start()
    for v in viewers:
        v.join(60)
    assert len(received) == 3
    for messages in received:
        head = json.loads(str(messages[0]))
        assert head["type"] == "init" and head["mime"].startswith('video/mp4; codecs="avc1.')
        init, *fragments = [m for m in messages if isinstance(m, bytes)]
        assert init[4:8] == b"ftyp" and all(f[4:8] == b"moof" for f in fragments)
        out = tmp_path / "live.mp4"
        out.write_bytes(init + b"".join(fragments))
        with av.open(str(out)) as c:
            decoded = list(c.decode(video=0))
        assert decoded[0].key_frame and len(decoded) >= 30
    health = stack.client.get(f"http://127.0.0.1:{stack.recorder_port}/media/health").json()
    assert health["cameras"] == [cam["id"]], "one ingest on the recorder serves all viewers"
    views = audited(stack, "camera.live")
    assert len(views) == 3 and {v["camera_id"] for v in views} == {cam["id"]}
    assert {v["username"] for v in views} == {"admin"} and views[0]["address"] == "127.0.0.1"
    # The recorder's media API answers only the installation (the server's relay).
    recorder = f"http://127.0.0.1:{stack.recorder_port}/media/cameras/{cam['id']}/snapshot.jpg"
    assert httpx.get(recorder, headers=stack.auth_headers).status_code == 401


def audited(stack: Stack, action: str) -> list[dict[str, Any]]:
    """The audit trail's entries of one action."""
    r = stack.client.get("/api/audit", params={"action": action, "limit": 1000})
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


def test_live_view_of_unknown_or_disabled_camera_is_refused_clearly(stack: Stack) -> None:
    url = live_url(stack, 999)
    with connect(url, open_timeout=10, additional_headers=stack.auth_headers) as ws:
        msg = json.loads(ws.recv(timeout=10))
    assert msg == {"type": "error", "message": "camera 999 not found"}


def stopped_gap(timeline: dict[str, Any]) -> int | None:
    """Index of the gap an operator's stop left, once recording has resumed after it."""
    return next(
        (i for i, g in enumerate(timeline["gaps"]) if g["reason"] == "recording stopped"), None
    )


def test_playback_and_export_across_a_gap(
    stack: Stack, clip_dir: Path, h264_aac_clip: Path, tmp_path: Path
) -> None:
    with Simulator([h264_aac_clip], port=0, cache_dir=clip_dir / "sim-cache") as sim:
        cam = stack.add_camera("evidence", sim.url_for("pattern-audio"))
        stack.wait_status(cam["id"], "online")
        wait_until(
            lambda: recorded_seconds(stack.timeline(cam["id"])) >= 5, 30, "5 s recorded", stack.logs
        )
        stack.client.patch(f"/api/cameras/{cam['id']}", json={"enabled": False})
        wait_until(lambda: not stack.timeline(cam["id"])["recording"], 20, "stopped", stack.logs)
        stack.client.patch(f"/api/cameras/{cam['id']}", json={"enabled": True})
        wait_until(
            lambda: stopped_gap(stack.timeline(cam["id"])) is not None,
            30,
            "recording again after the gap",
            stack.logs,
        )
        wait_until(
            lambda: recorded_seconds(stack.timeline(cam["id"])) >= 9, 30, "9 s recorded", stack.logs
        )
    timeline = stack.timeline(cam["id"])
    # A loaded machine may also break the stream now and then: those are gaps of their own,
    # so the ranges either side of the operator's stop are found by its gap.
    at = stopped_gap(timeline)
    assert at is not None, timeline
    first, second = timeline["ranges"][0], timeline["ranges"][at + 1]
    start = datetime.fromisoformat(first["start"]) + timedelta(seconds=1.5)
    end = datetime.fromisoformat(second["start"]) + timedelta(seconds=3)

    r = stack.client.get(
        f"/api/cameras/{cam['id']}/export",
        params={"start": start.isoformat(), "end": end.isoformat()},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    assert "attachment" in r.headers["content-disposition"]
    out = tmp_path / "export.mp4"
    out.write_bytes(r.content)
    info = ffprobe(out)
    kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert kinds["video"] == "h264" and kinds["audio"] == "aac"
    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert audio["profile"] == "LC", "the audio's config survived recording and export"
    recorded_in_range = recorded_seconds(timeline, start, end)
    assert float(info["format"]["duration"]) == pytest.approx(recorded_in_range, abs=1.2)

    moment = datetime.fromisoformat(first["start"]) + timedelta(seconds=2.5)
    with stack.client.stream(
        "GET", f"/api/cameras/{cam['id']}/playback.mp4", params={"start": moment.isoformat()}
    ) as r:
        assert r.status_code == 200
        first_wall = datetime.fromisoformat(r.headers["x-vigil-start"])
        body = b"".join(r.iter_bytes())
    assert moment - timedelta(seconds=1.01) <= first_wall <= moment, "keyframe at or before"
    (tmp_path / "play.mp4").write_bytes(body)
    with av.open(str(tmp_path / "play.mp4")) as c:
        frames = list(c.decode(video=0))
    assert frames[0].key_frame
    # From the chosen moment to the end of the recording, across the gap.
    total = (
        recorded_seconds(timeline)
        - (first_wall - datetime.fromisoformat(first["start"])).total_seconds()
    )
    assert len(frames) / 25 == pytest.approx(total, abs=1.5)

    # A moment before any footage plays from where the recording begins; after it, nothing.
    before = datetime.fromisoformat(first["start"]) - timedelta(hours=1)
    with stack.client.stream(
        "GET", f"/api/cameras/{cam['id']}/playback.mp4", params={"start": before.isoformat()}
    ) as r:
        assert r.status_code == 200
        assert datetime.fromisoformat(r.headers["x-vigil-start"]) == datetime.fromisoformat(
            first["start"]
        )
    after = datetime.fromisoformat(timeline["ranges"][-1]["end"]) + timedelta(hours=1)
    r = stack.client.get(
        f"/api/cameras/{cam['id']}/playback.mp4", params={"start": after.isoformat()}
    )
    assert r.status_code == 404 and "no recording" in r.json()["detail"]
    assert len(audited(stack, "camera.playback")) == 2, "each playback that was served"
    (export,) = audited(stack, "camera.export")
    assert export["camera_id"] == cam["id"] and export["target"].endswith(".mp4")


def recorded_rows(stack: Stack, camera_id: int) -> tuple[list[Any], list[Any]]:
    """A camera's segments and gaps as the recorder stored them, oldest first."""
    from vigil.store import recordings
    from vigil.store.db import Database

    db = Database(stack.db_url)
    try:
        now = datetime.now(UTC)
        window = (now - timedelta(hours=1), now + timedelta(hours=1))
        segments = list(recordings.segments_between(db, camera_id, *window))
        return segments, list(recordings.gaps_between(db, camera_id, *window))
    finally:
        db.dispose()


def test_a_stop_and_restart_leave_a_visible_gap_never_an_overlap(
    stack: Stack, simulator: Simulator
) -> None:
    """A stopped recording ends a frame's duration after its last frame, and live frames
    are timed up to a little ahead of the clock: so that end can still lie ahead when the
    camera starts again at once, while the new recording starts at the clock. It must
    begin after that end, by more than the timeline joins (``CONTINUITY_TOLERANCE``)."""
    from vigil.domain.timeline import CONTINUITY_TOLERANCE
    from vigil.store.db import Database
    from vigil.store.models import Gap, Segment

    cam = stack.add_camera("restarts", simulator.url_for("pattern"), enabled=False)
    # What a stop leaves that ends ahead (a 1 fps camera stopped just after a frame): a
    # last segment that ends a second from now, and the gap "recording stopped" from there.
    stopped = datetime.now(UTC) + timedelta(seconds=1)
    db = Database(stack.db_url)
    try:
        with db.session() as s:
            start, end = stopped - timedelta(seconds=2), stopped
            s.add(Segment(camera_id=cam["id"], node="x", path="x.mp4", start=start, end=end))
            s.add(Gap(camera_id=cam["id"], start=stopped, reason="recording stopped"))
    finally:
        db.dispose()
    log = stack.data_dir / "recorder.log"

    def restarted(times: int) -> bool:
        """Started ``times`` times, and recording (no gap left open)."""
        started = log.read_text(errors="replace").count("(restarts): recording started")
        _, gaps = recorded_rows(stack, cam["id"])
        return started == times and all(g.end is not None for g in gaps)

    stack.client.patch(f"/api/cameras/{cam['id']}", json={"enabled": True})
    wait_until(lambda: restarted(1), 30, "recording after the stop", stack.logs)
    # And stopped and started again at once, as fast as the recorder goes.
    for times in range(2, 6):
        stack.client.patch(f"/api/cameras/{cam['id']}", json={"enabled": False})
        stack.client.patch(f"/api/cameras/{cam['id']}", json={"enabled": True})
        wait_until(partial(restarted, times), 30, f"restart {times}", stack.logs)

    segments, gaps = recorded_rows(stack, cam["id"])
    for before, after in itertools.pairwise(segments):
        assert before.end is not None and before.end <= after.start, "ranges overlap"
    # (a loaded machine may break the stream too: a stop then leaves that gap's reason)
    stops = [(g.start, g.end) for g in gaps if g.reason == "recording stopped"]
    assert stops[0][0] == stopped and len(stops) >= 2, stops
    assert all(end - start > CONTINUITY_TOLERANCE for start, end in stops), stops
    shown = stack.timeline(cam["id"])["gaps"]
    assert sum(g["reason"] == "recording stopped" for g in shown) == len(stops), (shown, stops)


def test_mjpeg_camera_is_recorded_at_its_real_pace(stack: Stack) -> None:
    with mjpeg_camera(fps=10) as url:
        cam = stack.add_camera("mjpeg", url)
        online = stack.wait_status(cam["id"], "online")
        assert online["health"]["video_codec"] == "mjpeg"
        wait_until(lambda: recorded_seconds(stack.timeline(cam["id"])) >= 4, 30, "4 s recorded")
        health = stack.camera(cam["id"])["health"]
    assert 7 <= health["fps"] <= 12
    files = sorted((stack.data_dir / "recordings" / str(cam["id"])).rglob("*.mp4"))
    info = ffprobe(files[0])
    assert info["streams"][0]["codec_name"] == "mjpeg"
    # Timed by arrival: 2 s segments hold about 20 frames, not 50.
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.5)


def test_cli_manages_cameras_through_the_api(stack: Stack) -> None:
    issued = subprocess.run(
        [sys.executable, "-m", "vigil", "users", "token", "admin", "--name", "cli test"],
        capture_output=True,
        text=True,
        env=stack.env,
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("vgl_")

    def vigil(*args: str, token: str | None = token) -> subprocess.CompletedProcess[str]:
        env = {**stack.env, "COLUMNS": "200"}
        env.pop("VIGIL_TOKEN", None)
        if token is not None:
            env["VIGIL_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "vigil", "cameras", *args, "--server-url", stack.url],
            capture_output=True,
            text=True,
            env=env,
        )

    anonymous = vigil("list", token=None)
    assert anonymous.returncode == 1 and "VIGIL_TOKEN" in anonymous.stdout
    added = vigil("add", "Gate", "rtsp://10.9.9.9/stream", "--username", "op", "--location", "N")
    assert added.returncode == 0 and "added camera" in added.stdout
    bad = vigil("add", "Bad", "ftp://x/y")
    assert bad.returncode == 1 and "unsupported URL scheme" in bad.stdout
    listed = vigil("list")
    assert "Gate" in listed.stdout
    cam_id = stack.client.get("/api/cameras").json()[0]["id"]
    assert vigil("disable", str(cam_id)).returncode == 0
    assert stack.camera(cam_id)["enabled"] is False
    assert vigil("update", str(cam_id), "--notes", "moved").returncode == 0
    assert stack.camera(cam_id)["notes"] == "moved"
    assert vigil("remove", str(cam_id), "--yes").returncode == 0
    assert stack.client.get("/api/cameras").json() == []
    gone = subprocess.run(
        [sys.executable, "-m", "vigil", "cameras", "list", "--server-url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
    )
    assert gone.returncode == 2 and "cannot reach the Vigil server" in gone.stdout


def test_recording_on_postgresql(tmp_path: Path, simulator: Simulator) -> None:
    # Its own database: the worker's shared one is emptied after each test that asks for it,
    # and a server writing there would leave rows (an admin, a camera) for the next test.
    with fresh_postgres("vigil_media") as url:
        stack = Stack(tmp_path / "data", url)
        stack.data_dir.mkdir(parents=True)
        try:
            stack.start_server()
            stack.start_recorder()
            cam = stack.add_camera("pg", simulator.url_for("pattern"))
            stack.wait_status(cam["id"], "online")
            wait_until(
                lambda: recorded_seconds(stack.timeline(cam["id"])) >= 5, 30, "5 s on PostgreSQL"
            )
            assert stack.timeline(cam["id"])["gaps"] == []
        finally:
            stack.stop()


def first_live_frame(stack: Stack, url: str, tmp_path: Path) -> av.VideoFrame:
    received: list[list[bytes | str]] = []
    read_live(url, 3, received, stack.auth_headers)
    init, *fragments = [m for m in received[0] if isinstance(m, bytes)]
    out = tmp_path / "first.mp4"
    out.write_bytes(init + b"".join(fragments))
    with av.open(str(out)) as c:
        return next(c.decode(video=0))


def test_grid_gets_the_sub_stream_while_the_main_stream_is_recorded(
    stack: Stack, simulator: Simulator, clip_dir: Path, tmp_path: Path
) -> None:
    from vigil.devices.simulator import generate_test_clip

    small = generate_test_clip(clip_dir / "small.mp4", seconds=4, width=320, height=180)
    with Simulator([small], port=0, cache_dir=clip_dir / "sim-cache") as sub_sim:
        cam = stack.add_camera(
            "dual", simulator.url_for("pattern"), sub_url=sub_sim.url_for("small")
        )
        stack.wait_status(cam["id"], "online")
        sub = first_live_frame(stack, live_url(stack, cam["id"], "sub"), tmp_path)
        main = first_live_frame(stack, live_url(stack, cam["id"], "main"), tmp_path)
    assert (sub.width, sub.height) == (320, 180)
    assert (main.width, main.height) == (640, 360)
    # 5 s: the first 2 s segment is finished and on disk.
    wait_until(lambda: recorded_seconds(stack.timeline(cam["id"])) >= 5, 30, "recorded")
    files = sorted((stack.data_dir / "recordings" / str(cam["id"])).rglob("*.mp4"))
    assert ffprobe(files[0])["streams"][0]["width"] == 640, "the main stream is recorded"


def test_sub_stream_falls_back_to_main_when_the_camera_has_none(
    stack: Stack, simulator: Simulator, tmp_path: Path
) -> None:
    cam = stack.add_camera("single", simulator.url_for("pattern"))
    stack.wait_status(cam["id"], "online")
    assert first_live_frame(stack, live_url(stack, cam["id"], "sub"), tmp_path).width == 640

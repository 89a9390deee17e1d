"""One camera's ingest: its health figures and the states it reports, on real streams."""

from __future__ import annotations

import logging
import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from av.video.frame import PictureType

from tests.conftest import free_port, require_service, wait_until
from vigil.devices.simulator import Simulator, gstreamer_missing
from vigil.domain.cameras import CameraStatus
from vigil.media.ingest import STALE_AFTER_S, STATS_MAX_FRAMES, CameraIngest, IngestStats
from vigil.media.packets import StreamInfo

FPS = 25


def encode_clip(
    path: Path,
    *,
    seconds: float,
    b_frames: int,
    bitrate: str = "300k",
    gop: int = FPS,
    offset_s: float = 0,
) -> Path:
    """A 320x180 25 fps High-profile H.264 clip with ``b_frames`` B-frames in a row (0: none)
    and a keyframe every ``gop`` frames; the container follows the suffix (``.ts`` files
    can be joined)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={FPS}",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
         "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
         "-bf", str(b_frames), "-b_strategy", "0", "-b:v", bitrate, "-pix_fmt", "yuv420p",
         "-output_ts_offset", str(offset_s), str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def bframe_clip(clip_dir: Path) -> Path:
    """6 s with two B-frames between references: decode order is not presentation order."""
    return encode_clip(clip_dir / "bframes-high.mp4", seconds=6, b_frames=2)


class Recorded:
    """A sink that notes what an ingest hands it."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed: list[str | None] = []
        self.video_after_reopen = 0

    def open(self, info: StreamInfo) -> None:
        self.opened += 1

    def write(self, packet: av.Packet[Any], wall: datetime) -> None:
        if self.opened > 1 and packet.stream.type == "video":
            self.video_after_reopen += 1

    def close(self, reason: str | None) -> None:
        self.closed.append(reason)


class Statuses:
    """The states an ingest reports, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[CameraStatus, str | None]] = []

    def __call__(self, status: CameraStatus, error: str | None) -> None:
        self.seen.append((status, error))

    def kinds(self) -> list[CameraStatus]:
        return [status for status, _ in self.seen]

    def reached(self, status: CameraStatus) -> bool:
        return status in self.kinds()


@pytest.fixture
def running() -> Iterator[list[CameraIngest]]:
    """Ingests a test starts, stopped at its end whatever happens."""
    ingests: list[CameraIngest] = []
    yield ingests
    for ingest in ingests:
        ingest.stop()


def start(
    ingests: list[CameraIngest], url: str, *, sinks: tuple[Recorded, ...] = (), **options: Any
) -> tuple[CameraIngest, Statuses]:
    """Start an ingest of ``url`` (stopped at the test's end); its states are noted."""
    statuses = Statuses()
    ingest = CameraIngest(1, url, sinks, on_status=statuses, **options)
    ingests.append(ingest)
    ingest.start()
    return ingest, statuses


def need_simulator() -> None:
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)


# Health figures ---------------------------------------------------------------------------
def test_rates_follow_the_stream_clock_not_arrival_bursts() -> None:
    stats = IngestStats()
    for frame in range(125):  # 5 s at 25 fps, 10 kB a frame, however they were delivered
        stats.count(10_000, frame * 0.04)
    fps, bps = stats.rates()
    assert fps == pytest.approx(25.0)
    assert bps == pytest.approx(25 * 10_000 * 8)


def test_rates_of_a_b_frame_stream_read_twice_are_its_own(bframe_clip: Path) -> None:
    ingest = CameraIngest(1, f"file://{bframe_clip}", [], realtime_files=False)
    with av.open(str(bframe_clip)) as c:
        video = c.streams.video[0]
        packets = [p for p in c.demux(video) if p.size]
        assert any(p.pts != p.dts for p in packets), "the clip should have B-frames"
        bits = sum(p.size for p in packets) * 8
        duration_s = float(len(packets) / FPS)
    for _ in range(2):  # the second reading starts at 0 again, as after a reconnect
        assert ingest._read_once() is None
        fps, bps = ingest.stats.rates()
        assert fps == pytest.approx(FPS, rel=0.01)
        assert bps == pytest.approx(bits / duration_s, rel=0.25)


def test_a_clock_that_goes_back_starts_the_window_over() -> None:
    stats = IngestStats()
    for frame in range(50):
        stats.count(1_000, 3600 + frame * 0.04)
    for frame in range(50):  # the camera's clock restarted without a new connection
        stats.count(1_000, frame * 0.04)
    assert stats.rates()[0] == pytest.approx(25.0)


def test_the_window_is_bounded_in_count() -> None:
    stats = IngestStats()
    for frame in range(10 * STATS_MAX_FRAMES):  # 1,000 fps: more frames than 5 s may hold
        stats.count(100, frame * 0.001)
    assert len(stats._window) == STATS_MAX_FRAMES
    assert stats.rates()[0] == pytest.approx(1000.0)


def test_rates_can_be_read_while_frames_are_counted() -> None:
    stats = IngestStats()
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            for frame in range(200_000):
                stats.count(1_000, frame * 0.04)
        except BaseException as exc:  # any error at all: the test reports it
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                stats.rates()
        except BaseException as exc:  # any error at all: the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stats.rates()[0] == pytest.approx(25.0)


# States -----------------------------------------------------------------------------------
def test_a_camera_nobody_serves_is_connecting_with_its_error_then_offline(
    running: list[CameraIngest],
) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/none"
    ingest, statuses = start(
        running, url, connect_timeout_s=1.0, reconnect_min_s=0.05, reconnect_max_s=0.2
    )
    wait_until(lambda: statuses.reached(CameraStatus.OFFLINE), 30, "offline")
    ingest.stop()
    (connecting, why), (offline, still), (disabled, _) = statuses.seen
    assert (connecting, offline, disabled) == (
        CameraStatus.CONNECTING,
        CameraStatus.OFFLINE,
        CameraStatus.DISABLED,
    )
    assert why is not None and why.startswith("cannot open stream"), "why it is not there yet"
    assert still == why


def test_a_camera_that_comes_late_is_never_offline(
    running: list[CameraIngest], clip_dir: Path, h264_clip: Path
) -> None:
    need_simulator()
    port = free_port()
    ingest, statuses = start(
        running, f"rtsp://127.0.0.1:{port}/pattern", reconnect_min_s=0.1, reconnect_max_s=0.5
    )
    wait_until(lambda: ingest.stats.last_error is not None, 30, "a failed attempt")
    assert ingest.stats.status == CameraStatus.CONNECTING
    with Simulator([h264_clip], port=port, cache_dir=clip_dir / "sim-cache"):
        wait_until(lambda: statuses.reached(CameraStatus.ONLINE), 30, "online")
    assert statuses.kinds()[:2] == [CameraStatus.CONNECTING, CameraStatus.ONLINE]
    assert statuses.seen[1] == (CameraStatus.ONLINE, None), "online clears the error"


def test_a_camera_that_was_online_and_goes_away_is_offline(
    running: list[CameraIngest], clip_dir: Path, h264_clip: Path
) -> None:
    need_simulator()
    port = free_port()
    with Simulator([h264_clip], port=port, cache_dir=clip_dir / "sim-cache"):
        ingest, statuses = start(running, f"rtsp://127.0.0.1:{port}/pattern")
        wait_until(lambda: statuses.reached(CameraStatus.ONLINE), 30, "online")
    wait_until(lambda: statuses.reached(CameraStatus.OFFLINE), 30, "offline")
    ingest.stop()
    kinds = statuses.kinds()
    assert kinds[0] == CameraStatus.ONLINE
    assert set(kinds[1:-1]) == {CameraStatus.OFFLINE}, "offline until it comes back"
    assert all(error for _, error in statuses.seen[1:-1]), "each says why"


def test_online_without_frames_for_the_read_timeout_is_reported_offline() -> None:
    stats = IngestStats(state=CameraStatus.ONLINE, last_frame_at=datetime.now(UTC))
    assert stats.last_frame_at is not None
    soon = stats.last_frame_at + timedelta(seconds=STALE_AFTER_S - 1)
    late = stats.last_frame_at + timedelta(seconds=STALE_AFTER_S + 3)
    assert stats.reported(soon) == (CameraStatus.ONLINE, None)
    assert stats.reported(late) == (
        CameraStatus.OFFLINE,
        f"no frames for {STALE_AFTER_S + 3:.0f} s",
    )
    stats.state, stats.error = CameraStatus.CONNECTING, "refused"
    assert stats.reported(late) == (CameraStatus.CONNECTING, "refused"), "only online goes stale"


class Hanging(Recorded):
    """A sink whose writes block while ``hang`` is set, until ``release`` (a disk or a
    database that hangs the ingest's thread, where no read timeout reaches)."""

    def __init__(self) -> None:
        super().__init__()
        self.hang, self.release = threading.Event(), threading.Event()

    def write(self, packet: av.Packet[Any], wall: datetime) -> None:
        if self.hang.is_set():
            self.release.wait()


def test_an_ingest_hung_while_online_is_reported_offline_until_it_moves(
    running: list[CameraIngest], simulator: Simulator
) -> None:
    sink = Hanging()
    ingest, statuses = start(running, simulator.url_for("pattern"), sinks=(sink,))
    try:
        wait_until(lambda: ingest.stats.status == CameraStatus.ONLINE, 30, "online")
        sink.hang.set()
        wait_until(lambda: ingest.stats.status == CameraStatus.OFFLINE, 30, "reported offline")
        assert re.fullmatch(r"no frames for \d+ s", ingest.stats.last_error or ""), "says why"
        sink.hang.clear()
    finally:
        sink.release.set()
    wait_until(lambda: ingest.stats.status == CameraStatus.ONLINE, 30, "online again")
    assert statuses.kinds() == [CameraStatus.ONLINE], "the ingest itself never said otherwise"


# B-frames found only mid-stream -------------------------------------------------------------
@pytest.fixture(scope="session")
def late_bframe_clip(clip_dir: Path) -> Path:
    """4 s without B-frames, then 4 s with (more than the RTSP client reads ahead), from one
    encoder, so with one SPS that allows them throughout: two encodings joined would differ
    in their SPS, which the client takes for a changed stream."""
    path = clip_dir / "late-bframes.ts"
    options = {"preset": "veryfast", "profile": "high", "g": str(FPS), "keyint_min": str(FPS)}
    options |= {"sc_threshold": "0", "bf": "2", "b_strategy": "0", "b": "300k"}
    with (
        av.open(f"testsrc2=size=320x180:rate={FPS}", format="lavfi") as source,
        av.open(str(path), "w", format="mpegts") as out,
    ):
        stream = out.add_stream("libx264", rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for n, frame in enumerate(source.decode(video=0)):
            if n == 8 * FPS:
                break
            if n < 4 * FPS:  # types forced as an encoder that starts its B-frames late
                frame.pict_type = PictureType.I if n % FPS == 0 else PictureType.P
            else:
                frame.pict_type = PictureType.NONE  # the encoder's choice
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_b_frames_found_mid_stream_switch_to_ffmpeg_cleanly(
    running: list[CameraIngest],
    clip_dir: Path,
    late_bframe_clip: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    need_simulator()
    sink = Recorded()
    caplog.set_level(logging.INFO, logger="vigil.media.ingest")
    # A fresh simulator: its first client sees the clip from the start, without B-frames.
    with Simulator([late_bframe_clip], port=0, cache_dir=clip_dir / "sim-cache") as sim:
        ingest, statuses = start(running, sim.url_for("late-bframes"), sinks=(sink,))
        wait_until(lambda: sink.video_after_reopen >= 2 * FPS, 40, "read again by FFmpeg")
        ingest.stop()
    assert sink.opened == 2
    assert sink.closed[0] == "switching to FFmpeg: frames out of order (B-frames)"
    assert statuses.kinds() == [CameraStatus.ONLINE, CameraStatus.DISABLED], "online throughout"
    ingest_logs = [r for r in caplog.records if r.name == "vigil.media.ingest"]
    assert [r.levelno for r in ingest_logs] == [logging.INFO], [r.message for r in ingest_logs]
    assert "switching to FFmpeg" in ingest_logs[0].message

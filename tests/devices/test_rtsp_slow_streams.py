"""Vigil's RTSP client on near-static, low-bitrate cameras: a slow stream is not a failure.

A still scene sends a big keyframe and then tiny frames, so the rate the client measured
(and the low-water mark it set from it) falls tenfold from one second to the next. Only a
camera that sends nothing at all for the read timeout is a broken stream.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import require_service
from vigil.devices.rtsp import RtspContainer, RtspError
from vigil.devices.simulator import Simulator, gstreamer_missing
from vigil.domain.cameras import CameraStatus
from vigil.media.ingest import CameraIngest
from vigil.media.packets import StreamInfo

FPS = 25
CLIP_S = 8  # the simulator loops it: reading 12 s crosses the loop once
READ_S = 12.0
KEEPALIVE_S = 1.0  # many keep-alive answers among the slow RTP
ENCODE = ["-c:v", "libx264", "-crf", "8", "-bf", "0", "-pix_fmt", "yuv420p"]
# A keyframe every 2 s and none on scene cuts: bursts the client must not mistake for the rate.
GOP = ["-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0"]
CLIPS = {
    # A detailed image that never changes: ~60 kB keyframes, ~40 B frames between them.
    "still": ["testsrc2=size=1280x720:rate=25", "loop=loop=-1:size=1:start=0", "veryfast"],
    # A flat grey scene with a small box crawling across: ~1 kB keyframes, ~10 B frames.
    "crawl": [
        "color=gray:size=640x360:rate=25",
        "drawbox=x='mod(t*8,600)':y=160:w=16:h=16:color=white:t=fill",
        "ultrafast",
    ],
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)
    folder = tmp_path_factory.mktemp("slow-clips")
    clips = []
    for name, (source, filters, preset) in CLIPS.items():
        clips.append(folder / f"{name}.mp4")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", source,
             "-vf", filters, "-t", str(CLIP_S), "-preset", preset, *ENCODE, *GOP, str(clips[-1])],
            check=True,
        )  # fmt: skip
    with Simulator(clips, port=0, cache_dir=folder / "sim-cache") as simulator:
        yield simulator


@dataclass
class Reading:
    """What one client read: video timestamps in seconds, and the error that ended it."""

    case: str
    video: list[float] = field(default_factory=list)
    error: BaseException | None = None


def read(url: str, case: str, *, low_latency: bool) -> Reading:
    """Read ``READ_S`` seconds of video from ``url``, keeping what ended the reading."""
    reading = Reading(case)
    try:
        container = RtspContainer(url, keepalive_s=KEEPALIVE_S)
    except OSError as exc:
        reading.error = exc
        return reading
    container.low_latency = low_latency
    try:
        for packet in container.demux():
            if packet.stream.type == "video":
                reading.video.append(float(packet.pts * packet.time_base))
                if reading.video[-1] - reading.video[0] >= READ_S:
                    break
    except OSError as exc:
        reading.error = exc
    finally:
        container.close()
    return reading


class Collector:
    """A packet sink that notes openings, video timestamps and why the stream closed."""

    def __init__(self) -> None:
        self.opened = 0
        self.video: list[float] = []
        self.closed: list[str | None] = []
        self.enough = threading.Event()

    def open(self, info: StreamInfo) -> None:
        self.opened += 1

    def write(self, packet: Any, wall: datetime) -> None:
        if packet.stream.type == "video":
            self.video.append(float(packet.pts * packet.time_base))
            if self.video[-1] - self.video[0] >= READ_S:
                self.enough.set()

    def close(self, reason: str | None) -> None:
        self.closed.append(reason)


def ingest(url: str) -> tuple[Collector, list[tuple[CameraStatus, str | None]]]:
    """Run a camera's ingest for ``READ_S`` seconds of video, its viewers coming and going."""
    sink, statuses = Collector(), []
    flips = itertools.count()
    camera = CameraIngest(
        1,
        url,
        [sink],
        on_status=lambda status, error: statuses.append((status, error)),
        watched=lambda: next(flips) // 40 % 2 == 1,  # watched every other 40 frames
    )
    camera.start()
    try:
        sink.enough.wait(READ_S + 20)
    finally:
        camera.stop()
    return sink, statuses


def assert_continuous(case: str, video: list[float]) -> None:
    """Every frame, in order: no step longer than two frames (the loop's join is ~1.5)."""
    assert video, f"{case}: no video"
    steps = [b - a for a, b in itertools.pairwise(video)]
    assert all(0 < step < 2 / FPS for step in steps), f"{case}: frames lost or out of order"
    assert video[-1] - video[0] >= READ_S, f"{case}: only {video[-1] - video[0]:.1f} s of video"


def test_slow_and_bursty_streams_read_without_breaking_off(sim: Simulator) -> None:
    cases = [
        ("still", "still", False),
        ("still, watched live", "still", True),
        ("crawl", "crawl", False),
        ("crawl, watched live", "crawl", True),
    ]
    # Concurrently, to keep the test short: each reading takes READ_S of real time.
    with ThreadPoolExecutor(len(cases) + 1) as pool:
        readings = [
            pool.submit(read, sim.url_for(mount), case, low_latency=live)
            for case, mount, live in cases
        ]
        recorded = pool.submit(ingest, sim.url_for("still"))
        results = [future.result() for future in readings]
        sink, statuses = recorded.result()
    assert {r.case: repr(r.error) for r in results if r.error} == {}
    for reading in results:
        assert_continuous(reading.case, reading.video)
    assert statuses[0] == (CameraStatus.ONLINE, None)
    assert CameraStatus.OFFLINE not in [status for status, _ in statuses], statuses
    assert (sink.opened, sink.closed) == (1, [None]), "one opening, closed only by the stop"
    assert_continuous("ingest", sink.video)


def test_a_silent_camera_is_still_a_failure(sim: Simulator) -> None:
    container = RtspContainer(sim.url_for("still"), timeout=2)
    try:
        packets = container.demux()
        for _ in range(3 * FPS):  # long enough to tune the low-water mark to the stream
            next(packets)
        os.kill(sim._proc.pid, signal.SIGSTOP)  # the camera hangs, its connection stays up
        try:
            with pytest.raises(RtspError, match="no data from the camera for 2 s"):
                for _ in packets:
                    pass
        finally:
            os.kill(sim._proc.pid, signal.SIGCONT)
    finally:
        container.close()

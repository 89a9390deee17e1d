"""The camera simulator, for real: generated clips served by GStreamer, read back with PyAV."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest

from vigil.devices.simulator import (
    GST_PYTHON,
    Simulator,
    generate_test_clip,
    gstreamer_missing,
    prepare_media,
)

CLIP_SECONDS = 2  # short, so that reading 3 s crosses a loop


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sim-clips")
    return {
        "alpha": generate_test_clip(folder / "alpha.mp4", seconds=CLIP_SECONDS, audio=True),
        "beta": generate_test_clip(
            folder / "beta.mkv", seconds=CLIP_SECONDS, width=320, height=240, fps=15, gop=15
        ),
    }


@pytest.fixture(scope="module")
def sim(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    missing = gstreamer_missing()
    if missing is not None:
        message = f"GStreamer RTSP server not usable from {GST_PYTHON}: {missing}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    cache = tmp_path_factory.mktemp("sim-cache")
    with Simulator(list(clips.values()), port=0, cache_dir=cache) as simulator:
        yield simulator


@dataclass
class Reading:
    """What one RTSP client saw: stream properties and (pts, keyframe) per packet."""

    video_codec: str
    size: tuple[int, int]
    audio_codec: str | None
    elapsed: float  # wall-clock seconds from connecting to the last packet
    video: list[tuple[float, bool]] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)

    @property
    def video_span(self) -> float:
        return self.video[-1][0] - self.video[0][0]


def read(url: str, media_seconds: float) -> Reading:
    """Read packets from `url` until `media_seconds` of video have arrived."""
    started = time.monotonic()
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 3)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        reading = Reading(
            video.codec_context.name,
            (video.codec_context.width, video.codec_context.height),
            audio.codec_context.name if audio else None,
            0.0,
        )
        for packet in container.demux():
            # ffmpeg's RTSP client leaves the very first packet without timestamps.
            if packet.pts is None or packet.time_base is None:
                continue
            seconds = float(packet.pts * packet.time_base)
            if packet.stream.type == "video":
                reading.video.append((seconds, packet.is_keyframe))
                if reading.video_span >= media_seconds:
                    break
            elif packet.stream.type == "audio":
                reading.audio.append(seconds)
    reading.elapsed = time.monotonic() - started
    return reading


def strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(
    ("name", "size", "fps", "audio"),
    [("alpha", (640, 360), 25, "aac"), ("beta", (320, 240), 15, None)],
)
def test_mount_serves_looping_real_time_h264(
    sim: Simulator, name: str, size: tuple[int, int], fps: int, audio: str | None
) -> None:
    reading = read(sim.url_for(name), media_seconds=1.5 * CLIP_SECONDS)

    assert reading.video_codec == "h264"
    assert reading.size == size
    assert reading.audio_codec == audio
    # Timestamps keep increasing across the loop (no B-frames, so PTS order is decode order).
    pts = [t for t, _ in reading.video]
    assert strictly_increasing(pts), pts
    assert reading.video_span >= 1.5 * CLIP_SECONDS - 0.1
    measured_fps = (len(pts) - 1) / reading.video_span
    assert measured_fps == pytest.approx(fps, rel=0.05)
    if audio:
        assert strictly_increasing(reading.audio)
        assert reading.audio[-1] - reading.audio[0] >= CLIP_SECONDS
    # Paced in real time: 3 s of media can't arrive much faster than 3 s.
    assert reading.elapsed >= 2.0, f"3 s of media arrived in {reading.elapsed:.1f} s"


def test_two_clients_share_a_mount(sim: Simulator) -> None:
    url = sim.url_for("alpha")
    results: dict[str, Reading] = {}

    def client(key: str) -> None:
        results[key] = read(url, media_seconds=3)

    first = threading.Thread(target=client, args=("first",))
    first.start()
    time.sleep(1.3)  # the second client joins mid-stream
    client("second")
    first.join(timeout=30)

    assert set(results) == {"first", "second"}
    for reading in results.values():
        assert strictly_increasing([t for t, _ in reading.video])
        assert reading.video_span >= 2.9
    # A late joiner gets a keyframe within one GOP (1 s) of joining.
    late = results["second"].video
    first_key = next(t for t, key in late if key)
    assert first_key - late[0][0] <= 1.05


def test_unknown_mount_is_refused(sim: Simulator) -> None:
    with pytest.raises(KeyError, match="no mount 'nope'"):
        sim.url_for("nope")
    url = sim.url_for("alpha").replace("/alpha", "/nope")
    with pytest.raises(av.FFmpegError):
        av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 3))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-camera.mp4"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        Simulator([missing], cache_dir=tmp_path / "cache")


def test_prepare_media_caches_and_transcodes_non_h264(tmp_path: Path) -> None:
    mpeg4 = tmp_path / "old-camera.avi"
    source = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "1"]
    subprocess.run(["ffmpeg", "-v", "error", *source, "-c:v", "mpeg4", str(mpeg4)], check=True)
    h264 = generate_test_clip(tmp_path / "new-camera.mp4", seconds=1)

    mounts = prepare_media({"old": mpeg4, "new": h264, "new-again": h264}, tmp_path / "cache")

    assert [(m.name, m.transcoded) for m in mounts] == [
        ("old", True),
        ("new", False),
        ("new-again", False),
    ]
    assert mounts[1].path == mounts[2].path  # one prepared file serves both names
    for mount in mounts:
        with av.open(str(mount.path)) as container:
            assert container.format.name == "mpegts"
            assert container.streams.video[0].codec_context.name == "h264"
    # A second run reuses the cache instead of converting again.
    before = {m.path: m.path.stat().st_mtime_ns for m in mounts}
    again = prepare_media({"old": mpeg4, "new": h264}, tmp_path / "cache")
    assert {m.path: m.path.stat().st_mtime_ns for m in again}.items() <= before.items()

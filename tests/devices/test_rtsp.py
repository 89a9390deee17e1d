"""Vigil's RTSP client against the simulator: what it reads, and when it steps aside."""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import require_service
from tests.media.test_ingest import encode_clip
from vigil.devices.rtp import AccessUnit
from vigil.devices.rtsp import (
    REORDER_PROBE_FRAMES,
    RtspContainer,
    RtspError,
    RtspUnsupported,
    parse_sdp,
)
from vigil.devices.simulator import Simulator, gstreamer_missing
from vigil.media.ingest import CameraIngest

SDP = "\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=cam",
        "m=video 0 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;"
        "sprop-parameter-sets=Z0LAHtoCgL/lwEQAAAMABAAAAwDKPFi6gA==,aM48gA==",
        "a=control:stream=0",
        "m=audio 0 RTP/AVP 97",
        "a=rtpmap:97 MPEG4-GENERIC/48000/1",
        "a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;"
        "indexlength=3;indexdeltalength=3;config=1190",
        "a=control:stream=1",
    ]
)


def test_sdp_is_read_into_tracks() -> None:
    video, audio = parse_sdp(SDP)
    assert (video.kind, video.codec, video.clock_rate, video.control) == (
        "video",
        "H264",
        90000,
        "stream=0",
    )
    assert video.fmtp["sprop-parameter-sets"].startswith("Z0LAHt")
    assert (audio.codec, audio.clock_rate, audio.fmtp["config"]) == ("MPEG4-GENERIC", 48000, "1190")


def test_reads_h264_and_aac_with_aligned_increasing_timestamps(
    simulator: Simulator,
) -> None:
    container = RtspContainer(simulator.url_for("pattern-audio"))
    try:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 640, 360)
        assert (audio.codec_context.name, audio.sample_rate) == ("aac", 48000)
        # MP4 (and browsers) need the AudioSpecificConfig: AAC-LC, 48 kHz, mono.
        assert audio.codec_context.extradata == bytes([0x11, 0x88])
        last: dict[str, float] = {}
        first_video = None
        for n, packet in enumerate(container.demux()):
            kind = packet.stream.type
            t = float(packet.pts * packet.time_base)
            assert t > last.get(kind, -1.0)
            last[kind] = t
            if kind == "video" and first_video is None:
                assert packet.is_keyframe, "reading starts at a keyframe"
                first_video = t
            if n > 150:
                break
        assert first_video is not None
        # Unaligned RTP clocks would be hours apart; delivery bursts are well under 2 s.
        assert abs(last["audio"] - last["video"]) < 2.0, "audio follows the video's clock"
    finally:
        container.close()


def test_a_repeated_audio_frame_is_dropped_and_time_keeps_advancing() -> None:
    """A sender that resends an AAC frame (or stamps two alike) must not give the recorder's
    muxer audio time that stands still; video and the other audio frames pass unchanged."""
    container = RtspContainer.__new__(RtspContainer)  # the demuxer alone, no session
    holder = av.open(io.BytesIO(), "w", format="mp4")  # only for stream objects to point at
    video_stream, audio_stream = holder.add_stream("h264"), holder.add_stream("aac")
    container._stream_of = [video_stream, audio_stream]
    container._tracks = [None, None]
    container._time_base = [Fraction(1, 90000), Fraction(1, 48000)]
    units = [
        (0, AccessUnit(90000, b"v0", True)),
        (1, AccessUnit(5000, b"a0", True)),
        (1, AccessUnit(5000, b"a0", True)),  # resent
        (1, AccessUnit(6024, b"a1", True)),
        (0, AccessUnit(93600, b"v1", False)),
        (1, AccessUnit(6024, b"a1", True)),  # resent late
        (1, AccessUnit(7048, b"a2", True)),
    ]
    container._pending, container._frame_iter = units, iter(())
    packets = [(p.stream, bytes(p), p.pts) for p in container.demux()]
    assert [data for _, data, _ in packets] == [b"v0", b"a0", b"a1", b"v1", b"a2"]
    audio = [pts for stream, _, pts in packets if stream is audio_stream]
    assert audio == [48000, 49024, 50048]  # aligned to the video's 1 s, then +1024 each


def test_unreachable_camera_is_an_os_error() -> None:
    with pytest.raises(OSError):
        RtspContainer("rtsp://127.0.0.1:9/none", timeout=2)


def test_unknown_mount_is_refused(simulator: Simulator) -> None:
    url = simulator.url_for("pattern").rsplit("/", 1)[0] + "/nothing"
    with pytest.raises(RtspError, match="DESCRIBE failed: RTSP 404"):
        RtspContainer(url)


@pytest.fixture(scope="module")
def high_profile_sim(clip_dir: Path) -> Iterator[Simulator]:
    """High-profile cameras, ``bframes`` with B-frames and ``no-bframes`` without: only
    their frames tell them apart."""
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)
    clips = {
        "bframes": encode_clip(clip_dir / "rtsp-bframes.mp4", seconds=4, b_frames=2),
        "no-bframes": encode_clip(clip_dir / "rtsp-no-bframes.mp4", seconds=4, b_frames=0),
    }
    with Simulator(clips, port=0, cache_dir=clip_dir / "sim-cache") as sim:
        yield sim


def test_b_frames_are_refused_while_opening(high_profile_sim: Simulator) -> None:
    with pytest.raises(RtspUnsupported, match=r"frames out of order \(B-frames\)"):
        RtspContainer(high_profile_sim.url_for("bframes"))


def test_a_stream_that_may_reorder_but_does_not_is_read_whole(
    high_profile_sim: Simulator,
) -> None:
    container = RtspContainer(high_profile_sim.url_for("no-bframes"))
    try:
        packets = itertools.islice(container.demux(), 3 * REORDER_PROBE_FRAMES)
        times = [packet.pts for packet in packets]
    finally:
        container.close()
    steps = {b - a for a, b in itertools.pairwise(times)}
    assert steps == {90000 // 25}, "the frames read ahead are handed out, none lost"


def test_ingest_reads_a_b_frame_camera_with_ffmpeg_from_the_start(
    high_profile_sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vigil.media.ingest")
    container = CameraIngest(1, high_profile_sim.url_for("bframes"), [])._open()
    try:
        assert container.format.name == "rtsp", "FFmpeg's demuxer"
    finally:
        container.close()
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage().endswith("frames out of order (B-frames); reading it with FFmpeg")


def test_ingest_uses_vigils_client_for_h264_cameras(simulator: Simulator) -> None:
    ingest = CameraIngest(1, simulator.url_for("pattern"), [])
    container = ingest._open()
    try:
        assert container.format.name == "rtsp-vigil"
    finally:
        container.close()


def test_drain_hands_over_what_arrived_then_ends(simulator: Simulator) -> None:
    import time

    container = RtspContainer(simulator.url_for("pattern"))
    try:
        packets = container.demux()
        for _ in range(30):
            next(packets)
        time.sleep(1.0)  # the camera goes on sending while we stop
        container.drain()
        started = time.monotonic()
        rest = sum(1 for _ in packets)
        assert time.monotonic() - started < 1.0, "draining does not wait for the camera"
        assert 0 < rest < 60, "what had arrived (about a second of it), and no more"
    finally:
        container.close()

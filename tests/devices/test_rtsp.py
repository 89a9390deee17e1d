"""Vigil's RTSP client against the simulator: what it reads, and when it steps aside."""

from __future__ import annotations

import io
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import Stack, wait_until
from tests.integration.test_recording_e2e import recorded_seconds
from vigil.devices.rtsp import RtspContainer, RtspError, parse_sdp
from vigil.devices.simulator import Simulator
from vigil.media.ingest import CameraIngest
from vigil.media.rtp import AccessUnit

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


def test_b_frame_camera_falls_back_to_ffmpeg_and_is_recorded(stack: Stack, clip_dir: Path) -> None:
    clip = clip_dir / "bframes.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
         "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25",
         "-pix_fmt", "yuv420p", str(clip)],
        check=True,
    )  # fmt: skip
    with Simulator([clip], port=0, cache_dir=clip_dir / "sim-cache") as sim:
        cam = stack.add_camera("bframes", sim.url_for("bframes"))
        wait_until(lambda: recorded_seconds(stack.timeline(cam["id"])) >= 4, 40, "recorded")
    assert "reading it with FFmpeg" in stack.logs() or "B-frames" in stack.logs()
    wait_until(lambda: not stack.timeline(cam["id"])["recording"], 20, "camera gone")
    files = sorted((stack.data_dir / "recordings" / str(cam["id"])).rglob("*.mp4"))
    total = 0
    for path in files:
        with av.open(str(path)) as c:
            frames = list(c.decode(video=0))
        assert frames[0].key_frame
        total += len(frames)
    assert total >= 75, "B-frame video is recorded whole, in order"


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

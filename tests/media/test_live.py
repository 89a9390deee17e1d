"""Live view fragmenter: real clips demuxed with PyAV, fed packet by packet, no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import struct
import subprocess
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from vigil.media.live import (
    LiveEnded,
    LiveFragment,
    LiveFragmenter,
    LiveInit,
    LiveItem,
    LiveSubscription,
)
from vigil.media.packets import StreamInfo

MIME = re.compile(r'video/mp4; codecs="avc1\.[0-9a-f]{6}"')


@pytest.fixture(scope="session")
def bframe_clip(clip_dir: Path) -> Path:
    """A 6 s 640x360 25 fps H.264 clip with B-frames (pts != dts), keyframe every second."""
    path = clip_dir / "pattern-bframes.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=640x360:rate=25:duration=6", "-c:v", "libx264", "-preset", "veryfast",
         "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p", "-b:v", "1M", str(path)],
        check=True,
    )  # fmt: skip
    return path


class Source:
    """A clip demuxed once: its streams and packets, as an ingest would hand them over."""

    def __init__(self, path: Path, *, with_audio: bool = False) -> None:
        self.container = av.open(str(path))
        self.video = self.container.streams.video[0]
        self.audio = self.container.streams.audio[0] if with_audio else None
        streams: list[Any] = [self.video] + ([self.audio] if self.audio else [])
        self.packets = [p for p in self.container.demux(streams) if p.size]
        self.video_packets = [p for p in self.packets if p.stream.type == "video"]

    def info(self) -> StreamInfo:
        return StreamInfo(
            camera_id=1, video=self.video, audio=self.audio, opened_at=datetime.now(UTC)
        )

    def feed(
        self,
        frag: LiveFragmenter,
        start: int = 0,
        stop: int | None = None,
        *,
        open_: bool = True,
        close: bool = True,
        reason: str | None = None,
    ) -> None:
        if open_:
            frag.open(self.info())
        for packet in self.packets[start:stop]:
            frag.write(packet, datetime.now(UTC))
        if close:
            frag.close(reason)


def top_boxes(data: bytes) -> list[bytes]:
    kinds, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        assert size >= 8, f"bad box size at {pos}"
        kinds.append(kind)
        pos += size
    assert pos == len(data)
    return kinds


async def collect(sub: LiveSubscription, ends: int = 1) -> list[LiveItem]:
    """Read items until ``ends`` LiveEnded items have come."""
    items: list[LiveItem] = []
    async with asyncio.timeout(30):
        async for item in sub:
            items.append(item)
            if isinstance(item, LiveEnded):
                ends -= 1
                if not ends:
                    break
    return items


def decode(data: bytes, tmp_path: Path) -> tuple[list[tuple[float, bool]], int]:
    """Decode an MP4 with PyAV (frame times, keyframe flags) and count frames with ffprobe."""
    path = tmp_path / "live.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        frames = [(float(f.time or 0.0), f.key_frame) for f in container.decode(video=0)]
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return frames, int(probe.stdout.strip())


def media(items: list[LiveItem]) -> bytes:
    return b"".join(i.data for i in items if isinstance(i, LiveInit | LiveFragment))


async def test_init_segment_and_fragments(h264_clip: Path) -> None:
    src = Source(h264_clip)
    frag = LiveFragmenter(asyncio.get_running_loop())
    assert frag.viewer_count == 0
    async with frag.subscribe(max_queue=1000) as sub:
        assert frag.viewer_count == 1
        first = await sub.get()
        assert first == LiveEnded("not started")
        await asyncio.to_thread(src.feed, frag)
        items = await collect(sub)
    assert frag.viewer_count == 0

    init = items[0]
    assert isinstance(init, LiveInit)
    assert init.data[4:8] == b"ftyp"
    assert top_boxes(init.data) == [b"ftyp", b"moov"]
    assert b"avcC" in init.data
    assert MIME.fullmatch(init.mime), init.mime

    fragments = items[1:-1]
    assert all(isinstance(f, LiveFragment) for f in fragments)
    assert len(fragments) == len(src.video_packets)  # one fragment per frame
    for f in fragments:
        assert isinstance(f, LiveFragment)
        assert top_boxes(f.data) == [b"moof", b"mdat"]
    keyframes = [f.keyframe for f in fragments if isinstance(f, LiveFragment)]
    assert keyframes == [p.is_keyframe for p in src.video_packets]
    assert items[-1] == LiveEnded(None)
    assert frag.fragments == len(fragments)


@pytest.mark.parametrize("watched", [False, True], ids=["idle", "watched"])
@pytest.mark.parametrize("clip", ["h264_clip", "bframe_clip"])
async def test_mid_stream_join_is_playable(
    clip: str, watched: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A viewer joining mid-GOP starts at that GOP's keyframe: from the GOP cache when
    someone already watches, or by starting the idle remuxer from the kept packets."""
    src = Source(request.getfixturevalue(clip))
    packets = src.video_packets
    if clip == "bframe_clip":
        assert any(p.pts != p.dts for p in packets), "the clip should have B-frames"
    joined = 40  # in the second GOP
    key = max(n for n, p in enumerate(packets[:joined]) if p.is_keyframe)
    assert key > 0

    frag = LiveFragmenter(asyncio.get_running_loop())
    async with contextlib.AsyncExitStack() as stack:
        if watched:
            await stack.enter_async_context(frag.subscribe(max_queue=1000))
        await asyncio.to_thread(src.feed, frag, 0, joined, close=False)
        assert frag.muxing is watched
        async with frag.subscribe(max_queue=1000) as sub:
            # Watched: init + the GOP cache (the last packet's fragment leaves with the next
            # packet). Idle: the next packet starts the remuxer.
            assert sub.pending == (1 + (joined - 1 - key) if watched else 0)
            feeding = asyncio.create_task(
                asyncio.to_thread(src.feed, frag, joined, None, open_=False)
            )
            items = await collect(sub)
            await feeding
    assert isinstance(items[0], LiveInit)
    assert isinstance(items[1], LiveFragment) and items[1].keyframe
    assert sub.dropped == 0

    frames, probed = decode(media(items), tmp_path)
    expected = len(packets) - key
    assert len(frames) == probed == expected
    assert frames[0][1], "playback starts at a keyframe"
    times = [t for t, _ in frames]
    assert all(a < b for a, b in itertools.pairwise(times))
    # The camera's presentation times, shifted: pts - dts of the keyframe is kept.
    tb: Fraction = packets[0].time_base
    first = packets[0] if watched else packets[key]
    assert first.dts is not None
    source_times = sorted(
        float((p.pts - first.dts) * tb) for p in packets[key:] if p.pts is not None
    )
    assert times == pytest.approx(source_times, abs=1e-3)


async def test_remuxer_idles_without_viewers(h264_clip: Path) -> None:
    src = Source(h264_clip)
    keys = [n for n, p in enumerate(src.video_packets) if p.is_keyframe]
    k1, k2 = keys[1], keys[2]
    assert k2 - k1 > 6
    frag = LiveFragmenter(asyncio.get_running_loop())
    await asyncio.to_thread(src.feed, frag, 0, k1 + 5, close=False)
    assert frag.streaming and not frag.muxing and frag.fragments == 0
    async with frag.subscribe() as sub:
        assert sub.pending == 0
        await asyncio.to_thread(src.feed, frag, k1 + 5, k1 + 6, open_=False, close=False)
        assert frag.muxing
        async with asyncio.timeout(10):
            items = [await sub.get() for _ in range(6)]
        # Packets k1 (keyframe) to k1+5 were muxed; the last one's fragment leaves with the
        # next packet.
        assert isinstance(items[0], LiveInit)
        assert [getattr(i, "keyframe", None) for i in items[1:]] == [True] + [False] * 4
    # Nobody watches: the remuxer stops at the next keyframe.
    await asyncio.to_thread(src.feed, frag, k1 + 6, k2, open_=False, close=False)
    assert frag.muxing
    await asyncio.to_thread(src.feed, frag, k2, k2 + 1, open_=False, close=False)
    assert not frag.muxing
    await asyncio.to_thread(src.feed, frag, k2 + 1, None, open_=False)
    assert not frag.streaming and not frag.muxing


async def test_slow_viewer_is_skipped_forward(h264_clip: Path, tmp_path: Path) -> None:
    src = Source(h264_clip)
    frag = LiveFragmenter(asyncio.get_running_loop(), max_queue=25)  # one GOP
    async with frag.subscribe() as slow, frag.subscribe(max_queue=10_000) as fast:
        assert frag.viewer_count == 2
        # The camera feeds in a burst as fast as it can; the fast viewer reads meanwhile,
        # the slow one never does.
        reading = asyncio.create_task(collect(fast, ends=2))
        await asyncio.to_thread(src.feed, frag)
        got = await reading
        assert slow.dropped > 0 and slow.skips >= 1
        slow_items = []
        while (item := slow.get_nowait()) is not None:
            slow_items.append(item)

    # The fast viewer got everything, in order.
    fragments = [i for i in got if isinstance(i, LiveFragment)]
    assert len(fragments) == len(src.video_packets)
    assert fast.dropped == 0

    # The slow one holds at most max_queue fragments, starting at a keyframe (the stale
    # "not started" went with the dropped fragments).
    slow_fragments = [i for i in slow_items if isinstance(i, LiveFragment)]
    assert 0 < len(slow_fragments) <= 25
    assert slow_fragments[0].keyframe
    assert slow.dropped + len(slow_fragments) == len(src.video_packets)
    assert isinstance(slow_items[0], LiveInit)
    assert slow_items[-1] == LiveEnded(None)
    frames, probed = decode(media(slow_items), tmp_path)
    assert len(frames) == probed == len(slow_fragments)
    assert frames[0][1]


async def test_reopen_sends_new_init(h264_clip: Path, tmp_path: Path) -> None:
    src = Source(h264_clip)
    frag = LiveFragmenter(asyncio.get_running_loop())
    async with frag.subscribe(max_queue=1000) as sub:
        assert await sub.get() == LiveEnded("not started")
        await asyncio.to_thread(src.feed, frag, 0, 60, reason="connection lost")
        # A viewer joining while the camera is down learns why, then waits.
        async with frag.subscribe(max_queue=1000) as late:
            assert await late.get() == LiveEnded("connection lost")
            assert late.pending == 0
            # The next opening starts mid-GOP: fragments start at its first keyframe.
            await asyncio.to_thread(src.feed, frag, 10, None)
            late_items = await collect(late)
        items = await collect(sub, ends=2)

    ended = [n for n, i in enumerate(items) if isinstance(i, LiveEnded)]
    first, second = items[: ended[0] + 1], items[ended[0] + 1 :]
    assert isinstance(first[0], LiveInit) and first[-1] == LiveEnded("connection lost")
    assert len(first) == 1 + 60 + 1
    assert isinstance(second[0], LiveInit) and second[-1] == LiveEnded(None)
    assert second[0] is not first[0]
    assert MIME.fullmatch(second[0].mime)
    assert late_items == second
    assert all(isinstance(i, LiveFragment) for i in second[1:-1])
    frags = [i for i in second if isinstance(i, LiveFragment)]
    key = next(n for n, p in enumerate(src.video_packets) if n >= 10 and p.is_keyframe)
    assert frags[0].keyframe and len(frags) == len(src.video_packets) - key

    # Each opening's timestamps start at 0.
    for part in (first, second):
        frames, probed = decode(media(part), tmp_path)
        assert frames[0] == (0.0, True)
        assert len(frames) == probed == len(part) - 2


async def test_audio_is_ignored(h264_aac_clip: Path) -> None:
    src = Source(h264_aac_clip, with_audio=True)
    assert len(src.packets) > len(src.video_packets)
    frag = LiveFragmenter(asyncio.get_running_loop())
    async with frag.subscribe(max_queue=1000) as sub:
        await asyncio.to_thread(src.feed, frag)
        items = await collect(sub, ends=2)
    init = items[1]
    assert isinstance(init, LiveInit)
    assert b"mp4a" not in init.data and init.data.count(b"trak") == 1
    assert sum(isinstance(i, LiveFragment) for i in items) == len(src.video_packets)


@pytest.fixture(scope="session")
def hevc_clip(clip_dir: Path) -> Path:
    path = clip_dir / "pattern-hevc.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx265", "-preset", "ultrafast",
         "-x265-params", "log-level=error", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def test_hevc_codec_string(hevc_clip: Path) -> None:
    path = hevc_clip
    src = Source(path)
    frag = LiveFragmenter(asyncio.get_running_loop())
    async with frag.subscribe() as sub:
        await asyncio.to_thread(src.feed, frag, 0, 5)
        items = await collect(sub, ends=2)
    init = items[1]
    assert isinstance(init, LiveInit)
    assert re.fullmatch(r'video/mp4; codecs="(hvc1|hev1)\.1\.6\.L\d+(\.[0-9A-F]+)*"', init.mime), (
        init.mime
    )

"""Privacy masks on video: the bitmap, the fill on decoded frames, and the masked
transcoders for playback, export and live view. Every output is decoded again and each
frame's masked area checked: no unmasked frame may come out."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tests.media.test_live import Source, media
from tests.media.test_playback import at, cut_segments, with_walls
from vigil.domain.privacy import PrivacyMask
from vigil.media.live import (
    LiveEnded,
    LiveFragment,
    LiveFragmenter,
    LiveInit,
    LiveItem,
    LiveSubscription,
)
from vigil.media.playback import NoFootageError, export_mp4, stream_fmp4
from vigil.media.privacy import (
    FILL_LEVEL,
    FrameMasker,
    export_masked_mp4,
    mask_image,
    mask_jpeg,
    render_mask,
    stream_masked,
)
from vigil.media.privacy_live import CameraPrivacy, MaskedLive, masked_items

Rgb = npt.NDArray[np.uint8]

WINDOW = PrivacyMask(name="window", points=[(0.1, 0.2), (0.45, 0.2), (0.45, 0.7), (0.1, 0.7)])
DOOR = PrivacyMask(name="door", points=[(0.6, 0.1), (0.9, 0.1), (0.75, 0.6)])
TOLERANCE = 6
"""Grey levels a decoded masked pixel may differ from the fill (lossy coding, YUV->RGB)."""
INSET_PX = 16
"""Pixels this far (a macroblock) inside a mask's edge are checked: nearer the edge, lossy
coding of the blocks the edge crosses blurs the fill with its unmasked neighbours (which
shows nothing hidden: the encoder never saw what is under the mask)."""


def interior(masks: list[PrivacyMask], width: int, height: int, inset: int = INSET_PX) -> Any:
    """The pixels at least ``inset`` inside the masks."""
    bitmap = render_mask(masks, width, height).astype(np.uint8)
    kernel = np.ones((2 * inset + 1, 2 * inset + 1), np.uint8)
    return cv2.erode(bitmap, kernel).astype(bool)


def deviation(rgb: Rgb, where: Any) -> int:
    """The largest difference from the fill grey in the given pixels."""
    return int(np.abs(rgb[where].astype(int) - FILL_LEVEL).max())


def decoded(data: bytes | Path) -> list[Rgb]:
    """Every video frame of an MP4, as RGB."""
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(source) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def assert_all_masked(frames: list[Rgb], masks: list[PrivacyMask]) -> None:
    assert frames, "no frames came out"
    height, width = frames[0].shape[:2]
    hidden = interior(masks, width, height)
    worst = [deviation(f, hidden) for f in frames]
    leaking = [n for n, d in enumerate(worst) if d > TOLERANCE]
    assert not leaking, f"frames {leaking[:10]} show what is masked (worst {max(worst)})"


def psnr(a: Rgb, b: Rgb, where: Any) -> float:
    err = np.mean((a[where].astype(float) - b[where].astype(float)) ** 2)
    return float(10 * np.log10(255**2 / max(err, 1e-9)))


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("mask", "inside", "outside"),
    [
        (WINDOW, [(64, 72), (287, 251), (150, 150)], [(61, 150), (291, 150), (150, 69)]),
        (DOOR, [(480, 100), (384, 36)], [(400, 200), (600, 200), (480, 230)]),
        (
            PrivacyMask(name="all", points=[(0, 0), (1, 0), (1, 1), (0, 1)]),
            [(0, 0), (639, 359), (639, 0), (0, 359)],
            [],
        ),
    ],
    ids=["rectangle", "triangle", "whole-frame"],
)
def test_the_bitmap_covers_the_polygon_and_a_pixel_more(
    mask: PrivacyMask, inside: list[tuple[int, int]], outside: list[tuple[int, int]]
) -> None:
    bitmap = render_mask([mask], 640, 360)
    assert bitmap.shape == (360, 640)
    assert all(bitmap[y, x] for x, y in inside), [bitmap[y, x] for x, y in inside]
    assert not any(bitmap[y, x] for x, y in outside), [bitmap[y, x] for x, y in outside]
    # The area is the polygon's plus a margin of about a pixel round it.
    polygon = mask.area * 640 * 360
    assert polygon <= bitmap.sum() <= polygon + 2 * 3 * (640 + 360) + 16


def test_no_masks_hide_nothing_and_leave_frames_alone() -> None:
    assert not render_mask([], 64, 36).any()
    frame = av.VideoFrame(64, 36, "yuv420p")
    assert FrameMasker().apply(frame) is frame


def test_decoded_frames_are_masked_and_the_decoders_pictures_stay_intact(
    h264_clip: Path,
) -> None:
    """Masked frames are written in place once made private to the frame: P-frames decoded
    after a masked one are exactly those of an unmasked decode outside the mask."""
    masker = FrameMasker([WINDOW])
    with av.open(str(h264_clip)) as plain, av.open(str(h264_clip)) as masked:
        pairs = list(zip(plain.decode(video=0), masked.decode(video=0), strict=True))
        reference = [p.to_ndarray(format="rgb24") for p, _ in pairs[:60]]
        filled = [masker.apply(m).to_ndarray(format="rgb24") for _, m in pairs[:60]]
    hidden = interior([WINDOW], 640, 360, inset=0)
    # Beyond the bitmap by a few pixels: RGB conversion spreads subsampled chroma a little.
    near = cv2.dilate(render_mask([WINDOW], 640, 360).astype(np.uint8), np.ones((9, 9)))
    outside = ~near.astype(bool)
    for ref, out in zip(reference, filled, strict=True):
        assert np.abs(ref[hidden].astype(int) - FILL_LEVEL).max() > 50, "the clip moves there"
        assert deviation(out, hidden) <= 2
        assert np.array_equal(ref[outside], out[outside])


@pytest.mark.parametrize("pixel_format", ["yuv420p", "yuvj420p", "yuv444p", "nv12", "rgb24"])
def test_every_pixel_format_is_filled(pixel_format: str) -> None:
    noise = np.random.default_rng(7).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(noise, format="rgb24").reformat(format=pixel_format)
    out = FrameMasker([WINDOW, DOOR]).apply(frame).to_ndarray(format="rgb24")
    assert deviation(out, interior([WINDOW, DOOR], 640, 360, inset=1)) <= 3
    visible = ~render_mask([WINDOW, DOOR], 640, 360)
    assert np.abs(out[visible].astype(int) - FILL_LEVEL).mean() > 40, "the rest is untouched"


def test_masks_change_at_the_next_frame() -> None:
    masker = FrameMasker([WINDOW])
    grey = np.full((360, 640, 3), 200, np.uint8)

    def masked_share(mask: PrivacyMask) -> float:
        frame = av.VideoFrame.from_ndarray(grey, format="rgb24").reformat(format="yuv420p")
        out = masker.apply(frame).to_ndarray(format="rgb24")
        where = interior([mask], 640, 360)
        return float(np.mean(np.abs(out[where].astype(int) - FILL_LEVEL) <= 3))

    assert masked_share(WINDOW) == 1.0 and masked_share(DOOR) == 0.0
    masker.set_masks([DOOR])
    assert masked_share(WINDOW) == 0.0 and masked_share(DOOR) == 1.0


def test_images_and_jpeg_snapshots_are_masked() -> None:
    image = np.full((360, 640, 3), 230, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    assert mask_jpeg(bytes(jpeg), []) == bytes(jpeg)
    out = cv2.imdecode(np.frombuffer(mask_jpeg(bytes(jpeg), [WINDOW]), np.uint8), 1)
    assert deviation(out, interior([WINDOW], 640, 360)) <= 4
    assert out[10, 600].min() > 200
    assert deviation(mask_image(image, [DOOR]), interior([DOOR], 640, 360, inset=0)) == 0
    with pytest.raises(ValueError, match="not a decodable JPEG"):
        mask_jpeg(b"not a jpeg", [WINDOW])


# --------------------------------------------------------------------------- playback, export


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, h264_aac_clip: Path) -> list[Any]:
    """The audio clip cut into 2 s segments, the last one after a gap."""
    return with_walls(cut_segments(h264_aac_clip, tmp_path_factory.mktemp("segments")))


def test_masked_playback_holds_no_unmasked_frame_and_keeps_time_and_audio(
    recorded: list[Any],
) -> None:
    plain = b"".join(stream_fmp4(recorded, at(0.5), end=at(4)))
    chunks = list(stream_masked(stream_fmp4(recorded, at(0.5), end=at(4)), [WINDOW, DOOR]))
    masked = b"".join(chunks)
    assert masked[4:8] == b"ftyp" and len(chunks) > 1, "streamed as it is encoded"
    plain_frames, masked_frames = decoded(plain), decoded(masked)
    assert len(masked_frames) == len(plain_frames) == 100
    hidden = interior([WINDOW, DOOR], 640, 360)
    assert all(deviation(f, hidden) > 50 for f in plain_frames), "the plain video shows it"
    assert_all_masked(masked_frames, [WINDOW, DOOR])
    # The same video elsewhere: re-encoded, close to the original.
    visible = ~render_mask([WINDOW, DOOR], 640, 360)
    assert min(psnr(a, b, visible) for a, b in zip(plain_frames, masked_frames, strict=True)) > 25
    with av.open(io.BytesIO(plain)) as p, av.open(io.BytesIO(masked)) as m:
        assert m.streams.video[0].codec_context.name == "h264"
        assert m.streams.audio[0].codec_context.name == "aac"
        plain_audio = [a.pts for a in p.demux(audio=0) if a.size]
        masked_audio = [a.pts for a in m.demux(audio=0) if a.size]
        assert masked_audio == plain_audio, "audio is copied"
    with av.open(io.BytesIO(plain)) as p, av.open(io.BytesIO(masked)) as m:
        plain_times = [f.time for f in p.decode(video=0)]
        masked_times = [f.time for f in m.decode(video=0)]
        assert masked_times == pytest.approx(plain_times, abs=1e-3), "same video times"


GAP_END = 2.0 * 2 + 60 + 1.0  # a second into the segment after the gap (see with_walls)


def test_masked_export_keeps_the_range_chapters_and_metadata(
    recorded: list[Any], tmp_path: Path
) -> None:
    progress: list[float] = []
    plain = export_mp4(recorded, at(1), at(GAP_END), tmp_path / "plain.mp4")
    out = tmp_path / "out" / "masked.mp4"
    out.parent.mkdir()
    result = export_masked_mp4(
        recorded, at(1), at(GAP_END), out, [WINDOW], progress=progress.append
    )
    assert sorted(p.name for p in out.parent.iterdir()) == ["masked.mp4"], "no leftovers"
    assert (result.start, result.end, result.pieces) == (plain.start, plain.end, plain.pieces)
    assert result.path == out.resolve() and result.bytes == out.stat().st_size
    assert progress[-1] == 1.0 and progress == sorted(progress)
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "faststart"
    with av.open(str(plain.path)) as p, av.open(str(out)) as m:
        assert [c["metadata"] for c in m.chapters()] == [c["metadata"] for c in p.chapters()]
        assert len(m.chapters()) == 2, "one chapter per piece: the gap is in the middle"
        assert m.metadata["creation_time"] == p.metadata["creation_time"]
        assert "privacy masks applied" in m.metadata["comment"]
        assert m.streams.audio[0].codec_context.name == "aac"
    frames = decoded(out)
    assert len(frames) == len(decoded(plain.path))
    assert_all_masked(frames, [WINDOW])


def test_nothing_recorded_is_no_export_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(NoFootageError):
        export_masked_mp4([], at(0), at(5), tmp_path / "x.mp4", [WINDOW])
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- live


RTP_CLOCK = Fraction(1, 90000)


def feed(
    source: Source, sinks: list[Any], start: int = 0, stop: int | None = None, *, rtp: bool = False
) -> None:
    """Hand packets to sinks as an ingest does (one thread, the same packet to each); with
    ``rtp``, timed on RTP's 90 kHz clock, not the stream's (as Vigil's RTSP client does)."""
    for packet in source.packets[start:stop]:
        wall = datetime.now(UTC)
        if rtp and packet.time_base != RTP_CLOCK:
            assert packet.pts is not None and packet.dts is not None
            tb = packet.time_base
            packet.pts = round(packet.pts * tb / RTP_CLOCK)
            packet.dts = round(packet.dts * tb / RTP_CLOCK)
            packet.time_base = RTP_CLOCK
        for sink in sinks:
            sink.write(packet, wall)


def live_frames(items: list[LiveItem]) -> list[Rgb]:
    """Decode what a viewer received from its last init on."""
    last = max(n for n, item in enumerate(items) if isinstance(item, LiveInit))
    return decoded(media(items[last:]))


async def read(sub: LiveSubscription, into: list[LiveItem], ends: int = 2) -> None:
    """Read a subscription into ``into`` (as a viewer does, concurrently with the feed)
    until ``ends`` LiveEnded items came ("not started", then the end)."""
    async with asyncio.timeout(60):
        async for item in sub:
            into.append(item)
            ends -= isinstance(item, LiveEnded)
            if not ends:
                return


async def until(condition: Any, within_s: float = 20) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - threads change what is polled
            await asyncio.sleep(0.01)


async def test_masked_live_view_is_masked_from_its_first_frame(h264_clip: Path) -> None:
    """A viewer joining mid-GOP gets the masked picture at once (the cached GOP is decoded,
    only its last frame shown), then every frame, all masked; the transcoder stops after
    the last viewer."""
    src = Source(h264_clip)
    masked = MaskedLive(1, asyncio.get_running_loop(), FrameMasker([WINDOW]), linger_s=0.05,
                        max_queue=1000)  # fmt: skip
    masked.open(src.info())
    joined = 40  # mid second GOP: 15 packets since its keyframe are cached
    await asyncio.to_thread(feed, src, [masked], 0, joined, rtp=True)
    assert not masked.running
    received: list[LiveItem] = []
    async with masked.subscribe() as sub:
        assert masked.running and masked.viewer_count == 1
        viewer = asyncio.create_task(read(sub, received))
        await asyncio.to_thread(feed, src, [masked], joined, rtp=True)
        masked.close(None)
        await viewer
    items = [i for i in received if i != LiveEnded("not started")]
    with av.open(io.BytesIO(media(items))) as container:
        times = [float(f.time or 0) for f in container.decode(video=0)]
    assert times == pytest.approx([n / 25 for n in range(len(times))], abs=1e-3), "25 fps"
    assert isinstance(items[0], LiveInit) and "avc1." in items[0].mime
    assert isinstance(items[1], LiveFragment) and items[1].keyframe
    assert items[-1] == LiveEnded(None)
    frames = live_frames(items)
    assert len(frames) == len(src.video_packets) - joined + 1
    assert_all_masked(frames, [WINDOW])
    await until(lambda: not masked.running)
    assert masked.viewer_count == 0 and masked.dropped == 0


async def test_a_mask_change_reaches_live_viewers_at_the_next_frame(h264_clip: Path) -> None:
    src = Source(h264_clip)
    masker = FrameMasker([WINDOW])
    masked = MaskedLive(1, asyncio.get_running_loop(), masker, max_queue=1000)
    masked.open(src.info())
    items: list[LiveItem] = []
    try:
        async with masked.subscribe() as sub:
            viewer = asyncio.create_task(read(sub, items))
            await asyncio.to_thread(feed, src, [masked], 0, 60)
            # The init and the fragments of frames 0..58 (a fragment leaves with the next).
            await until(lambda: len(items) >= 1 + 1 + 59)
            masker.set_masks([DOOR])
            await asyncio.to_thread(feed, src, [masked], 60)
            masked.close(None)
            await viewer
    finally:
        masked.shutdown()
    frames = live_frames(items)
    assert len(frames) == len(src.video_packets)
    before, after = frames[:55], frames[62:]
    assert_all_masked(before, [WINDOW])
    assert_all_masked(after, [DOOR])
    window = interior([WINDOW], 640, 360)
    assert all(deviation(f, window) > 50 for f in after), "the old mask is gone"


async def test_a_transcoder_that_falls_behind_drops_to_a_keyframe_and_stays_masked(
    h264_clip: Path,
) -> None:
    src = Source(h264_clip)
    masked = MaskedLive(1, asyncio.get_running_loop(), FrameMasker([WINDOW]), max_queue=5)
    masked.open(src.info())
    items: list[LiveItem] = []
    try:
        async with masked.subscribe() as sub:
            viewer = asyncio.create_task(read(sub, items))
            await asyncio.to_thread(feed, src, [masked])  # all at once: far too fast
            dropped = masked.dropped
            masked.close(None)
            await viewer
    finally:
        masked.shutdown()
    assert dropped > 0
    fragments = [i for i in items if isinstance(i, LiveFragment)]
    assert 0 < len(fragments) < len(src.video_packets)
    assert_all_masked(live_frames(items), [WINDOW])


async def test_viewers_without_unmask_switch_between_raw_and_masked_as_masks_come_and_go(
    h264_clip: Path,
) -> None:
    """With no masks a masked viewer gets the plain live view (nothing to hide, no
    transcoding); once masks are set the next item is a masked init, never a raw frame."""
    src = Source(h264_clip)
    loop = asyncio.get_running_loop()
    raw = LiveFragmenter(loop)
    privacy = CameraPrivacy(1, loop, [], linger_s=0.05)
    masked = privacy.main
    sinks = [raw, masked]
    for sink in sinks:
        sink.open(src.info())
    received: list[LiveItem] = []
    marks: dict[str, int] = {}

    async def watch() -> None:
        async for item in masked_items(raw, masked):
            received.append(item)

    # Packets are fed in steps, each after the viewer got where it should be: a camera
    # keeps sending, a test's feed ends.
    viewer = asyncio.create_task(watch())
    try:
        await until(lambda: raw.viewer_count == 1)
        await asyncio.to_thread(feed, src, sinks, 0, 30)
        await until(lambda: len(received) >= 20)
        assert not masked.running, "no masks: the plain view, no transcoder"
        assert privacy.set_masks([WINDOW]) and not privacy.set_masks([WINDOW])
        marks["masked"] = len(received)
        await asyncio.to_thread(feed, src, sinks, 30, 32)
        await until(lambda: masked.running)
        await asyncio.to_thread(feed, src, sinks, 32, 100)
        await until(lambda: len(received) > marks["masked"] + 30)
        assert masked.running
        privacy.set_masks([])
        marks["plain"] = len(received)
        # The viewer notices at the transcoder's next frame and joins the plain view,
        # which starts at the camera's next packet.
        await asyncio.to_thread(feed, src, sinks, 100, 110)
        await until(lambda: masked.viewer_count == 0)
        await asyncio.to_thread(feed, src, sinks, 110)
        await until(lambda: len(received) > marks["plain"] + 20)
    finally:
        viewer.cancel()
        privacy.shutdown()
    # Each source starts with its init: plain, masked, plain again.
    inits = [n for n, item in enumerate(received) if isinstance(item, LiveInit)]
    assert len(inits) == 3 and inits[0] == 0, inits
    assert inits[1] == marks["masked"], "masks set: the next item is the masked init"
    assert inits[2] >= marks["plain"], "masks removed: the plain view comes back after"
    plain_part, masked_part = received[: inits[1]], received[inits[1] : inits[2]]
    assert_all_masked(decoded(media(masked_part)), [WINDOW])
    hidden = interior([WINDOW], 640, 360)
    for part in (plain_part, received[inits[2] :]):
        assert all(deviation(f, hidden) > 50 for f in decoded(media(part)))
    await until(lambda: not masked.running)


def test_packets_cost_nothing_without_masks_or_viewers(h264_clip: Path) -> None:
    loop = asyncio.new_event_loop()
    masked = MaskedLive(1, loop, FrameMasker([]))
    src = Source(h264_clip)
    masked.open(src.info())
    feed(src, [masked])
    assert masked._gop is None and not masked.running
    loop.close()

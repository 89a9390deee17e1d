"""Privacy masks on video: drawn onto decoded frames, and the masked transcoders for
playback (an fMP4 stream) and export (a faststart MP4).

Masks are filled with a solid grey (:data:`FILL_LEVEL`): a blur or a mosaic can be partly
undone, a solid fill cannot. They are drawn a pixel wider than their outline
(:data:`MARGIN_PX`), so that no pixel the polygon touches shows, and the chroma planes
are filled wherever any of their luma pixels is.

A masked stream is made by decoding, filling every frame and encoding again (H.264,
libx264 ``veryfast``): the encoder never sees an unmasked frame, so its output cannot hold
one. Audio is copied. Timestamps are kept, so a masked playback starts at the same
wall-clock time as the plain one, and an export keeps its chapters and metadata.

- :class:`FrameMasker`: fills a camera's masks into ``VideoFrame``s (any planar YUV; other
  formats are converted), caching the bitmap per frame size; masks change atomically.
- :func:`mask_image` / :func:`mask_jpeg`: the same fill on BGR images and JPEG snapshots.
- :func:`stream_masked`: plain fMP4 chunks in (``media/playback.py stream_plan``), masked
  fMP4 chunks out. :func:`export_masked_mp4`: like ``export_mp4``, masked.

Live masked video (a recorder-side transcoder shared by the viewers of a camera) is in
``media/privacy_live.py``. Cost: encoding dominates; see ``bench/privacy_masks.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.codec.context import CodecContext
from av.container import InputContainer, OutputContainer
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType, VideoFrame
from av.video.stream import VideoStream

from vigil.domain.privacy import PrivacyMask
from vigil.media.mp4 import MemoryFile
from vigil.media.playback import (
    DEFAULT_CHUNK_SIZE,
    FRAGMENTED_MOVFLAGS,
    ExportResult,
    NoFootageError,
    SegmentFile,
    export_mp4,
)

__all__ = [
    "FILE_H264",
    "FILL_LEVEL",
    "LIVE_H264",
    "FrameMasker",
    "H264Settings",
    "configure_h264",
    "export_masked_mp4",
    "h264_encoder",
    "mask_image",
    "mask_jpeg",
    "render_mask",
    "stream_masked",
]

log = logging.getLogger(__name__)

FILL_LEVEL = 32
"""Grey level (0..255, full range) of masked pixels: dark, but not black, so a mask reads as
a mask and not as a dark scene."""
MARGIN_PX = 1
"""Masks are widened by this many pixels, so that edge pixels the polygon only partly
covers are hidden too."""
_SUBPIXEL_BITS = 4  # cv2.fillPoly fixed-point precision: 1/16 pixel
_LIMITED_LUMA = 16 + round(FILL_LEVEL * 219 / 255)  # the same grey in limited-range luma
_NEUTRAL_CHROMA = 128
_PLANAR_YUV = {
    "yuv420p": False,
    "yuv422p": False,
    "yuv444p": False,
    "yuvj420p": True,
    "yuvj422p": True,
    "yuvj444p": True,
    "gray": False,
}
"""Pixel formats filled in place, and whether their luma is full range."""
_GLOBAL_HEADER = 1 << 22  # AV_CODEC_FLAG_GLOBAL_HEADER: SPS/PPS in extradata (MP4's avcC)
_EXPORT_MASK_SHARE = 0.9  # of an export's progress: the transcode (the plain export is fast)

BoolMask = npt.NDArray[np.bool_]
Image = npt.NDArray[np.uint8]


# --------------------------------------------------------------------------- rendering


def render_mask(masks: Sequence[PrivacyMask], width: int, height: int) -> BoolMask:
    """The pixels of a ``width`` x ``height`` frame that the masks hide (True: hidden).

    >>> from vigil.domain.privacy import PrivacyMask
    >>> left = PrivacyMask(name="left", points=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)])
    >>> bitmap = render_mask([left], 8, 4)
    >>> bitmap[:, :4].all(), bitmap[:, 6:].any()
    (np.True_, np.False_)
    """
    bitmap = np.zeros((height, width), np.uint8)
    if not masks or width <= 0 or height <= 0:
        return bitmap.astype(bool)
    scale = np.array([width, height], np.float64) * (1 << _SUBPIXEL_BITS)
    polygons = [
        np.round(np.asarray(mask.points, np.float64) * scale).astype(np.int32) for mask in masks
    ]
    cv2.fillPoly(bitmap, polygons, 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    if MARGIN_PX:
        size = 2 * MARGIN_PX + 1
        bitmap = cast(Image, cv2.dilate(bitmap, np.ones((size, size), np.uint8)))
    return cast(BoolMask, bitmap.astype(bool))


def _pooled(bitmap: BoolMask, width: int, height: int) -> BoolMask:
    """A bitmap shrunk to a subsampled plane's size: a plane pixel is hidden when any of
    the full-size pixels it covers is (2x2 for 4:2:0 chroma)."""
    full_h, full_w = bitmap.shape
    if (width, height) == (full_w, full_h):
        return bitmap
    fy, fx = -(-full_h // height), -(-full_w // width)  # ceil division
    padded = np.zeros((height * fy, width * fx), bool)
    padded[:full_h, :full_w] = bitmap[: height * fy, : width * fx]
    return cast(BoolMask, padded.reshape(height, fy, width, fx).any(axis=(1, 3)))


def mask_image(image: Image, masks: Sequence[PrivacyMask]) -> Image:
    """Fill the masks into a BGR (or grey) image in place, and return it."""
    if masks:
        height, width = image.shape[:2]
        image[render_mask(masks, width, height)] = FILL_LEVEL
    return image


def mask_jpeg(jpeg: bytes, masks: Sequence[PrivacyMask], quality: int = 85) -> bytes:
    """A JPEG with the masks filled in (unchanged when there are none).

    Raises:
        ValueError: The bytes are not a decodable image.
    """
    if not masks:
        return jpeg
    image = cast(Image | None, cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
    if image is None:
        raise ValueError("the snapshot is not a decodable JPEG")
    ok, encoded = cv2.imencode(
        ".jpg", mask_image(image, masks), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("encoding the masked snapshot failed")
    return bytes(encoded)


class FrameMasker:
    """Fills a camera's masks into decoded frames.

    ``set_masks`` may be called from any thread: each frame is masked with one consistent
    set (the tuple is swapped whole). Bitmaps are cached per frame size and set of masks.

    Args:
        masks: The masks to apply (none: frames pass unchanged).
    """

    def __init__(self, masks: Sequence[PrivacyMask] = ()) -> None:
        # (version, masks), swapped whole: a reader never sees one without the other.
        self._state: tuple[int, tuple[PrivacyMask, ...]] = (0, tuple(masks))
        self._cache: dict[tuple[int, int, int], BoolMask] = {}
        self._planes: dict[tuple[object, ...], list[BoolMask]] = {}

    @property
    def masks(self) -> tuple[PrivacyMask, ...]:
        """The masks applied now."""
        return self._state[1]

    def set_masks(self, masks: Sequence[PrivacyMask]) -> None:
        """Apply these masks from the next frame on."""
        self._state = (self._state[0] + 1, tuple(masks))

    def bitmap(self, width: int, height: int) -> BoolMask:
        """The current masks' bitmap for a frame size."""
        version, masks = self._state
        key = (version, width, height)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 8:  # sizes and mask sets change rarely
                self._cache.clear()
            found = self._cache[key] = render_mask(masks, width, height)
        return found

    def apply(self, frame: VideoFrame) -> VideoFrame:
        """The frame with the masks filled in.

        The fill is written into the frame's own planes once they are private to it
        (``make_writable`` copies a buffer the decoder still references), so the decoder's
        reference pictures are never touched; other pixel formats are converted to
        yuv420p first. A frame is returned unchanged when there are no masks."""
        if not self._state[1]:
            return frame
        name = frame.format.name
        if name not in _PLANAR_YUV:
            frame = frame.reformat(format="yuv420p")
            name = "yuv420p"
        else:
            frame.make_writable()
        planes = frame.planes
        hidden = self._plane_bitmaps(frame.width, frame.height, planes)
        luma = FILL_LEVEL if _PLANAR_YUV[name] else _LIMITED_LUMA
        for index, (plane, where) in enumerate(zip(planes, hidden, strict=True)):
            rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
            np.putmask(rows[:, : plane.width], where, luma if index == 0 else _NEUTRAL_CHROMA)
        return frame

    def _plane_bitmaps(self, width: int, height: int, planes: Sequence[Any]) -> list[BoolMask]:
        """The bitmap of each plane (chroma planes pooled to their size), cached."""
        version = self._state[0]
        sizes = tuple((plane.width, plane.height) for plane in planes)
        key = (version, width, height, sizes)
        found = self._planes.get(key)
        if found is None:
            if len(self._planes) > 8:
                self._planes.clear()
            bitmap = self.bitmap(width, height)
            found = self._planes[key] = [_pooled(bitmap, w, h) for w, h in sizes]
        return found


# --------------------------------------------------------------------------- encoding


@dataclasses.dataclass(frozen=True, slots=True)
class H264Settings:
    """How masked video is encoded.

    Attributes:
        preset: x264 speed preset.
        crf: Constant quality (lower: better, bigger).
        zerolatency: x264's low-latency tuning (no frame threads, no lookahead): live.
        max_keyframe_s: Longest interval between keyframes; keyframes also follow the
            source's, so a joining viewer or a seek finds one where the camera had one.
    """

    preset: str = "veryfast"
    crf: int = 23
    zerolatency: bool = False
    max_keyframe_s: float = 4.0


FILE_H264 = H264Settings()
LIVE_H264 = H264Settings(zerolatency=True, max_keyframe_s=2.0)


def configure_h264(
    ctx: VideoCodecContext,
    width: int,
    height: int,
    time_base: Fraction,
    rate: Fraction | None,
    settings: H264Settings,
) -> VideoCodecContext:
    """Set up a libx264 context for masked frames (yuv420p, no B-frames: output timestamps
    equal input timestamps, so the result maps to wall time exactly as the source did).

    Args:
        time_base: Of the frames' ``pts`` (the source stream's).
        rate: The source's frame rate, for rate control and the keyframe interval.
    """
    ctx.width, ctx.height = width - width % 2, height - height % 2
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = time_base
    fps = rate if rate is not None and rate > 0 else Fraction(25)
    ctx.framerate = fps
    ctx.gop_size = max(1, round(float(fps) * settings.max_keyframe_s))
    ctx.max_b_frames = 0
    options = {"preset": settings.preset, "crf": str(settings.crf), "x264-params": "forced-idr=1"}
    if settings.zerolatency:
        options["tune"] = "zerolatency"
    ctx.options = options
    return ctx


def h264_encoder(
    width: int, height: int, time_base: Fraction, rate: Fraction | None, settings: H264Settings
) -> VideoCodecContext:
    """A stand-alone libx264 encoder (see :func:`configure_h264`) whose parameter sets are
    in ``extradata`` once it is open, as MP4's avcC needs them."""
    ctx = CodecContext.create("libx264", "w")
    assert isinstance(ctx, VideoCodecContext)
    ctx.flags |= _GLOBAL_HEADER
    return configure_h264(ctx, width, height, time_base, rate, settings)


def prepare_for_encoder(frame: VideoFrame) -> VideoFrame:
    """Tell the encoder which frames must be keyframes: the source's keyframes. A decoded
    frame carries the type it was coded with; any other type would be forced on x264."""
    frame.pict_type = PictureType.I if frame.key_frame else PictureType.NONE
    return frame


# --------------------------------------------------------------------------- transcoding


class _ChunkReader:
    """A read-only, non-seekable file over an iterator of byte chunks (for PyAV)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._done = False

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; empty at the end."""
        while len(self._buffer) < size and not self._done:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self._done = True
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


class _Transcode:
    """Decode a source's video, mask every frame, encode; copy its AAC audio.

    Output timestamps are the source's. ``run`` yields after each packet written to the
    output, so that a streaming caller can hand on what the muxer produced."""

    def __init__(
        self,
        src: InputContainer,
        out: OutputContainer,
        masker: FrameMasker,
        settings: H264Settings = FILE_H264,
    ) -> None:
        if not src.streams.video:
            raise NoFootageError("the recording holds no video to mask")
        self.src, self.out, self.masker = src, out, masker
        self.video_in: VideoStream = src.streams.video[0]
        self.audio_in: AudioStream | None = next(
            (a for a in src.streams.audio if a.codec_context.name == "aac"), None
        )
        ctx = self.video_in.codec_context
        self.time_base = self.video_in.time_base or Fraction(1, 90000)
        rate = self.video_in.average_rate
        self.video_out = out.add_stream("libx264", rate=rate or Fraction(25))
        configure_h264(
            self.video_out.codec_context, ctx.width, ctx.height, self.time_base, rate, settings
        )
        self.audio_out = (
            out.add_stream_from_template(self.audio_in) if self.audio_in is not None else None
        )
        self.frames = 0
        self.last_s = 0.0

    def run(self) -> Iterator[None]:
        """Transcode to the end of the source; yields after each packet written."""
        streams: list[Any] = [self.video_in]
        if self.audio_in is not None:
            streams.append(self.audio_in)
        decoder = self.video_in.codec_context
        decoder.thread_type = "AUTO"
        try:
            for packet in self.src.demux(streams):
                if not packet.size:
                    continue  # the demuxer's end marker: flushed below, once
                if packet.stream_index == self.video_in.index:
                    for frame in decoder.decode(packet):
                        yield from self._encode(frame)
                elif packet.dts is not None and self.audio_out is not None:
                    packet.stream = self.audio_out
                    self.out.mux(packet)
                    yield
        except av.error.FFmpegError as exc:
            # A source cut short (a damaged last fragment): what was decoded is kept.
            log.info("masked transcode: source ends early (%s)", exc)
        for frame in decoder.decode(None):
            yield from self._encode(frame)
        yield from self._mux(self.video_out.encode(None))

    def _encode(self, frame: VideoFrame) -> Iterator[None]:
        if frame.pts is None:
            return
        masked = prepare_for_encoder(self.masker.apply(frame))
        masked.time_base = self.time_base
        self.frames += 1
        self.last_s = float(frame.pts * self.time_base)
        yield from self._mux(self.video_out.encode(masked))

    def _mux(self, packets: Iterable[av.Packet[Any]]) -> Iterator[None]:
        for packet in packets:
            self.out.mux(packet)
            yield


def stream_masked(
    chunks: Iterator[bytes],
    masks: Sequence[PrivacyMask],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[bytes]:
    """The masked version of a fragmented MP4 stream (``stream_plan``'s chunks): the header,
    then each fragment (one GOP) as soon as it is encoded. Blocking: iterate in a worker
    thread. The source iterator is closed when this one is."""
    masker = FrameMasker(masks)
    sink = MemoryFile()
    try:
        src = av.open(_ChunkReader(chunks), "r", format="mp4")
        with src:
            out = av.open(sink, "w", format="mp4", options={"movflags": FRAGMENTED_MOVFLAGS})
            try:
                for _ in _Transcode(src, out, masker).run():
                    yield from sink.drain(chunk_size)
            finally:
                out.close()
        yield from sink.drain(chunk_size)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def export_masked_mp4(
    segments: Sequence[SegmentFile],
    start: datetime,
    end: datetime,
    out: Path,
    masks: Sequence[PrivacyMask],
    *,
    progress: Callable[[float], None] | None = None,
) -> ExportResult:
    """Like ``export_mp4`` (same range, pieces, chapters and metadata), with the masks
    filled into every frame: the plain export is made next to ``out``, transcoded, and
    removed. The masked file is renamed into place only when complete.

    Raises:
        NoFootageError: Nothing recorded in the range.
    """
    out = out.resolve()
    plain = out.with_name(f".{out.name}.plain.mp4")
    partial = out.with_name(f".{out.name}.partial")
    share = 1.0 - _EXPORT_MASK_SHARE

    def plain_progress(done: float) -> None:
        if progress is not None:
            progress(done * share)

    try:
        result = export_mp4(segments, start, end, plain, progress=plain_progress)
        duration = max(result.duration_s, 1e-3)
        with (
            av.open(str(plain), "r") as src,
            av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as output,
        ):
            for key in ("creation_time", "comment"):
                if key in src.metadata:
                    output.metadata[key] = src.metadata[key]
            output.metadata["comment"] = (
                f"{output.metadata.get('comment', 'vigil export')}; privacy masks applied"
            )
            transcode = _Transcode(src, output, FrameMasker(masks))
            reported = 0.0
            for _ in transcode.run():
                done = min(transcode.last_s / duration, 1.0)
                if progress is not None and done >= reported + 0.01:
                    reported = done
                    progress(share + done * _EXPORT_MASK_SHARE)
            output.set_chapters(src.chapters())
        os.replace(partial, out)
    finally:
        plain.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    if progress is not None:
        progress(1.0)
    return dataclasses.replace(result, path=out, bytes=out.stat().st_size)

"""Frames for analytics: a tap on a camera's ingest and a decoder that samples its frames.

The ingest hands packets to :class:`AnalyticsTap` (a ``PacketSink``) on its own thread. The tap
copies what it needs (a few KB per packet) into a bounded queue and returns at once, so
analytics never slows recording: when the queue is full it drops packets until the next
keyframe (a decoder cannot start anywhere else) and counts them. :class:`FrameDecoder`'s
thread decodes the queue (PyAV, one thread per camera) and hands on frames sampled at the
configured rate, by the stream's own timestamps.

The tap stays in the ingest for as long as the camera records, with or without a decoder
attached, so that analytics can be switched on, off or reconfigured without touching the
recording; it also keeps the latest keyframe, so that a snapshot can be decoded while
analytics is off (to draw zones before enabling it).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame

from vigil.media.packets import CopiedPacket, StreamInfo, StreamParams
from vigil.named_thread import NamedThread

log = logging.getLogger(__name__)

MAX_QUEUED_PACKETS = 100
"""About 4 s of a 25 fps stream: more means the decoder cannot keep up."""
IDLE_TICK_S = 1.0
"""The decoder thread wakes at least this often (status reports while the stream is silent)."""
SAMPLE_TOLERANCE_S = 1e-3
"""Float timestamps: a frame this close before its sampling instant is taken."""


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """One frame picked for analysis.

    Attributes:
        frame: The decoded frame (any pixel format; convert as needed).
        t: Stream time (s) of this opening.
        wall: Wall-clock time of the frame (UTC).
    """

    frame: VideoFrame
    t: float
    wall: datetime


def to_bgr(frame: VideoFrame) -> npt.NDArray[np.uint8]:
    """A frame as an H x W x 3 BGR image (what detectors and OpenCV take)."""
    return cast(npt.NDArray[np.uint8], frame.to_ndarray(format="bgr24"))


def decode_image(params: StreamParams, packet: CopiedPacket) -> VideoFrame | None:
    """Decode one keyframe on its own (a snapshot); None when it does not decode."""
    ctx = params.decoder()
    try:
        frames = list(ctx.decode(packet.to_av())) + list(ctx.decode(None))
    except av.error.FFmpegError as exc:
        log.warning("decoding a keyframe for a snapshot failed: %s", exc)
        return None
    return frames[0] if frames else None


class AnalyticsTap:
    """A ``PacketSink`` in a camera's ingest that feeds the attached decoder, if any.

    Args:
        keep_keyframe: Keep a copy of the latest keyframe (for snapshots while no decoder
            is attached).
    """

    def __init__(self, *, keep_keyframe: bool) -> None:
        self._keep_keyframe = keep_keyframe
        self._params: StreamParams | None = None
        self._keyframe: CopiedPacket | None = None
        self._decoder: FrameDecoder | None = None

    def attach(self, decoder: FrameDecoder | None) -> None:
        """Feed ``decoder`` from now on (None: nobody); it opens at the next keyframe."""
        params = self._params
        if decoder is not None and params is not None:
            decoder.open(params)
        self._decoder = decoder

    @property
    def params(self) -> StreamParams | None:
        """The open stream's parameters (None while it is not streaming)."""
        return self._params

    def snapshot(self) -> VideoFrame | None:
        """The latest keyframe, decoded (None before the first one)."""
        params, keyframe = self._params, self._keyframe
        if params is None or keyframe is None:
            return None
        return decode_image(params, keyframe)

    # PacketSink ------------------------------------------------------------------------
    def open(self, info: StreamInfo) -> None:
        """A (re)started stream."""
        self._params = StreamParams.of(info)
        self._keyframe = None
        if self._decoder is not None:
            self._decoder.open(self._params)

    def write(self, packet: av.Packet[Any], wall: datetime) -> None:
        """Copy a video packet to the decoder's queue; O(1), never blocks."""
        stream = packet.stream
        if stream is not None and stream.type != "video":
            return
        decoder = self._decoder
        keyframe = bool(packet.is_keyframe)
        if decoder is None and not (keyframe and self._keep_keyframe):
            return
        copied = CopiedPacket.of(packet, keyframe, wall)
        if keyframe and self._keep_keyframe:
            self._keyframe = copied
        if decoder is not None:
            decoder.put(copied)

    def close(self, reason: str | None) -> None:
        """The stream ended."""
        self._params = None
        if self._decoder is not None:
            self._decoder.close()


class _Open:
    __slots__ = ("params",)

    def __init__(self, params: StreamParams) -> None:
        self.params = params


class _Close:
    __slots__ = ()


_Item = CopiedPacket | _Open | _Close


class FrameDecoder:
    """Decodes one camera's queued packets on its own thread and samples frames.

    Args:
        camera_id: For logs and the thread's name.
        fps: Frames per second to sample, by the stream's timestamps.
        on_frame: Called on the decoder thread with each sampled frame.
        on_tick: Called on the decoder thread after each batch of work and at least every
            ``IDLE_TICK_S`` (status reports).
        max_queue: Packets that may wait; beyond that packets are dropped up to the next
            keyframe.
    """

    def __init__(
        self,
        camera_id: int,
        fps: float,
        on_frame: Callable[[SampledFrame], None],
        *,
        on_tick: Callable[[], None] | None = None,
        max_queue: int = MAX_QUEUED_PACKETS,
    ) -> None:
        self.camera_id = camera_id
        self._interval = 1.0 / fps
        self._on_frame = on_frame
        self._on_tick = on_tick
        self._max_queue = max_queue
        self._queue: deque[_Item] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dropping = False
        self._thread: threading.Thread | None = None
        self.frames_decoded = 0
        self.frames_sampled = 0
        self.packets_dropped = 0
        self.items_done = 0
        """Items (stream openings, packets, ends) taken off the queue and fully handled,
        their sampled frames handed on: a file fed one item at a time waits for this."""
        self.last_error: str | None = None

    # Ingest side -----------------------------------------------------------------------
    def open(self, params: StreamParams) -> None:
        """A stream (re)opened: decode it from its first keyframe."""
        self._dropping = False
        self._queue.append(_Open(params))
        self._wake.set()

    def put(self, packet: CopiedPacket) -> None:
        """Queue a packet; O(1), never blocks. When the queue is full, this packet and the
        ones after it are dropped until a keyframe finds room."""
        if self._dropping and not packet.keyframe:
            self.packets_dropped += 1
            return
        if len(self._queue) >= self._max_queue:
            self._dropping = True
            self.packets_dropped += 1
            return
        self._dropping = False
        self._queue.append(packet)
        self._wake.set()

    def close(self) -> None:
        """The stream ended."""
        self._queue.append(_Close())
        self._wake.set()

    @property
    def queued(self) -> int:
        """Packets waiting to be decoded."""
        return len(self._queue)

    # Decoder side ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the decoder thread."""
        self._thread = NamedThread(target=self.run, name=f"decode-{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the decoder thread (what is queued is dropped)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Decode and sample until stopped."""
        ctx: VideoCodecContext | None = None
        next_t: float | None = None
        walls: dict[int, datetime] = {}
        waiting_for_key = True
        while not self._stop.is_set():
            self._wake.wait(IDLE_TICK_S)
            self._wake.clear()
            while self._queue and not self._stop.is_set():
                item = self._queue.popleft()
                try:
                    if isinstance(item, _Open):
                        ctx = item.params.decoder(for_analysis=True)
                        next_t, waiting_for_key = None, True
                        walls.clear()
                        continue
                    if isinstance(item, _Close):
                        ctx = None
                        continue
                    if ctx is None or (waiting_for_key and not item.keyframe):
                        continue
                    waiting_for_key = False
                    if item.pts is not None:
                        walls[item.pts] = item.wall
                        if len(walls) > 64:  # frames leave the decoder within a few packets
                            del walls[next(iter(walls))]
                    try:
                        frames = ctx.decode(item.to_av())
                    except av.error.FFmpegError as exc:
                        # A damaged packet: start again at the next keyframe.
                        self.last_error = f"decoding failed: {exc}"
                        ctx.flush_buffers()
                        waiting_for_key = True
                        continue
                    for frame in frames:
                        self.frames_decoded += 1
                        if frame.pts is None:
                            continue
                        t = float(frame.pts * (frame.time_base or item.time_base))
                        if next_t is not None and t < next_t - SAMPLE_TOLERANCE_S:
                            continue
                        # After a gap longer than one interval, sample from here on.
                        if next_t is None or t - next_t > self._interval:
                            next_t = t
                        next_t += self._interval
                        self.frames_sampled += 1
                        wall = walls.get(frame.pts, item.wall)
                        try:
                            self._on_frame(SampledFrame(frame, t, wall))
                        except Exception:  # analytics must keep going whatever one frame does
                            log.exception("camera %s: analysing a frame failed", self.camera_id)
                finally:
                    self.items_done += 1
            if self._on_tick is not None:
                try:
                    self._on_tick()
                except Exception:
                    log.exception("camera %s: analytics status failed", self.camera_id)

"""Masked live view: viewers without the unmask permission never receive raw video.

Per camera stream (main, sub) a :class:`MaskedLive` sits in the ingest as one more
``PacketSink``. While nobody watches masked it costs nothing when the camera has no masks,
and one small copy per video packet when it has (the packets since the last keyframe, so
that a masked viewer starts at once). The first masked viewer starts one transcoder
thread, shared by every masked viewer of that stream:

```
ingest --packets--> MaskedLive (copy; bounded queue, dropped up to the next keyframe when
                    the transcoder falls behind: live video drops, recording never waits)
        '--> transcoder thread: decode -> FrameMasker -> libx264 (zerolatency, keyframes
             where the camera has them) --> LiveFragmenter --> masked viewers
```

The fragments are the unmasked live view's (``media/live.py``): init, then one fragment per
frame; viewers get the same messages. The transcoder stops ``linger_s`` after the last
masked viewer leaves (a viewer switching cameras and back does not restart it).

:func:`masked_items` is what a masked viewer reads: the transcoder's output while the
camera has masks, the plain live view while it has none (nothing to hide, nothing to pay),
switching between them with a fresh init when masks are added or removed; a raw fragment
that arrives after masks were set is never passed on. Mask changes reach the transcoder
at its next frame (``FrameMasker.set_masks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

import av
import av.container
import av.error
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame

from vigil.domain.privacy import PrivacyMask
from vigil.media.live import LiveEnded, LiveFragmenter, LiveItem, LiveSubscription
from vigil.media.packets import CopiedPacket, StreamInfo, StreamParams
from vigil.media.privacy import LIVE_H264, FrameMasker, h264_encoder, prepare_for_encoder
from vigil.named_thread import NamedThread
from vigil.store.types import utcnow

__all__ = ["CameraPrivacy", "MaskedLive", "masked_items"]

log = logging.getLogger(__name__)

MAX_QUEUED_PACKETS = 60
"""About 2 s of a 25 fps stream waiting for the transcoder: beyond that it drops frames."""
MAX_GOP_PACKETS = 600
"""Longest GOP kept for a quick start (a longer one: the first viewer waits a keyframe)."""
LINGER_S = 5.0
"""The transcoder runs this long after the last masked viewer left."""
IDLE_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class _Packet(CopiedPacket):
    """A copied video packet; from the GOP cache, decoded to reach the present, of whose
    frames only those from ``show_from`` on (the latest) are shown."""

    show_from: int | None = None

    @property
    def replay(self) -> bool:
        return self.show_from is not None


@dataclass(frozen=True, slots=True)
class _Open:
    params: StreamParams


@dataclass(frozen=True, slots=True)
class _Close:
    reason: str | None


class _Stop:
    pass


_Item = _Packet | _Open | _Close | _Stop


class _Transcoder:
    """One run of the transcoder thread: decode, mask, encode, hand to ``output``."""

    def __init__(
        self, camera_id: int, masker: FrameMasker, output: LiveFragmenter, max_queue: int
    ) -> None:
        self.camera_id = camera_id
        self.max_queue = max_queue
        self.masker = masker
        self.output = output
        self.queue: deque[_Item] = deque()
        self.wake = threading.Event()
        self.dropping = False
        self.dropped = 0
        self.frames = 0
        self._decoder: VideoCodecContext | None = None
        self._encoder: VideoCodecContext | None = None
        self._template: av.container.InputContainer | None = None
        self._waiting_for_key = True
        self._replay_until: int | None = None
        # Of the packets (and so of the frames): an ingest's packets may be timed on another
        # clock than its stream says (RTP's 90 kHz for a raw H.264 template stream).
        self._time_base: Fraction | None = None
        self._thread = NamedThread(target=self._run, name=f"masked-live-{camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread runs (it ends on a stop, or after a failure it reported)."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it (blocking)."""
        self.queue.append(_Stop())
        self.wake.set()
        self._thread.join(timeout)

    # Ingest side (under MaskedLive's lock) -------------------------------------------------
    def put(self, packet: _Packet) -> None:
        """Queue a packet; when the queue is full, drop up to the next keyframe."""
        if self.dropping and not packet.keyframe:
            self.dropped += 1
            return
        if len(self.queue) >= self.max_queue and not packet.replay:
            self.dropping = True
            self.dropped += 1
            return
        self.dropping = False
        self.queue.append(packet)
        self.wake.set()

    def put_control(self, item: _Open | _Close) -> None:
        self.queue.append(item)
        self.wake.set()

    # Thread side -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                self.wake.wait(IDLE_WAIT_S)
                self.wake.clear()
                while self.queue:
                    item = self.queue.popleft()
                    if isinstance(item, _Stop):
                        self._finish(None, flush=False)
                        return
                    self._handle(item)
        except Exception as exc:  # a transcoder bug must end its viewers' stream, not hang it
            log.exception("camera %s: masked live view failed", self.camera_id)
            with contextlib.suppress(Exception):
                self._finish(f"masked live view failed: {exc}", flush=False)

    def _handle(self, item: _Open | _Close | _Packet) -> None:
        if isinstance(item, _Open):
            self._finish(None, flush=True, announce=False)
            self._decoder = item.params.decoder()
            self._waiting_for_key, self._replay_until = True, None
        elif isinstance(item, _Close):
            self._finish(item.reason, flush=True)
        elif self._decoder is not None:
            self._decode(item)

    def _decode(self, packet: _Packet) -> None:
        assert self._decoder is not None
        if self._waiting_for_key and not packet.keyframe:
            return
        self._waiting_for_key = False
        if packet.show_from is not None:
            self._replay_until = packet.show_from
        self._time_base = packet.time_base
        try:
            frames = self._decoder.decode(packet.to_av())
        except av.error.FFmpegError as exc:
            log.info("camera %s: masked live: a packet did not decode (%s)", self.camera_id, exc)
            self._decoder.flush_buffers()
            self._waiting_for_key = True
            return
        for frame in frames:
            self._encode(frame, packet.wall)

    def _encode(self, frame: VideoFrame, wall: datetime) -> None:
        if frame.pts is None:
            return
        if self._replay_until is not None:
            if frame.pts < self._replay_until:
                return  # catching up through the cached GOP: only its last frame is shown
            self._replay_until = None
        time_base = self._time_base
        assert time_base is not None
        size = (frame.width - frame.width % 2, frame.height - frame.height % 2)
        encoder = self._encoder
        if encoder is not None and ((encoder.width, encoder.height), encoder.time_base) != (
            size,
            time_base,
        ):
            self._flush_encoder(wall)  # a new size: a new encoder and a new init segment
        if self._encoder is None:
            self._encoder = h264_encoder(frame.width, frame.height, time_base, None, LIVE_H264)
        masked = prepare_for_encoder(self.masker.apply(frame))
        masked.time_base = time_base
        self.frames += 1
        for packet in self._encoder.encode(masked):
            self._emit(packet, wall)

    def _emit(self, packet: av.Packet[Any], wall: datetime) -> None:
        if packet.is_keyframe and self._template is None:
            assert self._encoder is not None and self._encoder.extradata is not None
            # PyAV copies a template stream's parameters: an in-memory H.264 file of the
            # parameter sets and the first keyframe gives one with the encoder's avcC.
            sample = bytes(self._encoder.extradata) + bytes(packet)
            self._template = template = av.open(io.BytesIO(sample), "r", format="h264")
            info = StreamInfo(self.camera_id, template.streams.video[0], None, utcnow())
            self.output.open(info)
        if self._template is not None:
            self.output.write(packet, wall)

    def _flush_encoder(self, wall: datetime) -> None:
        encoder, self._encoder = self._encoder, None
        if encoder is not None and encoder.is_open:
            with contextlib.suppress(av.error.FFmpegError):
                for packet in encoder.encode(None):
                    self._emit(packet, wall)
        self._drop_template()

    def _drop_template(self) -> None:
        template, self._template = self._template, None
        if template is not None:
            template.close()

    def _finish(self, reason: str | None, *, flush: bool, announce: bool = True) -> None:
        """End the current opening: flush what is in the codecs, tell the viewers."""
        if flush and self._decoder is not None:
            with contextlib.suppress(av.error.FFmpegError):
                for frame in self._decoder.decode(None):
                    self._encode(frame, utcnow())
        if flush:
            self._flush_encoder(utcnow())
        self._encoder = None
        self._drop_template()
        self._decoder = None
        if announce:
            self.output.close(reason)


class MaskedLive:
    """The masked live view of one camera stream: a ``PacketSink`` for its ingest and the
    shared transcoder (see the module docstring).

    ``open``/``write``/``close`` run on the ingest's thread; :meth:`subscribe` on ``loop``.

    Args:
        camera_id: For logs.
        loop: The recorder's event loop.
        masker: The camera's masks (shared with its other stream).
        linger_s: How long the transcoder outlives its last viewer.
        max_queue: Packets that may wait for the transcoder before it drops frames.
    """

    def __init__(
        self,
        camera_id: int,
        loop: asyncio.AbstractEventLoop,
        masker: FrameMasker,
        *,
        linger_s: float = LINGER_S,
        max_queue: int = MAX_QUEUED_PACKETS,
    ) -> None:
        self.camera_id = camera_id
        self.masker = masker
        self.output = LiveFragmenter(loop)
        self._max_queue = max_queue
        self._loop = loop
        self._linger_s = linger_s
        # Ingest side, under _lock (the transcoder is started and stopped from the loop).
        self._lock = threading.Lock()
        self._params: StreamParams | None = None
        self._gop: list[_Packet] | None = None
        self._transcoder: _Transcoder | None = None
        # Loop side.
        self._viewers = 0
        self._switch = asyncio.Lock()
        self._linger: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def masked(self) -> bool:
        """Whether the camera has masks now."""
        return bool(self.masker.masks)

    @property
    def running(self) -> bool:
        """Whether the transcoder runs."""
        return self._transcoder is not None

    @property
    def viewer_count(self) -> int:
        """Masked viewers now."""
        return self._viewers

    @property
    def streaming(self) -> bool:
        """Whether the camera's stream is open."""
        return self._params is not None

    @property
    def dropped(self) -> int:
        """Packets the running transcoder could not keep up with (0 when stopped)."""
        transcoder = self._transcoder
        return transcoder.dropped if transcoder is not None else 0

    # PacketSink -------------------------------------------------------------------------
    def open(self, info: StreamInfo) -> None:
        """A (re)started stream."""
        params = StreamParams.of(info)
        with self._lock:
            self._params, self._gop = params, None
            if self._transcoder is not None:
                self._transcoder.put_control(_Open(params))

    def write(self, packet: av.Packet[Any], wall: datetime) -> None:
        """Copy a video packet for the transcoder (and the GOP cache while there are masks);
        nothing at all for a camera without masks that nobody watches masked."""
        stream = packet.stream
        if packet.size == 0 or (stream is not None and stream.type != "video"):
            return
        if self._transcoder is None and not self.masker.masks:
            self._gop = None
            return
        keyframe = bool(packet.is_keyframe)
        copied = _Packet.of(packet, keyframe, wall)
        with self._lock:
            if keyframe:
                self._gop = [copied]
            elif self._gop is not None:
                self._gop.append(copied)
                if len(self._gop) > MAX_GOP_PACKETS:
                    self._gop = None
            if self._transcoder is not None:
                self._transcoder.put(copied)

    def close(self, reason: str | None) -> None:
        """The stream ended."""
        with self._lock:
            self._params, self._gop = None, None
            if self._transcoder is not None:
                self._transcoder.put_control(_Close(reason))

    # Viewers ----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[LiveSubscription]:
        """Watch the masked view (on the loop); the first viewer starts the transcoder."""
        self._viewers += 1
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        try:
            async with self._switch:
                if self._transcoder is not None and not self._transcoder.alive:
                    self._transcoder = None  # it failed (and said so to its viewers): anew
                if self._transcoder is None:
                    self._start()
            async with self.output.subscribe() as subscription:
                yield subscription
        finally:
            self._viewers -= 1
            if self._viewers == 0 and self._linger is None:
                self._linger = self._loop.call_later(self._linger_s, self._stop_when_idle)

    def _start(self) -> None:
        transcoder = _Transcoder(self.camera_id, self.masker, self.output, self._max_queue)
        with self._lock:
            if self._params is not None:
                transcoder.put_control(_Open(self._params))
                gop = self._gop or []
                latest = max((p.pts for p in gop if p.pts is not None), default=None)
                for packet in gop:
                    transcoder.put(dataclasses.replace(packet, show_from=latest))
            self._transcoder = transcoder
        transcoder.start()
        log.info("camera %s: masked live view started", self.camera_id)

    def _stop_when_idle(self) -> None:
        self._linger = None
        task = self._loop.create_task(self._stop_if_idle())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_if_idle(self) -> None:
        async with self._switch:
            if self._viewers:
                return
            with self._lock:
                transcoder, self._transcoder = self._transcoder, None
            if transcoder is not None:
                await asyncio.to_thread(transcoder.stop)
                log.info(
                    "camera %s: masked live view stopped (%d frames, %d packets dropped)",
                    self.camera_id,
                    transcoder.frames,
                    transcoder.dropped,
                )

    def shutdown(self) -> None:
        """Stop the transcoder now and end the masked viewers' streams (camera removed or
        disabled, or the recorder stopping). On the loop; joins the thread (briefly)."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        with self._lock:
            transcoder, self._transcoder = self._transcoder, None
        if transcoder is not None:
            transcoder.stop()
        self.output.end_all()


class CameraPrivacy:
    """One camera's masks and its masked live views (main stream; sub-stream if any).

    Kept by the recorder for as long as the camera is enabled, across restarts of its
    ingest, so that masked viewers stay connected as unmasked ones do."""

    def __init__(
        self,
        camera_id: int,
        loop: asyncio.AbstractEventLoop,
        masks: list[PrivacyMask],
        *,
        linger_s: float = LINGER_S,
    ) -> None:
        self.camera_id = camera_id
        self.masker = FrameMasker(masks)
        self._loop = loop
        self._linger_s = linger_s
        self.main = MaskedLive(camera_id, loop, self.masker, linger_s=linger_s)
        self._sub: MaskedLive | None = None

    def sub(self) -> MaskedLive:
        """The sub-stream's masked view (made on first use)."""
        if self._sub is None:
            self._sub = MaskedLive(self.camera_id, self._loop, self.masker, linger_s=self._linger_s)
        return self._sub

    def view(self, stream: str, *, has_sub: bool) -> MaskedLive:
        """The masked view of a stream, as ``RecorderService.live`` chooses streams."""
        return self.sub() if stream == "sub" and has_sub else self.main

    def set_masks(self, masks: list[PrivacyMask]) -> bool:
        """Apply new masks from the next frame on; True when they differ from the old."""
        if list(self.masker.masks) == masks:
            return False
        self.masker.set_masks(masks)
        log.info("camera %s: %d privacy masks in force", self.camera_id, len(masks))
        return True

    def shutdown(self) -> None:
        """Stop both views (see :meth:`MaskedLive.shutdown`)."""
        for view in (self.main, self._sub):
            if view is not None:
                view.shutdown()


async def masked_items(raw: LiveFragmenter, masked: MaskedLive) -> AsyncIterator[LiveItem]:
    """What a viewer without the unmask permission receives (see the module docstring).

    Ends when the source's subscription is closed (the camera was removed or disabled)."""
    while True:
        with_masks = masked.masked
        source = masked.subscribe() if with_masks else raw.subscribe()
        switched = False
        async with source as subscription:
            fresh = True
            async for item in subscription:
                if masked.masked != with_masks:
                    switched = True  # a raw item after masks were set is never passed on
                    break
                # A transcoder just started has not opened yet: its "ended" is not news.
                if fresh and with_masks and isinstance(item, LiveEnded) and raw.streaming:
                    continue
                fresh = False
                yield item
        if not switched:
            return

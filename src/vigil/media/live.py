"""Live view: one camera's video as fragmented MP4 for Media Source Extensions.

The ingest hands every packet to a :class:`LiveFragmenter` (a
:class:`~vigil.media.packets.PacketSink`). It remuxes the video track with PyAV, without
re-encoding, into an fMP4 stream of one fragment per frame
(``empty_moov+default_base_moof+frag_every_frame``) and cuts the muxer's output into
top-level boxes: ``ftyp+moov`` is the init segment, each ``moof+mdat`` one media fragment.
Any number of asyncio subscribers (browsers behind a WebSocket) share that one remux.
The remuxer runs only while someone watches: without viewers the fragmenter only keeps the
packets since the last keyframe (a few microseconds a frame), and the first viewer starts
it from there at the camera's next packet.

What a subscriber receives, in order:

* :class:`LiveInit` (MIME type with the RFC 6381 codec string, and the init segment), then
  :class:`LiveFragment` items, starting at a keyframe: a new subscriber first gets the
  fragments since the last keyframe (the "GOP cache"), so the picture starts at once.
* On every re-open of the camera (a reconnect) a fresh :class:`LiveInit`; the timestamps
  of each opening start again at 0, so a client resets its ``SourceBuffer`` on every
  :class:`LiveInit`.
* :class:`LiveEnded` when the camera's stream stops (and first, if it is not running when
  the subscriber joins). The subscription stays open and resumes with a :class:`LiveInit`.

A subscriber that does not keep up never slows the camera or the other subscribers: when
its queue holds more than ``max_queue`` fragments, the queued fragments are dropped and it
resumes at the next keyframe. Its timeline then has a gap; a player jumps to the live edge.

Not covered: audio (live view is video only for now; the kept audio track is ignored),
and codecs other than H.264/H.265 get a MIME type without a full codec string.
Latency: the MP4 muxer closes a fragment when the next packet arrives, so a fragment
leaves one frame interval after its frame came in (40 ms at 25 fps).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, cast

import av
import av.container
import av.video.stream

from vigil.media.mp4 import MemoryFile, find_box, iter_boxes
from vigil.media.packets import StreamInfo

__all__ = [
    "LiveEnded",
    "LiveFragment",
    "LiveFragmenter",
    "LiveInit",
    "LiveItem",
    "LiveSubscription",
]

log = logging.getLogger(__name__)

MOVFLAGS = "empty_moov+default_base_moof+frag_every_frame"
_NON_SYNC_SAMPLE = 0x0001_0000  # ISO/IEC 14496-12 sample_is_non_sync_sample
_FALLBACK_TIME_BASE = Fraction(1, 90000)


@dataclass(frozen=True, slots=True)
class LiveInit:
    """The init segment (``ftyp+moov``) of one opening of the camera, to append first.

    ``mime`` is e.g. ``video/mp4; codecs="avc1.640028"``, for ``MediaSource.isTypeSupported``
    and ``addSourceBuffer``."""

    mime: str
    data: bytes


@dataclass(frozen=True, slots=True)
class LiveFragment:
    """One media fragment (``moof+mdat``, one frame). ``keyframe``: it starts with a sync
    sample, so a decoder can start here."""

    data: bytes
    keyframe: bool


@dataclass(frozen=True, slots=True)
class LiveEnded:
    """The camera's stream stopped (or is not running yet); ``reason`` says why when it was
    not a clean stop. The subscription stays open: a :class:`LiveInit` follows on re-open."""

    reason: str | None


LiveItem = LiveInit | LiveFragment | LiveEnded

_NOT_STARTED = LiveEnded("not started")


# --------------------------------------------------------------------------- MP4 boxes


def _sample_entry(moov: bytes) -> tuple[bytes, int, int] | None:
    """The first sample entry of the first track: ``(type, payload_start, end)``."""
    stsd = find_box(moov, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    if stsd is None:
        return None
    # stsd is a full box (4 bytes) with an entry count (4 bytes), then the entries.
    return next(iter_boxes(moov, stsd[0] + 8, stsd[1]), None)


def codec_string(moov: bytes) -> str | None:
    """The RFC 6381 codec string of the first track of ``moov``, e.g. ``avc1.64001f``."""
    entry = _sample_entry(moov)
    if entry is None:
        return None
    kind, payload, end = entry
    name = kind.decode("ascii", "replace")
    # A visual sample entry has 78 bytes of fields before its child boxes.
    children = payload + 78
    if kind in (b"avc1", b"avc3"):
        avcc = find_box(moov, [b"avcC"], children, end)
        if avcc is not None and avcc[1] - avcc[0] >= 4:
            profile, compat, level = moov[avcc[0] + 1 : avcc[0] + 4]
            return f"{name}.{profile:02x}{compat:02x}{level:02x}"
    elif kind in (b"hvc1", b"hev1"):
        hvcc = find_box(moov, [b"hvcC"], children, end)
        if hvcc is not None and hvcc[1] - hvcc[0] >= 13:
            return f"{name}.{_hevc_codec(moov[hvcc[0] : hvcc[0] + 13])}"
    return name


def _hevc_codec(hvcc: bytes) -> str:
    """ISO/IEC 14496-15 annex E codec parameters from the first 13 bytes of ``hvcC``."""
    space = ("", "A", "B", "C")[hvcc[1] >> 6]
    tier = "H" if hvcc[1] & 0x20 else "L"
    profile = hvcc[1] & 0x1F
    (compat,) = struct.unpack_from(">I", hvcc, 2)
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraints = list(hvcc[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [f"{space}{profile}", f"{reversed_compat:X}", f"{tier}{hvcc[12]}"]
    parts += [f"{c:X}" for c in constraints]
    return ".".join(parts)


def _trex_default_flags(moov: bytes) -> int:
    trex = find_box(moov, [b"moov", b"mvex", b"trex"])
    if trex is None or trex[1] - trex[0] < 24:
        return 0
    # version/flags, track_ID, description index, duration, size, then flags.
    (flags,) = struct.unpack_from(">I", moov, trex[0] + 20)
    return int(flags)


def _first_sample_flags(moof: bytes, default: int) -> int:
    """The sample flags of the first sample of the first ``traf`` of ``moof``."""
    traf = find_box(moof, [b"moof", b"traf"])
    if traf is None:
        return default
    flags_value = default
    for kind, payload, _end in iter_boxes(moof, traf[0], traf[1]):
        if kind == b"tfhd":
            (vflags,) = struct.unpack_from(">I", moof, payload)
            pos = payload + 8  # version/flags, track_ID
            for bit, size in ((0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4)):
                if vflags & bit:
                    pos += size
            if vflags & 0x20:
                (flags_value,) = struct.unpack_from(">I", moof, pos)
        elif kind == b"trun":
            (vflags,) = struct.unpack_from(">I", moof, payload)
            pos = payload + 8  # version/flags, sample_count
            if vflags & 0x01:
                pos += 4  # data_offset
            if vflags & 0x04:
                (first,) = struct.unpack_from(">I", moof, pos)
                return int(first)
            if vflags & 0x400:
                pos += 4 * bool(vflags & 0x100) + 4 * bool(vflags & 0x200)
                (first,) = struct.unpack_from(">I", moof, pos)
                return int(first)
            return int(flags_value)
    return int(flags_value)


# --------------------------------------------------------------------------- subscribers


class LiveSubscription:
    """One viewer's queue. Read it with ``await get()`` or ``async for item in sub``.

    Made by :meth:`LiveFragmenter.subscribe`; used from the fragmenter's event loop only."""

    def __init__(self, owner: LiveFragmenter, max_queue: int) -> None:
        self._owner = owner
        self._max_queue = max_queue
        self._items: deque[LiveItem] = deque()
        self._fragments = 0  # fragments in _items
        self._allowance = 0  # snapshot fragments not yet read: allowed above max_queue
        self._skip_to_key = False
        self._wakeup: asyncio.Future[None] | None = None
        self._closed = False
        self._start_seq = 0
        self.dropped = 0
        """Fragments this viewer never got because it fell behind."""
        self.skips = 0
        """How often it fell behind and was moved forward to a keyframe."""

    @property
    def pending(self) -> int:
        """Items queued and not read yet."""
        return len(self._items)

    async def get(self) -> LiveItem:
        """The next item; waits for one. Raises ``RuntimeError`` once the subscription is
        closed and read to the end."""
        while not self._items:
            if self._closed:
                raise RuntimeError("live subscription closed")
            await self._wait()
        return self._pop()

    def get_nowait(self) -> LiveItem | None:
        """The next item if one is queued, else None."""
        return self._pop() if self._items else None

    def __aiter__(self) -> AsyncIterator[LiveItem]:
        return self

    async def __anext__(self) -> LiveItem:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            await self._wait()
        return self._pop()

    async def _wait(self) -> None:
        self._wakeup = self._owner._loop.create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    def _pop(self) -> LiveItem:
        item = self._items.popleft()
        if isinstance(item, LiveFragment):
            self._fragments -= 1
            if self._allowance:
                self._allowance -= 1
        return item

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _start(self, snapshot: list[LiveItem], seq: int, skip_to_key: bool) -> None:
        self._items.extend(snapshot)
        self._fragments = sum(isinstance(i, LiveFragment) for i in snapshot)
        self._allowance = self._fragments
        self._start_seq = seq
        self._skip_to_key = skip_to_key

    def _push(self, item: LiveItem) -> None:
        if isinstance(item, LiveFragment):
            if self._fragments >= self._max_queue + self._allowance:
                self._fall_behind()
            if self._skip_to_key:
                if not item.keyframe:
                    self.dropped += 1
                    return
                self._skip_to_key = False
            self._fragments += 1
        elif isinstance(item, LiveInit):
            self._skip_to_key = False  # an opening's first fragment is a keyframe
        self._items.append(item)
        self._wake()

    def _fall_behind(self) -> None:
        """Drop the queued fragments; keep the last init and what follows it."""
        items = list(self._items)
        last_init = max(
            (n for n, item in enumerate(items) if isinstance(item, LiveInit)), default=0
        )
        kept = [
            item
            for n, item in enumerate(items)
            if not isinstance(item, LiveFragment) and (n >= last_init)
        ]
        self.dropped += self._fragments
        self.skips += 1
        self._items = deque(kept)
        self._fragments = 0
        self._allowance = 0
        self._skip_to_key = True

    def _close(self) -> None:
        self._closed = True
        self._wake()


# --------------------------------------------------------------------------- fragmenter


class LiveFragmenter:
    """A :class:`~vigil.media.packets.PacketSink` that turns one camera's video into fMP4
    fragments and fans them out to asyncio subscribers (see the module docstring).

    ``open``/``write``/``close`` run on the ingest's thread and never wait for subscribers;
    :meth:`subscribe` runs on ``loop``. ``max_queue`` is the default number of queued
    fragments a subscriber may fall behind (on top of the GOP cache it got on joining)
    before it is moved forward to the next keyframe; ``max_gop`` bounds the GOP cache, in
    frames (a longer GOP is not cached: new viewers then wait for the next keyframe).

    Video only: audio packets are ignored. B-frames are fine (pts and dts are kept apart).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_queue: int = 50,
        max_gop: int = 600,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self._loop = loop
        self._max_queue = max_queue
        self._max_gop = max_gop
        # Shared between the ingest thread and the loop, under _lock.
        self._lock = threading.Lock()
        self._seq = 0
        self._init: LiveInit | None = None
        self._gop: list[LiveFragment] = []
        self._gop_valid = False
        self._ended: LiveEnded | None = _NOT_STARTED  # None: open, waiting for a keyframe
        self._viewers = 0
        # Loop side.
        self._subs: set[LiveSubscription] = set()
        # Ingest side.
        self._info: StreamInfo | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._sink: MemoryFile | None = None
        self._ftyp = b""
        self._pending_moof: bytes | None = None
        self._default_flags = 0
        self._time_base = _FALLBACK_TIME_BASE
        self._first_dts: int | None = None  # None: no keyframe yet in this opening
        self._first_wall = datetime.min
        self._last_dts: int | None = None
        # Packets since the last keyframe, ready to mux: what a muxer started now begins with.
        self._raw_gop: list[av.Packet[Any]] | None = None
        self.fragments = 0
        """Fragments made since this fragmenter was created (for metrics)."""

    # ------------------------------------------------------------------ read-only state

    @property
    def viewer_count(self) -> int:
        """Current number of subscribers."""
        return self._viewers

    @property
    def streaming(self) -> bool:
        """Whether the camera's stream is open (between ``open`` and ``close``)."""
        return self._info is not None

    @property
    def muxing(self) -> bool:
        """Whether the remuxer runs. It runs only while someone watches: without viewers
        the fragmenter only keeps the packets since the last keyframe, and the first viewer
        starts it (at the next packet, from that keyframe)."""
        return self._container is not None

    # ------------------------------------------------------------------ PacketSink

    def open(self, info: StreamInfo) -> None:
        """A (re)started stream: live view starts at its first video keyframe."""
        if self._info is not None:
            self._stop(None, announce=False)
        self._info = info
        self._first_dts = None
        self._last_dts = None
        self._raw_gop = None
        with self._lock:
            self._ended = None

    def write(self, packet: av.Packet[Any], wall: datetime) -> None:
        """Take one video packet (other packets are ignored). Never waits for viewers."""
        info = self._info
        if info is None or packet.size == 0:
            return
        stream = packet.stream
        if stream is not None and stream.type != "video":
            return
        keyframe = packet.is_keyframe
        if self._first_dts is None and not keyframe:
            return  # nothing is decodable before the first keyframe
        prepared = self._prepare(packet, wall)

        if keyframe:
            self._raw_gop = [prepared]
        elif self._raw_gop is not None:
            self._raw_gop.append(prepared)
            if len(self._raw_gop) > self._max_gop:
                self._raw_gop = None  # too long a GOP to keep: wait for the next keyframe

        if self._container is not None:
            if keyframe and not self._viewers:
                self._teardown()  # nobody watches: idle until someone does
                return
            batch = [prepared]
        elif self._viewers and self._raw_gop is not None:
            batch = self._raw_gop  # start from the last keyframe
        else:
            return
        try:
            if self._container is None:
                self._start(info)
            for item in batch:
                self._mux(item)
        except Exception as exc:
            log.warning("live view: remux failed (%s); restarting at the next keyframe", exc)
            self._teardown()
            return
        self._collect()

    def close(self, reason: str | None) -> None:
        """The stream ended: flush the last fragment and tell the subscribers."""
        self._stop(reason, announce=True)
        self._info = None
        self._raw_gop = None

    # ------------------------------------------------------------------ muxing

    def _prepare(self, packet: av.Packet[Any], wall: datetime) -> av.Packet[Any]:
        """A new packet on the same data (no copy; the ingest's packet is shared with the
        other sinks and must not change), its timestamps rebased to the opening's first dts."""
        if self._first_dts is None:
            self._time_base = packet.time_base or _FALLBACK_TIME_BASE
            self._first_wall = wall
        tb = self._time_base
        pts, dts, duration = packet.pts, packet.dts, packet.duration
        if packet.time_base is not None and packet.time_base != tb:
            # Another sink may have rescaled this shared packet; come back to ours.
            pts = _rescale(pts, packet.time_base, tb)
            dts = _rescale(dts, packet.time_base, tb)
            duration = _rescale(duration, packet.time_base, tb)
        if dts is None:
            dts = pts
        if dts is None:  # no timestamps at all (raw H.264): use the arrival time
            micros = (wall - self._first_wall) // timedelta(microseconds=1)
            dts = micros * tb.denominator // (tb.numerator * 1_000_000)
        if pts is None:
            pts = dts
        if self._first_dts is None:
            self._first_dts = dts
        dts -= self._first_dts
        pts -= self._first_dts
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1  # the muxer wants strictly increasing dts
        pts = max(pts, dts)
        self._last_dts = dts
        out: av.Packet[Any] = av.Packet(cast(bytes, packet))  # any buffer: no copy
        out.time_base = tb
        out.pts = pts
        out.dts = dts
        if duration:
            out.duration = duration
        out.is_keyframe = packet.is_keyframe
        return out

    def _start(self, info: StreamInfo) -> None:
        self._sink = MemoryFile()
        container = av.open(self._sink, mode="w", format="mp4", options={"movflags": MOVFLAGS})
        self._container = container
        self._stream = container.add_stream_from_template(info.video)
        self._ftyp = b""
        self._pending_moof = None

    def _mux(self, packet: av.Packet[Any]) -> None:
        assert self._container is not None and self._stream is not None
        packet.stream = self._stream
        self._container.mux_one(packet)  # rescales the packet to the stream's time base

    def _collect(self) -> None:
        """Turn what the muxer wrote into init segments and fragments, and publish them."""
        assert self._sink is not None
        for kind, box in self._sink.boxes():
            if kind == b"ftyp":
                self._ftyp = box
            elif kind == b"moov":
                self._default_flags = _trex_default_flags(box)
                codecs = codec_string(box)
                mime = f'video/mp4; codecs="{codecs}"' if codecs else "video/mp4"
                self._publish(LiveInit(mime, self._ftyp + box))
            elif kind == b"moof":
                self._pending_moof = box
            elif kind == b"mdat" and self._pending_moof is not None:
                moof, self._pending_moof = self._pending_moof, None
                flags = _first_sample_flags(moof, self._default_flags)
                self.fragments += 1
                self._publish(LiveFragment(moof + box, not flags & _NON_SYNC_SAMPLE))

    def _stop(self, reason: str | None, *, announce: bool) -> None:
        container = self._container
        if container is not None:
            try:
                container.close()  # writes the last fragment
                self._collect()
            except Exception as exc:
                log.warning("live view: closing the fMP4 muxer failed: %s", exc)
        self._teardown()
        self._publish(LiveEnded(reason) if announce else None)

    def _teardown(self) -> None:
        """Forget the muxer; a new one (with a new init segment) starts when needed."""
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        self._stream = None
        self._sink = None
        with self._lock:
            self._init = None
            self._gop = []
            self._gop_valid = False

    # ------------------------------------------------------------------ fan-out

    def _publish(self, item: LiveItem | None) -> None:
        """Record ``item`` in the shared state and hand it to the loop if anyone listens."""
        with self._lock:
            if isinstance(item, LiveFragment):
                if item.keyframe:
                    self._gop = [item]
                    self._gop_valid = True
                elif self._gop_valid:
                    self._gop.append(item)
                    if len(self._gop) > self._max_gop:
                        self._gop = []
                        self._gop_valid = False
            elif isinstance(item, LiveInit):
                self._init = item
                self._gop = []
                self._gop_valid = False
                self._ended = None
            elif isinstance(item, LiveEnded):
                self._init = None
                self._gop = []
                self._gop_valid = False
                self._ended = item
            else:
                return
            self._seq += 1
            if self._viewers:
                # RuntimeError: the loop is closed, nobody is left to deliver to.
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._deliver, self._seq, item)

    def _deliver(self, seq: int, item: LiveItem) -> None:
        for sub in self._subs:
            if seq > sub._start_seq:
                sub._push(item)

    def end_all(self) -> None:
        """Close every subscription (the camera was removed or disabled); on the loop."""
        for sub in list(self._subs):
            sub._close()

    @contextlib.asynccontextmanager
    async def subscribe(self, *, max_queue: int | None = None) -> AsyncIterator[LiveSubscription]:
        """Subscribe for the duration of an ``async with`` block (on the fragmenter's loop).

        The subscription starts with the current :class:`LiveInit` and the fragments since
        the last keyframe, or with :class:`LiveEnded` if the camera is not streaming. If the
        remuxer is idle (nobody watched), the :class:`LiveInit` and the fragments since the
        last keyframe come with the camera's next packet. ``max_queue`` overrides the
        fragmenter's default for this subscriber."""
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("subscribe() must run on the fragmenter's event loop")
        sub = LiveSubscription(self, max_queue or self._max_queue)
        with self._lock:
            snapshot: list[LiveItem]
            if self._init is not None:
                snapshot = [self._init, *self._gop]
                skip_to_key = not self._gop
            else:
                snapshot = [self._ended] if self._ended is not None else []
                skip_to_key = False
            sub._start(snapshot, self._seq, skip_to_key)
            self._viewers += 1
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)
            with self._lock:
                self._viewers -= 1
            sub._close()


def _rescale(value: int | None, src: Fraction, dst: Fraction) -> int | None:
    if value is None:
        return None
    return round(value * src / dst)

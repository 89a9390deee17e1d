"""The contract between a camera's ingest and what consumes its packets.

One ingest per camera demuxes the stream once (PyAV, no decoding) and hands every packet
to each sink: the segment recorder, the live fragmenter, later the analytics decoder.
Sinks are called from the ingest's thread and must not block it for long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Protocol, Self, cast

import av
import av.audio.stream
import av.video.stream
from av.codec.context import CodecContext
from av.stream import Stream
from av.video.codeccontext import VideoCodecContext


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a freshly opened stream carries. ``audio`` is None when there is none
    that MP4 can hold without transcoding (AAC is kept; G.711 and others are dropped)."""

    camera_id: int
    video: av.video.stream.VideoStream
    audio: av.audio.stream.AudioStream | None
    opened_at: datetime

    @property
    def video_codec(self) -> str:
        """Codec name of the video, e.g. ``h264``."""
        return self.video.codec_context.name

    @property
    def audio_codec(self) -> str | None:
        """Codec name of the kept audio, if any."""
        return self.audio.codec_context.name if self.audio else None


class PacketSink(Protocol):
    """Receives one camera's packets in order, across reconnections."""

    def open(self, info: StreamInfo) -> None:
        """A stream (re)started; packets of ``info``'s streams follow."""
        ...

    def write(self, packet: av.Packet[Stream], wall: datetime) -> None:
        """One demuxed packet (video or kept audio) and its wall-clock time (UTC).

        ``packet.pts``/``dts`` are in ``packet.time_base`` and increase within one
        opening; video packets carry ``is_keyframe``.
        """
        ...

    def close(self, reason: str | None) -> None:
        """The stream ended; ``reason`` says why when it was not a clean stop."""
        ...


@contextmanager
def muxing_as(packet: av.Packet[Stream], stream: Any, offset_s: float) -> Iterator[bool]:
    """Point a shared packet at an output stream, ``offset_s`` earlier, for one ``mux``.

    Every sink gets the same packet object, so a sink must put back what it changed;
    this does that on exit. Yields False (mux nothing) when the shifted packet would fall
    before 0, as an audio packet may at the very start of a segment.
    """
    saved = (packet.pts, packet.dts, packet.duration, packet.time_base, packet.stream)
    shift = round(offset_s / packet.time_base)
    pts, dts = packet.pts, packet.dts
    assert pts is not None and dts is not None
    try:
        if dts - shift < 0 or pts - shift < 0:
            yield False
            return
        packet.pts, packet.dts = pts - shift, dts - shift
        packet.stream = stream
        yield True
    finally:
        packet.pts, packet.dts, packet.duration, packet.time_base, packet.stream = saved


@dataclass(frozen=True, slots=True)
class CopiedPacket:
    """A video packet copied out of the ingest (whose packet objects other sinks reuse)."""

    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    keyframe: bool
    wall: datetime

    @classmethod
    def of(cls, packet: av.Packet[Any], keyframe: bool, wall: datetime) -> Self:
        """Copy an ingest packet (its time base must be set)."""
        assert packet.time_base is not None
        return cls(bytes(packet), packet.pts, packet.dts, packet.time_base, keyframe, wall)

    def to_av(self) -> av.Packet[Any]:
        """A PyAV packet for decoding.

        Allocated by FFmpeg and copied into: ``av.Packet(bytes)`` references the bytes
        without the zeroed padding that decoders read past the end of a packet (FFmpeg's
        AV_INPUT_BUFFER_PADDING_SIZE), so H.264 decoded from it now and then differs from
        run to run, with blocks of garbage where that padding was not zero.
        """
        packet = av.Packet(len(self.data))
        if self.data:
            memoryview(packet)[:] = self.data
        packet.pts, packet.dts = self.pts, self.dts
        packet.time_base = self.time_base
        return packet


@dataclass(frozen=True, slots=True)
class StreamParams:
    """What a decoder needs from an opened stream (copied: the ingest's stream objects go
    away with its container)."""

    codec: str
    extradata: bytes | None
    time_base: Fraction

    @classmethod
    def of(cls, info: StreamInfo) -> StreamParams:
        """The parameters of a stream's video."""
        ctx = info.video.codec_context
        extradata = bytes(ctx.extradata) if ctx.extradata else None
        return cls(ctx.name, extradata, info.video.time_base or Fraction(1, 90000))

    def decoder(self, *, for_analysis: bool = False) -> VideoCodecContext:
        """A fresh single-threaded decoder (many cameras share few cores).

        Args:
            for_analysis: The frames are only looked at by analytics, never shown: skip the
                deblocking filter (about a quarter of H.264 decoding; it smooths block edges
                for the eye, which neither the motion gate nor the detector needs).
        """
        ctx = cast(VideoCodecContext, CodecContext.create(self.codec, "r"))
        if self.extradata:
            ctx.extradata = self.extradata
        ctx.thread_count = 1
        if for_analysis:
            ctx.options = {"skip_loop_filter": "all"}
        return ctx

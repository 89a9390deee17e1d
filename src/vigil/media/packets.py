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
from typing import Any, Protocol

import av
import av.audio.stream
import av.video.stream
from av.stream import Stream


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

"""Playback and export of recorded video: segments in, one MP4 (or a live fMP4 stream) out.

Pure media: no database, no web. The caller turns the segment index into ``SegmentFile``s
(absolute, already validated paths, in any order) and gets back bytes or a file.

How recorded time becomes video time
- Each segment file starts at a keyframe; its first video frame was shown at ``start``
  (wall clock, UTC) and every later packet at ``start + (pts - first pts)``.
- Output begins at the last keyframe at or before the requested start (so the first frame
  decodes) and stops before the first video packet at or after the requested end.
- Segments are copied (no re-encoding) one after the other. A gap between segments is
  *collapsed*: video time simply continues, so the file plays through. Each stretch of
  continuous recording is a ``Piece(offset_s, wall)``: video time ``offset_s`` shows wall time
  ``wall``, and ``wall_at(pieces, t)`` maps any video time back to the wall clock.
- A camera reconfigured mid-range (video codec, size or parameter sets changed) cannot share
  one stream copy: output stops before the first segment of the new format and the result
  says where (``format_change_at``); ask again from there for the rest. Audio (AAC only) is
  taken from the first segment; a later segment whose audio differs or is absent plays silent.
- A truncated file (recorder killed mid-fragment) or an open segment still being written is
  read up to its last complete packet; an unreadable or missing file is skipped with a
  warning. Neither raises.

Only the given paths are opened, as plain files, and always demuxed as MP4, so that no file
content can make FFmpeg open another file or URL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.stream import Stream
from av.video.stream import VideoStream

from vigil.media.mp4 import MemoryFile

if TYPE_CHECKING:
    from av.container.core import Chapter

log = logging.getLogger(__name__)

FRAGMENTED_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
DEFAULT_CHUNK_SIZE = 64 * 1024
CONTINUITY_TOLERANCE_S = 0.25
"""Segments whose start is within this of where the previous piece predicts stay one piece."""
_AUDIO_LAG = timedelta(seconds=2)
"""How far past the end video is read while waiting for audio (fragments are ~1 GOP)."""


class NoFootageError(LookupError):
    """No recorded video in the requested range."""


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """One recorded segment: fragmented MP4 at ``path``; ``end`` is None while still open.

    ``fetch``, for a file kept elsewhere (another recorder node, ``media/footage.py``):
    called when the file is opened, it brings the file here and returns where it is (None:
    it is gone). Its errors propagate: footage that cannot be reached is not skipped
    silently.
    """

    path: Path
    start: datetime
    end: datetime | None
    fetch: Callable[[], Path | None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Piece:
    """From video time ``offset_s`` on, the video shows wall time ``wall`` onwards."""

    offset_s: float
    wall: datetime


def wall_at(pieces: Sequence[Piece], offset_s: float) -> datetime:
    """The wall-clock time shown at video time ``offset_s`` (pieces in order, not empty)."""
    piece = pieces[0]
    for candidate in pieces:
        if candidate.offset_s > offset_s:
            break
        piece = candidate
    return piece.wall + timedelta(seconds=offset_s - piece.offset_s)


@dataclass(frozen=True, slots=True)
class PlaybackPlan:
    """Where playback starts. ``first_wall`` is the wall time of the first output frame
    (video time 0). ``pieces`` is estimated from the segment index, exact when the index
    matches the files (the stream itself cannot carry it)."""

    first_wall: datetime
    segments: tuple[SegmentFile, ...]
    keyframe_s: Fraction
    """Media time, in ``segments[0]``, of the keyframe playback starts at."""
    end: datetime | None
    pieces: tuple[Piece, ...]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """An exported MP4: ``start``/``end`` are the wall times of its first frame and of the end
    of its last frame; ``format_change_at`` is set when the export stopped early there."""

    path: Path
    start: datetime
    end: datetime
    duration_s: float
    bytes: int
    pieces: tuple[Piece, ...]
    format_change_at: datetime | None = None


def plan_playback(
    segments: Sequence[SegmentFile], start: datetime, *, end: datetime | None = None
) -> PlaybackPlan:
    """Find the keyframe at or before ``start`` (or the first one after it, when ``start``
    falls in a gap) and the segments that follow, up to ``end``. Reads one segment's packets
    (no decoding). Raises ``NoFootageError`` when nothing readable overlaps the range."""
    if end is not None and end <= start:
        raise ValueError("end must be after start")
    candidates = [
        seg
        for seg in sorted(segments, key=lambda s: s.start)
        if (seg.end is None or seg.end > start) and (end is None or seg.start < end)
    ]
    for index, seg in enumerate(candidates):
        found = _keyframe_at_or_before(seg, start)
        if found is not None:
            keyframe_s, first_wall = found
            chosen = tuple(candidates[index:])
            return PlaybackPlan(
                first_wall, chosen, keyframe_s, end, _estimate_pieces(chosen, first_wall)
            )
    raise NoFootageError(f"no recorded video between {start} and {end or 'now'}")


def export_mp4(
    segments: Sequence[SegmentFile],
    start: datetime,
    end: datetime,
    out: Path,
    *,
    progress: Callable[[float], None] | None = None,
) -> ExportResult:
    """Write [start, end] as one ordinary MP4 (``+faststart``) by stream copy.

    The file is written next to ``out`` and renamed into place when complete. Its metadata
    holds ``creation_time`` = wall time of the first frame, and one chapter per piece titled
    with the piece's wall time (ISO 8601, UTC). ``progress`` gets fractions in [0, 1].
    """
    plan = plan_playback(segments, start, end=end)
    out = out.resolve()  # absolute: FFmpeg reopens the file by name for faststart
    partial = out.with_name(f".{out.name}.partial")
    expected_s = max(_index_duration_s(plan), 1e-3)
    done = 0.0
    try:
        with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as output:
            output.metadata["creation_time"] = _iso(plan.first_wall)
            output.metadata["comment"] = f"vigil export; video time 0 = {_iso(plan.first_wall)}"
            remux = _Remux(plan, output)
            for out_s in remux.run():
                if progress is not None and out_s / expected_s >= done + 0.01:
                    done = min(out_s / expected_s, 1.0)
                    progress(done)
            if remux.last_wall is None:
                raise NoFootageError(f"no readable video between {start} and {end}")
            output.set_chapters(remux.chapters())
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    if progress is not None:
        progress(1.0)
    return ExportResult(
        path=out,
        start=plan.first_wall,
        end=remux.last_wall,
        duration_s=float(remux.end_out),
        bytes=out.stat().st_size,
        pieces=tuple(remux.pieces),
        format_change_at=remux.format_change_at,
    )


def stream_fmp4(
    segments: Sequence[SegmentFile],
    start: datetime,
    *,
    end: datetime | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[bytes]:
    """Plan (raising ``NoFootageError`` now, not on first iteration) and stream; see
    ``stream_plan``. Use ``plan_playback`` + ``stream_plan`` to also learn ``first_wall``."""
    return stream_plan(plan_playback(segments, start, end=end), chunk_size=chunk_size)


def stream_plan(plan: PlaybackPlan, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a fragmented MP4 (video, plus AAC audio when recorded) for an HTTP body that a
    browser's ``<video src>`` plays progressively: the header first, then each fragment (one
    GOP) as soon as it is muxed, in chunks of at most ``chunk_size`` bytes. Video time 0 is
    ``plan.first_wall``. Blocking file I/O: iterate it in a worker thread. Ends at
    ``plan.end``, at the last segment, or before a format change."""
    sink = MemoryFile()
    output = av.open(sink, "w", format="mp4", options={"movflags": FRAGMENTED_MOVFLAGS})
    try:
        for _ in _Remux(plan, output).run():
            yield from sink.drain(chunk_size)
    finally:
        output.close()
    yield from sink.drain(chunk_size)


# --- internals ----------------------------------------------------------------------------


class _Remux:
    """Copies a plan's packets into ``output`` on one continuous timeline (gaps collapsed).

    Times are seconds as ``Fraction``s. Within a segment, out time = media time + ``shift``;
    each segment starts where everything written before it ends.
    """

    def __init__(self, plan: PlaybackPlan, output: OutputContainer) -> None:
        self.plan = plan
        self.output = output
        self.pieces: list[Piece] = []
        self.end_out = Fraction(0)  # end of the last packet written, out time
        self.video_end = Fraction(0)  # end of the last video frame written, out time
        self.last_wall: datetime | None = None  # wall time at the end of the last frame
        self.format_change_at: datetime | None = None
        self._video_format: tuple[object, ...] | None = None  # of the first segment
        self._audio_format: tuple[object, ...] | None = None
        self._out: dict[str, Stream] = {}
        self._last_dts: dict[str, int] = {}

    def run(self) -> Iterator[float]:
        """Mux everything; yields the out time (seconds) after each video packet."""
        for index, seg in enumerate(self.plan.segments):
            with _open(_file_of(seg)) as src:
                if src is None:
                    continue
                video, audio = _streams(src)
                if video is None:
                    log.warning("segment %s has no video, skipped", seg.path)
                    continue
                if self._video_format is None:
                    self._start_output(video, audio)
                elif _video_format(video) != self._video_format:
                    log.info("video format changes at %s (%s), stopping", seg.start, seg.path)
                    self.format_change_at = seg.start
                    return
                if audio is not None and _audio_format(audio) != self._audio_format:
                    audio = None
                skip_to = self.plan.keyframe_s if index == 0 else None
                reached_end = yield from self._copy(seg, src, video, audio, skip_to)
                if reached_end:
                    return

    def chapters(self) -> list[Chapter]:
        """One chapter per piece, titled with its wall time."""
        bounds = [p.offset_s for p in self.pieces] + [float(self.end_out)]
        return [
            {
                "id": i + 1,
                "start": round(bounds[i] * 1000),
                "end": round(bounds[i + 1] * 1000),
                "time_base": Fraction(1, 1000),
                "metadata": {"title": _iso(piece.wall)},
            }
            for i, piece in enumerate(self.pieces)
        ]

    def _start_output(self, video: VideoStream, audio: AudioStream | None) -> None:
        self._video_format = _video_format(video)
        self._audio_format = _audio_format(audio) if audio is not None else None
        self._out["video"] = self.output.add_stream_from_template(video)
        if audio is not None:
            self._out["audio"] = self.output.add_stream_from_template(audio)
        self.output.start_encoding()  # writes the header and fixes the output time bases

    def _copy(
        self,
        seg: SegmentFile,
        src: InputContainer,
        video: VideoStream,
        audio: AudioStream | None,
        skip_to: Fraction | None,
    ) -> Generator[float, None, bool]:
        """Copy one segment from its first keyframe (at or after ``skip_to``); returns True
        when the plan's end was reached.

        Within a fragment the demuxer returns all video before the audio, so after the
        video reaches the end, the audio up to the end is still read before stopping.
        """
        end = self.plan.end
        origin: Fraction | None = None  # media time of the segment's first frame (= seg.start)
        shift: Fraction | None = None  # set at the first keyframe copied
        held_audio: list[Packet[Stream]] = []  # audio read before that keyframe
        video_done = False
        frame_s = Fraction(0)
        for packet in _packets(src, [video] if audio is None else [video, audio]):
            t = _pts_s(packet)
            if packet.stream_index != video.index:
                if shift is None or origin is None:
                    held_audio.append(packet)
                elif end is None or seg.start + _delta(t - origin) < end:
                    self._mux(packet, "audio", shift)
                elif video_done:
                    return True
                continue
            origin = t if origin is None else origin
            wall = seg.start + _delta(t - origin)
            if end is not None and wall >= end:
                if audio is None or shift is None or wall >= end + _AUDIO_LAG:
                    return True
                video_done = True
            if video_done:
                continue
            if shift is None:
                if not packet.is_keyframe or (skip_to is not None and t < skip_to):
                    continue
                shift = self._place(packet, wall)
                for held in held_audio:
                    if end is None or seg.start + _delta(_pts_s(held) - origin) < end:
                        self._mux(held, "audio", shift)
                held_audio.clear()
            duration = packet.duration * packet.time_base if packet.duration else frame_s
            frame_s = duration
            if self._mux(packet, "video", shift):
                # max: with B-frames, decode order is not presentation order
                self.video_end = max(self.video_end, t + shift + duration)
                frame_end = wall + _delta(duration)
                self.last_wall = max(self.last_wall or frame_end, frame_end)
                yield float(t + shift)
        return video_done

    def _place(self, keyframe: Packet[Stream], wall: datetime) -> Fraction:
        """The shift for a segment starting with ``keyframe``: right after everything written
        (video dts kept strictly increasing). Starts a new piece unless ``wall`` follows on
        from the current one."""
        offset = self.video_end
        shift = offset - _pts_s(keyframe)
        last = self._last_dts.get("video")
        if last is not None:
            tb = _time_base(self._out["video"])
            dts = _dts_s(keyframe) + shift
            if dts <= last * tb:
                shift += last * tb - dts + tb
                offset = _pts_s(keyframe) + shift
        if (
            not self.pieces
            or abs((wall - wall_at(self.pieces, float(offset))).total_seconds())
            > CONTINUITY_TOLERANCE_S
        ):
            self.pieces.append(Piece(float(offset), wall))
        return shift

    def _mux(self, packet: Packet[Stream], kind: str, shift: Fraction) -> bool:
        """Write ``packet`` moved by ``shift``; False when dropped (shown before time 0, or
        not after the previous packet of its stream). A negative dts (B-frames) is left to
        the muxer, which shifts or edits the timeline to suit."""
        out_stream = self._out.get(kind)
        if out_stream is None:
            return False
        tb = _time_base(out_stream)
        pts = round((_pts_s(packet) + shift) / tb)
        dts = round((_dts_s(packet) + shift) / tb)
        last = self._last_dts.get(kind)
        if pts < 0 or (last is not None and dts <= last):
            return False
        duration = round(packet.duration * packet.time_base / tb) if packet.duration else 0
        packet.stream = out_stream
        packet.time_base = tb
        packet.pts, packet.dts, packet.duration = pts, dts, duration
        self.output.mux(packet)
        self._last_dts[kind] = dts
        self.end_out = max(self.end_out, (pts + duration) * tb)
        return True


def _keyframe_at_or_before(seg: SegmentFile, start: datetime) -> tuple[Fraction, datetime] | None:
    """Media time and wall time of the last keyframe at or before ``start`` in ``seg``
    (its first keyframe when ``start`` precedes it); None when it holds no readable video."""
    with _open(_file_of(seg)) as src:
        if src is None:
            return None
        video, _ = _streams(src)
        if video is None:
            return None
        origin: Fraction | None = None
        found: tuple[Fraction, datetime] | None = None
        for packet in _packets(src, [video]):
            t = _pts_s(packet)
            origin = t if origin is None else origin
            wall = seg.start + _delta(t - origin)
            if found is not None and wall > start:
                break
            if packet.is_keyframe:
                found = (t, wall)
        return found


def _file_of(seg: SegmentFile) -> Path | None:
    """The segment's file here (fetched first when kept elsewhere); None when it is gone."""
    if seg.fetch is None:
        return seg.path
    path = seg.fetch()
    if path is None:
        log.warning("segment %s is gone from the node that recorded it", seg.path)
    return path


@contextmanager
def _open(path: Path | None) -> Iterator[InputContainer | None]:
    """Open ``path`` as a plain file demuxed as MP4; None (logged) when that fails or
    there is no file."""
    if path is None:
        yield None
        return
    try:
        file = path.open("rb")
    except OSError as exc:
        log.warning("segment %s unreadable: %s", path, exc)
        yield None
        return
    with file:
        try:
            container = av.open(file, "r", format="mp4")
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("segment %s unreadable: %s", path, exc)
            yield None
            return
        with container:
            yield container


def _streams(src: InputContainer) -> tuple[VideoStream | None, AudioStream | None]:
    video = src.streams.video[0] if src.streams.video else None
    audio = next((a for a in src.streams.audio if a.codec_context.name == "aac"), None)
    return video, audio


def _packets(
    src: InputContainer, streams: list[VideoStream | AudioStream]
) -> Iterator[Packet[Stream]]:
    """Demuxed packets with timestamps, ending quietly at the first damaged or missing one
    (a truncated fragment): what follows it in the file cannot be complete either."""
    wanted: list[Stream] = list(streams)
    try:
        for packet in src.demux(wanted):
            if packet.is_corrupt:
                log.info("segment %s ends in a damaged packet; stopping there", src.name)
                return
            if packet.size and packet.pts is not None and packet.dts is not None:
                yield packet
    except av.error.FFmpegError as exc:
        log.info("segment %s ends early: %s", src.name, exc)


def _video_format(stream: VideoStream) -> tuple[object, ...]:
    """What must not change within one stream copy (the output has one sample description)."""
    ctx = stream.codec_context
    return ctx.name, ctx.width, ctx.height, ctx.extradata or b""


def _audio_format(stream: AudioStream) -> tuple[object, ...]:
    ctx = stream.codec_context
    return ctx.name, ctx.sample_rate, ctx.channels, ctx.extradata or b""


def _estimate_pieces(segments: Sequence[SegmentFile], first_wall: datetime) -> tuple[Piece, ...]:
    """Pieces as the index predicts them: the same rule as ``_Remux._place``."""
    pieces = [Piece(0.0, first_wall)]
    offset = 0.0
    for index, seg in enumerate(segments):
        begin = first_wall if index == 0 else seg.start
        if (
            index
            and abs((seg.start - wall_at(pieces, offset)).total_seconds()) > CONTINUITY_TOLERANCE_S
        ):
            pieces.append(Piece(offset, seg.start))
        if seg.end is None:
            break
        offset += max((seg.end - begin).total_seconds(), 0.0)
    return tuple(pieces)


def _index_duration_s(plan: PlaybackPlan) -> float:
    """Recorded seconds in the plan according to the index (for progress)."""
    total = 0.0
    for seg in plan.segments:
        ends = [d for d in (seg.end, plan.end) if d is not None]
        if ends:
            total += max((min(ends) - max(seg.start, plan.first_wall)).total_seconds(), 0.0)
    return total


def _pts_s(packet: Packet[Stream]) -> Fraction:
    assert packet.pts is not None  # _packets yields only timestamped packets
    return packet.pts * packet.time_base


def _dts_s(packet: Packet[Stream]) -> Fraction:
    assert packet.dts is not None
    return packet.dts * packet.time_base


def _time_base(stream: Stream) -> Fraction:
    assert stream.time_base is not None  # set once the output header is written
    return stream.time_base


def _delta(seconds: Fraction) -> timedelta:
    return timedelta(seconds=float(seconds))


def _iso(wall: datetime) -> str:
    if wall.tzinfo is not None:
        wall = wall.astimezone(UTC)
    return wall.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

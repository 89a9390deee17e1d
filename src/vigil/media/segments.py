"""Continuous recording: stream copy into ~10 s fragmented MP4 segments cut at keyframes.

Fragmented MP4 (``empty_moov``, a fragment at every keyframe and at least every second,
each written to the file as it is complete) survives ``kill -9``: everything up to the last
complete fragment stays readable, so a crash loses at most a second, and the segment being
written can be played and exported up to its last second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import av
from av.stream import Stream

from vigil.domain.cameras import CameraStatus
from vigil.domain.errors import LeaseLost
from vigil.domain.hashing import file_sha256
from vigil.media.packets import StreamInfo, muxing_as

log = logging.getLogger(__name__)

SEGMENT_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# A fragment is cut at every keyframe and at least this often (microseconds), so that a
# camera with a long GOP has its open segment readable (and a crash loses) to within this.
FRAGMENT_MAX_US = 1_000_000
# Written through to the file as each fragment is complete: the output otherwise holds
# 256 KiB before it writes, 20 s of a 100 kbit/s camera that playback could not read yet.
# The muxer keeps a fragment's packets in memory until it is cut, so this is one write per
# fragment, not one per packet.
SEGMENT_OPTIONS = {
    "movflags": SEGMENT_MOVFLAGS,
    "frag_duration": str(FRAGMENT_MAX_US),
    "flush_packets": "1",
}


# Why the timeline has a gap where a node renewed its lease on the camera too late.
LAPSE_GAP_REASON = "recorder overloaded: its lease on the camera lapsed"


class SegmentIndex(Protocol):
    """Where the recorder notes what it wrote (the database, in production)."""

    def segment_opened(self, camera_id: int, path: str, start: datetime, info: StreamInfo) -> int:
        """A new segment file was started; any open gap of the camera ends here. Returns
        the segment's id."""
        ...

    def segment_closed(
        self, segment_id: int, end: datetime, size: int, sha256: str | None = None
    ) -> None:
        """A segment file is complete; ``sha256`` of the file as written links it into the
        camera's hash chain (``domain/hashing.py``)."""
        ...

    def gap_opened(self, camera_id: int, start: datetime, reason: str) -> None:
        """Recording stopped at ``start`` for ``reason``."""
        ...


class StorageGuard(Protocol):
    """Decides whether there is room for another segment."""

    def has_room(self) -> bool:
        """True when a new segment may be written (after freeing space if allowed)."""
        ...

    def note_written(self, size: int) -> None:
        """A segment of ``size`` bytes was finished."""
        ...


def segment_relpath(camera_id: int, start: datetime) -> str:
    """Where a segment lives under the recordings directory, by camera, day and hour."""
    return (
        f"{camera_id}/{start:%Y-%m-%d}/{start:%H}/"
        f"{camera_id}-{start:%Y%m%dT%H%M%S}.{start.microsecond // 1000:03d}.mp4"
    )


@dataclass(slots=True)
class _OpenSegment:
    id: int
    path: Path
    start: datetime
    offset_s: float  # decode time of the first keyframe: the segment's zero
    container: Any
    streams: dict[Any, Any]  # input stream -> output stream (by identity: sources differ)
    last_wall: datetime
    frame_s: float


class SegmentRecorder:
    """A packet sink that writes one camera's segments and notes them in the index."""

    def __init__(
        self,
        camera_id: int,
        root: Path,
        index: SegmentIndex,
        guard: StorageGuard,
        *,
        segment_seconds: float = 10.0,
        on_status: Any = None,
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        """``may_write``: whether this node may still record the camera (its lease); once
        it says no, not another byte is written."""
        self.camera_id = camera_id
        self._may_write = may_write
        self._root = root
        self._index = index
        self._guard = guard
        self._length = timedelta(seconds=segment_seconds)
        self._on_status = on_status
        self._info: StreamInfo | None = None
        self._segment: _OpenSegment | None = None
        self._gap_open = False
        self._storage_full = False
        # Set while this node's lease on the camera has lapsed (renewed late): when the
        # lapse began, and the segment it cut whose closing the index refused meanwhile.
        self._lapsed_at: datetime | None = None
        self._unclosed: tuple[int, datetime, int, str | None] | None = None

    # PacketSink -----------------------------------------------------------------------
    def open(self, info: StreamInfo) -> None:
        """A stream (re)started: the next keyframe opens a segment."""
        self._info = info

    def write(self, packet: av.Packet[Stream], wall: datetime) -> None:
        """Write a packet, starting a new segment at a keyframe when it is time."""
        assert self._info is not None
        if self._may_write is not None and not self._may_write():
            if self._segment is not None:  # lost the camera: stop at once, index fenced
                log.warning("camera %s: lease lost; stopped writing", self.camera_id)
                self._lapsed_at = wall
                self._finish(wall)
            return
        if self._lapsed_at is not None:
            self._resume_after_lapse()
        is_video = packet.stream is self._info.video
        if is_video and packet.is_keyframe and self._due(wall):
            self._rotate(packet, wall)
        seg = self._segment
        if seg is None:
            return
        out = seg.streams.get(packet.stream)
        if out is None:
            return
        try:
            with muxing_as(packet, out, seg.offset_s) as ok:
                if ok:
                    seg.container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            self._fail(f"cannot write segment {seg.path.name}: {exc}", wall)
            return
        if is_video:
            # max: with B-frames a frame decoded later may be shown earlier.
            seg.last_wall = max(seg.last_wall, wall)
            if packet.duration:
                seg.frame_s = float(packet.duration * packet.time_base)

    def close(self, reason: str | None) -> None:
        """The stream ended: finish the segment and note the gap that begins."""
        seg = self._segment
        if seg is not None:
            end = seg.last_wall + timedelta(seconds=seg.frame_s)
            self._finish(end)
            self._open_gap(end, reason or "recording stopped")
        self._info = None

    # internals ------------------------------------------------------------------------
    def _due(self, wall: datetime) -> bool:
        seg = self._segment
        if seg is None:
            return True
        return wall - seg.start >= self._length

    def _rotate(self, keyframe: av.Packet[Stream], wall: datetime) -> None:
        if self._segment is not None:
            self._finish(wall)  # exact cut: this keyframe ends one segment and starts the next
        if not self._guard.has_room():
            if not self._storage_full:
                self._storage_full = True
                self._open_gap(wall, "storage full: no room within the disk budget")
                self._status(CameraStatus.STORAGE_FULL, "storage full")
            return
        if self._storage_full:
            self._storage_full = False
            self._status(CameraStatus.ONLINE, None)
        self._start(keyframe, wall)

    def _start(self, keyframe: av.Packet[Stream], wall: datetime) -> None:
        info = self._info
        assert info is not None and keyframe.pts is not None
        rel = segment_relpath(self.camera_id, wall)
        path = self._root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            container = av.open(str(path), "w", format="mp4", options=SEGMENT_OPTIONS)
            streams: dict[Any, Any] = {info.video: container.add_stream_from_template(info.video)}
            if info.audio is not None:
                streams[info.audio] = container.add_stream_from_template(info.audio)
        except (av.error.FFmpegError, OSError) as exc:
            self._fail(f"cannot create segment {rel}: {exc}", wall)
            return
        try:
            seg_id = self._index.segment_opened(self.camera_id, rel, wall, info)
        except Exception as exc:  # the index refused (camera just removed, database down)
            level = logging.WARNING if isinstance(exc, LeaseLost) else logging.ERROR
            log.log(level, "camera %s: cannot index segment %s: %s", self.camera_id, rel, exc)
            container.close()
            path.unlink(missing_ok=True)
            return
        self._gap_open = False
        rate = info.video.average_rate or info.video.guessed_rate
        frame_s = 1 / float(rate) if rate else 0.04
        # Zero is the keyframe's decode time: with B-frames its presentation time is later,
        # and shifting by that would push the keyframe itself below zero.
        assert keyframe.dts is not None
        offset = float(keyframe.dts * keyframe.time_base)
        self._segment = _OpenSegment(seg_id, path, wall, offset, container, streams, wall, frame_s)

    def _finish(self, end: datetime) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        try:
            seg.container.close()
        except (av.error.FFmpegError, OSError) as exc:
            log.error("camera %s: closing %s failed: %s", self.camera_id, seg.path, exc)
        size, sha256 = 0, None
        try:
            size = seg.path.stat().st_size
            # Read back just after writing (from the page cache): the hash of the file as it
            # is on disk, before anything else could touch it. ~4 ms for 10 s at 4 Mbit/s:
            # 0.03 % of a core per camera (bench/segment_hashing.py).
            sha256 = file_sha256(seg.path)
        except OSError as exc:
            log.error("camera %s: cannot hash %s: %s", self.camera_id, seg.path, exc)
        closing = (seg.id, max(end, seg.start), size, sha256)
        try:
            self._index.segment_closed(*closing)
        except LeaseLost:
            # Closed by the node that took the camera, or by this one if its lease was
            # only renewed late (_resume_after_lapse).
            self._unclosed = closing
            log.warning("camera %s: lease lapsed; %s closed later", self.camera_id, seg.path)
        except Exception as exc:  # the database is away
            log.error("camera %s: cannot close %s in the index: %s", self.camera_id, seg.path, exc)
        self._guard.note_written(size)

    def _resume_after_lapse(self) -> None:
        """The lease is in force again under the same epoch (a late renewal, not another
        node): close the segment the lapse cut and note the gap, with why, until the next
        keyframe starts a segment."""
        lapsed_at, self._lapsed_at = self._lapsed_at, None
        unclosed, self._unclosed = self._unclosed, None
        assert lapsed_at is not None
        log.info("camera %s: lease renewed; recording resumes", self.camera_id)
        if unclosed is not None:
            try:
                self._index.segment_closed(*unclosed)
            except Exception as exc:  # the database is away: repaired at the next start
                log.error(
                    "camera %s: cannot close segment %s: %s", self.camera_id, unclosed[0], exc
                )
        self._open_gap(lapsed_at, LAPSE_GAP_REASON)

    def _fail(self, message: str, wall: datetime) -> None:
        log.error("camera %s: %s", self.camera_id, message)
        self._storage_full = True
        self._finish(wall)
        self._open_gap(wall, message)
        self._status(CameraStatus.STORAGE_FULL, message)

    def _open_gap(self, start: datetime, reason: str) -> None:
        if not self._gap_open:
            try:
                self._index.gap_opened(self.camera_id, start, reason)
            except LeaseLost:
                pass  # the node that has the camera now keeps its timeline
            except Exception as exc:  # the database is away
                log.error("camera %s: cannot note the gap (%s): %s", self.camera_id, reason, exc)
            self._gap_open = True

    def _status(self, status: CameraStatus, error: str | None) -> None:
        if self._on_status is not None:
            self._on_status(status, error)

"""One camera's ingest: open the stream with PyAV, demux once, feed the sinks, reconnect.

Runs in its own thread (PyAV's I/O blocks). Errors of the stream map to a few outcomes:
the camera is unreachable or broke off (retry with backoff), or it sent something Vigil
cannot record (reported with the reason, and retried too, as cameras get fixed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import av
import av.error

from vigil.devices.rtsp import RtspContainer, RtspUnsupported
from vigil.domain.cameras import CameraStatus, redact
from vigil.media.packets import PacketSink, StreamInfo
from vigil.named_thread import NamedThread

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 5.0
# Audio codecs an MP4 holds as they are; anything else (G.711 ...) is left out of recordings.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "opus"})
# Camera and local clocks drift apart; beyond this the wall clock is re-anchored to now.
MAX_CLOCK_DRIFT = timedelta(seconds=2)
FUTURE_TOLERANCE = timedelta(milliseconds=50)
STATS_WINDOW_S = 5.0


@dataclass(slots=True)
class IngestStats:
    """Rolling figures of one ingest, read by the health reporter."""

    status: CameraStatus = CameraStatus.CONNECTING
    last_error: str | None = None
    last_frame_at: datetime | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    _window: deque[tuple[float, int]] = field(default_factory=deque)

    def count(self, size: int, media_s: float) -> None:
        """Note one video frame of ``size`` bytes at stream time ``media_s``.

        Rates follow the stream's own clock: frames arrive in batches, their timestamps
        do not."""
        self._window.append((media_s, size))
        cutoff = media_s - STATS_WINDOW_S
        while self._window and self._window[0][0] < cutoff:
            self._window.popleft()

    def rates(self) -> tuple[float, float]:
        """Frames per second and bits per second over the recent window."""
        if len(self._window) < 2:
            return 0.0, 0.0
        span = max(self._window[-1][0] - self._window[0][0], 1e-3)
        frames = len(self._window) - 1
        bits = (sum(size for _, size in self._window) - self._window[0][1]) * 8
        return frames / span, bits / span


StatusCallback = Callable[[CameraStatus, str | None], None]


class CameraIngest:
    """Reads one camera and hands its packets to the sinks until stopped."""

    def __init__(
        self,
        camera_id: int,
        url: str,
        sinks: Sequence[PacketSink],
        *,
        secrets: Sequence[str | None] = (),
        on_status: StatusCallback | None = None,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        realtime_files: bool = True,
        watched: Callable[[], bool] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self._url = url
        self._sinks = list(sinks)
        self._secrets = secrets
        self._on_status = on_status
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._realtime_files = realtime_files
        # Someone watches this camera live: read it with low latency (costs more CPU).
        self._watched = watched
        self._stop = threading.Event()
        # Vigil's RTSP client reads H.264 cameras; FFmpeg reads everything else.
        self._use_ffmpeg = False
        self._thread: threading.Thread | None = None
        self.stats = IngestStats()

    def start(self) -> None:
        """Start reading in a background thread."""
        self._thread = NamedThread(target=self.run, name=f"ingest-{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the ingest to stop and wait until its sinks are closed."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def run(self) -> None:
        """Open, read, reconnect with backoff, until stopped."""
        delay = self._backoff[0]
        while not self._stop.is_set():
            error = self._read_once() or "stream ended"
            was_online = self.stats.status == CameraStatus.ONLINE
            if self._stop.is_set():
                break
            # A camera that was up gets a quick retry; one that keeps failing, less often.
            delay = self._backoff[0] if was_online else min(delay * 2, self._backoff[1])
            self._set_status(CameraStatus.OFFLINE, error)
            log.warning("camera %s: %s; retrying in %.1fs", self.camera_id, error, delay)
            self._stop.wait(delay)
        self._set_status(CameraStatus.DISABLED, None)

    def _set_status(self, status: CameraStatus, error: str | None) -> None:
        changed = status != self.stats.status or error != self.stats.last_error
        self.stats.status, self.stats.last_error = status, error
        if changed and self._on_status:
            self._on_status(status, error)

    def _open(self) -> Any:
        if self._url.startswith("file://"):
            return av.open(self._url.removeprefix("file://"))
        if self._url.startswith("rtsp://") and not self._use_ffmpeg:
            try:
                return RtspContainer(self._url, timeout=READ_TIMEOUT_S)
            except RtspUnsupported as exc:
                log.info("camera %s: %s; reading it with FFmpeg", self.camera_id, exc)
                self._use_ffmpeg = True
        timeout_us = str(int(READ_TIMEOUT_S * 1e6))
        if self._url.startswith(("rtsp://", "rtsps://")):
            # FFmpeg's RTSP demuxer ignores rw_timeout; its own socket timeout ends a
            # silent camera. (PyAV's timeout= would cost a GIL round trip per read.)
            options = {"rtsp_transport": "tcp", "timeout": timeout_us}
            return av.open(self._url, options=options)
        # FFmpeg finds the format itself (MJPEG over HTTP as mpjpeg, HLS ...).
        options = {"rw_timeout": timeout_us}
        return av.open(self._url, options=options, timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))

    def _read_once(self) -> str | None:
        """One connection: returns None on a clean end, or the error that ended it."""
        try:
            container = self._open()
        except (av.error.FFmpegError, OSError) as exc:
            return f"cannot open stream: {self._describe(exc)}"
        try:
            if not container.streams.video:
                return "the stream has no video"
            video = container.streams.video[0]
            audio = next(
                (a for a in container.streams.audio if a.codec_context.name in MP4_AUDIO_CODECS),
                None,
            )
            info = StreamInfo(self.camera_id, video, audio, datetime.now(UTC))
            self.stats.video_codec = video.codec_context.name
            self.stats.width, self.stats.height = video.width or None, video.height or None
            # MJPEG over HTTP carries no real timestamps: frames are timed by their arrival.
            by_arrival = container.format.name == "mpjpeg"
            return self._pump(container, info, by_arrival=by_arrival)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            return f"stream failed: {self._describe(exc)}"
        finally:
            container.close()

    def _pump(self, container: Any, info: StreamInfo, *, by_arrival: bool) -> str | None:
        """Hand every packet to the sinks, from the first video keyframe on."""
        streams = [info.video] + ([info.audio] if info.audio else [])
        clock: _WallClock | None = None
        error: str | None = None
        # Vigil's RTSP client can drain on stop and read with less delay when watched.
        rtsp = container if isinstance(container, RtspContainer) else None
        try:
            for packet in container.demux(streams):
                if self._stop.is_set():
                    if rtsp is None:
                        break
                    rtsp.drain()  # ends once what arrived is recorded
                is_video = packet.stream is info.video
                if by_arrival and clock is not None:
                    clock.stamp_by_arrival(packet)
                if packet.dts is None or packet.size == 0:
                    continue
                if packet.pts is None:
                    packet.pts = packet.dts
                if clock is None:
                    if not (is_video and packet.is_keyframe):
                        continue  # a recording must start where it can be decoded
                    clock = _WallClock(
                        packet, is_file=self._is_file, paced=self._is_file and self._realtime_files
                    )
                    for sink in self._sinks:
                        sink.open(info)
                    self._set_status(CameraStatus.ONLINE, None)
                wall = clock.wall(packet, is_video)
                if is_video:
                    if rtsp is not None and self._watched is not None:
                        rtsp.low_latency = self._watched()
                    self.stats.count(packet.size, clock.seconds(packet))
                    self.stats.last_frame_at = datetime.now(UTC)
                    if clock.paced:
                        self._stop.wait(clock.ahead_s(packet))
                for sink in self._sinks:
                    sink.write(packet, wall)
        except (av.error.FFmpegError, OSError) as exc:
            if isinstance(exc, RtspUnsupported):
                self._use_ffmpeg = True  # from the next connection on
            error = f"stream broke off: {self._describe(exc)}"
        finally:
            if clock is not None:
                for sink in self._sinks:
                    try:
                        sink.close(error)
                    except Exception:  # one broken sink must not keep the others open
                        log.exception("camera %s: closing a sink failed", self.camera_id)
        return error

    @property
    def _is_file(self) -> bool:
        return self._url.startswith("file://")

    def _describe(self, exc: BaseException) -> str:
        return redact(str(exc), *self._secrets)


class _WallClock:
    """Maps a stream's timestamps to wall-clock time (UTC).

    Anchored at the first keyframe to the local clock; follows the stream's timestamps so
    frames keep their spacing, and re-anchors to the local clock when the two drift apart
    by more than ``MAX_CLOCK_DRIFT`` (a camera whose clock runs fast or slow)."""

    def __init__(self, first: av.Packet[Any], *, is_file: bool, paced: bool) -> None:
        assert first.pts is not None
        self.paced = paced  # a file read at real speed, as if it were a camera
        self._follow_local_clock = not is_file
        self._anchor_wall = datetime.now(UTC)
        self._anchor_s = float(first.pts * first.time_base)
        self._started = time.monotonic()
        self._last_arrival_ts: int | None = None
        # Time base per stream as a float: PyAV builds a Fraction at every access.
        self._time_bases: dict[Any, float] = {}

    def seconds(self, packet: av.Packet[Any]) -> float:
        """A packet's presentation time in seconds."""
        assert packet.pts is not None
        tb = self._time_bases.get(packet.stream)
        if tb is None:
            tb = self._time_bases[packet.stream] = float(packet.time_base)
        return packet.pts * tb

    def wall(self, packet: av.Packet[Any], is_video: bool) -> datetime:
        """The wall-clock time of a packet."""
        seconds = self.seconds(packet)
        wall = self._anchor_wall + timedelta(seconds=seconds - self._anchor_s)
        if is_video and self._follow_local_clock:
            now = datetime.now(UTC)
            # Live video cannot be from the future: a late anchor is corrected at once.
            if wall - now > FUTURE_TOLERANCE or now - wall > MAX_CLOCK_DRIFT:
                self._anchor_wall, self._anchor_s, wall = now, seconds, now
        return wall

    def ahead_s(self, packet: av.Packet[Any]) -> float:
        """How far a file's packet is ahead of real time since the first one (to pace it)."""
        media_s = self.seconds(packet) - self._anchor_s
        return max(0.0, media_s - (time.monotonic() - self._started))

    def stamp_by_arrival(self, packet: av.Packet[Any]) -> None:
        """Give a packet the time it arrived as its timestamps (strictly increasing)."""
        ts = round((time.monotonic() - self._started + self._anchor_s) / packet.time_base)
        if self._last_arrival_ts is not None and ts <= self._last_arrival_ts:
            ts = self._last_arrival_ts + 1
        self._last_arrival_ts = ts
        packet.pts = packet.dts = ts

"""One camera's ingest: open the stream with PyAV, demux once, feed the sinks, reconnect.

Runs in its own thread (PyAV's I/O blocks). Errors of the stream map to a few outcomes:
the camera is unreachable or broke off (retry with backoff), or it sent something Vigil
cannot record (reported with the reason, and retried too, as cameras get fixed). A live
stream that ends by itself, stalls, or changes its parameter sets in-band ends the
connection with that reason (the gap in the recording says it), and the camera is read
again.
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

from vigil.devices.rtp import ParameterSetWatch, StreamChanged
from vigil.devices.rtsp import (
    RtspContainer,
    RtspStreamChanged,
    RtspUnauthorized,
    RtspUnsupported,
)
from vigil.domain.cameras import UNSUPPORTED, WRONG_CREDENTIALS, CameraStatus, redact
from vigil.media.packets import PacketSink, StreamInfo
from vigil.named_thread import NamedThread

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 5.0
# A live stream whose next video frame took longer than this to come stalled: the
# connection ends there (a gap), rather than going on with a hole that no gap shows.
# FFmpeg's RTSP demuxer reads on past its own read timeout (see ``_pump``).
STALL_S = READ_TIMEOUT_S
# An ingest that reports online but has handed out no video frame for this long is
# reported offline (``IngestStats.status``): hung somewhere no timeout reaches.
STALE_AFTER_S = READ_TIMEOUT_S
# Why a live stream ended when nobody asked it to stop (FFmpeg reads a reset so).
CLOSED_BY_CAMERA = "the camera closed the stream"
# Audio codecs an MP4 holds as they are; anything else (G.711 ...) is left out of recordings.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "opus"})
# Camera and local clocks drift apart; beyond this the wall clock is re-anchored to now.
MAX_CLOCK_DRIFT = timedelta(seconds=2)
FUTURE_TOLERANCE = timedelta(milliseconds=50)
# Health figures cover the last few seconds of stream, and never more than this many frames
# (5 s at 120 fps): the window must stay small whatever the stream's timestamps do.
STATS_WINDOW_S = 5.0
STATS_MAX_FRAMES = 600
# A camera that refuses the credentials this many times in a row is not asked again until
# its settings change (which restarts its ingest): many cameras lock an account that keeps
# failing, and the answer will not change by itself.
CREDENTIAL_ATTEMPTS = 3
# FFmpeg's errors for a refused login (RTSP and HTTP cameras).
AUTH_ERRORS = (RtspUnauthorized, av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError)
# A camera that has never delivered a frame is "connecting" while its attempts fail, and
# "offline" once they have failed for this long since the ingest started.
CONNECT_TIMEOUT_S = 30.0


@dataclass(slots=True)
class IngestStats:
    """Rolling figures of one ingest: written by its thread, read by the health reporter's.

    Rates are measured on the stream's decode clock (frames arrive in batches, their
    timestamps do not; decode time, unlike presentation time, never goes back with
    B-frames), over a window of one connection that is bounded in time and in count.

    ``state`` and ``error`` are what the ingest last said of itself; ``status`` and
    ``last_error``, what is reported: the same, except that an ingest that says it is
    online but has handed out no video frame for ``STALE_AFTER_S`` is offline with
    "no frames for N s" (a defence for a reader hung where no timeout reaches; judged
    where the health is read, so it costs no thread).
    """

    state: CameraStatus = CameraStatus.CONNECTING
    error: str | None = None
    last_frame_at: datetime | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    _window: deque[tuple[float, int]] = field(
        default_factory=lambda: deque(maxlen=STATS_MAX_FRAMES)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def status(self) -> CameraStatus:
        """The status to report."""
        return self.reported()[0]

    @property
    def last_error(self) -> str | None:
        """Why the camera is not online (None when it is)."""
        return self.reported()[1]

    def reported(self, now: datetime | None = None) -> tuple[CameraStatus, str | None]:
        """Status and error to report at ``now`` (default: the current time)."""
        state, error, last_frame = self.state, self.error, self.last_frame_at
        if state == CameraStatus.ONLINE and last_frame is not None:
            idle_s = ((now or datetime.now(UTC)) - last_frame).total_seconds()
            if idle_s > STALE_AFTER_S:
                return CameraStatus.OFFLINE, f"no frames for {idle_s:.0f} s"
        return state, error

    def restart(self) -> None:
        """A new connection: its clock has nothing to do with the last one's."""
        with self._lock:
            self._window.clear()

    def count(self, size: int, decode_s: float) -> None:
        """Note one video frame of ``size`` bytes at stream decode time ``decode_s``."""
        with self._lock:
            window = self._window
            if window and decode_s < window[-1][0]:
                window.clear()  # the stream's clock jumped back: start over from here
            window.append((decode_s, size))
            cutoff = decode_s - STATS_WINDOW_S
            while window[0][0] < cutoff:
                window.popleft()

    def rates(self) -> tuple[float, float]:
        """Frames per second and bits per second over the recent window."""
        with self._lock:
            if len(self._window) < 2:
                return 0.0, 0.0
            span = self._window[-1][0] - self._window[0][0]
            frames = len(self._window) - 1
            # Each frame's bytes fill the time to the next one: the first frame's are left out.
            sizes = sum(size for _, size in self._window) - self._window[0][1]
        if span <= 0:
            return 0.0, 0.0
        return frames / span, sizes * 8 / span


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
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.camera_id = camera_id
        self._url = url
        self._sinks = list(sinks)
        self._secrets = secrets
        self._on_status = on_status
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._connect_timeout_s = connect_timeout_s
        self._realtime_files = realtime_files
        # Someone watches this camera live: read it with low latency (costs more CPU).
        self._watched = watched
        self._stop = threading.Event()
        # Vigil's RTSP client reads H.264 cameras; FFmpeg reads everything else.
        self._use_ffmpeg = False
        # The connection just ended found a stream to read another way: one Vigil's client
        # does not read (reconnect with FFmpeg), or one whose parameters changed in-band
        # (open it again). At once, as the same camera still online (not a failure).
        self._reconnect_at_once = False
        self._thread: threading.Thread | None = None
        self.stats = IngestStats()
        # Whether "no frames" was announced for the current online spell (check_frames):
        # guarded by the lock, as the ingest thread and the health reporter both touch it.
        self._frames_stopped = False
        # The status last announced (on_status): a status is announced once per change,
        # never again for a new reason only (a vanished camera's retries fail each their
        # own way; rules on "offline" must fire once). Health rounds show the latest reason.
        self._announced: CameraStatus | None = None
        self._status_lock = threading.Lock()

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
        give_up_at = time.monotonic() + self._connect_timeout_s
        delay = self._backoff[0]
        refused = 0
        while not self._stop.is_set():
            error = self._read_once() or "stream ended"
            if self._stop.is_set():
                break
            if self._reconnect_at_once:
                self._reconnect_at_once = False
                log.info("camera %s: %s", self.camera_id, error)
                continue  # the same camera, read anew: at once, and still online
            refused = refused + 1 if error.startswith(WRONG_CREDENTIALS) else 0
            if refused >= CREDENTIAL_ATTEMPTS:
                error += "; not tried again until the camera's settings change"
                self._set_status(CameraStatus.OFFLINE, error)
                log.warning("camera %s: %s", self.camera_id, error)
                self._stop.wait()
                break
            delay = self._note_failure(error, delay, give_up_at)
            self._stop.wait(delay)
        self._set_status(CameraStatus.DISABLED, None)

    def _note_failure(self, error: str, delay: float, give_up_at: float) -> float:
        """Report a connection that failed or ended; returns the wait before the next.

        A camera is offline once it was online, or when it has not come within the connect
        timeout; until then it is connecting, and ``last_error`` says why the attempt failed.
        """
        was_online = self.stats.state == CameraStatus.ONLINE
        # A camera that was up gets a quick retry; one that keeps failing, less often.
        delay = self._backoff[0] if was_online else min(delay * 2, self._backoff[1])
        now = time.monotonic()
        if self.stats.state == CameraStatus.CONNECTING and now < give_up_at:
            self._set_status(CameraStatus.CONNECTING, error)
            # The next attempt comes by the connect timeout, which is judged when it is due.
            delay = max(min(delay, give_up_at - now), self._backoff[0])
            log.info("camera %s: %s; retrying in %.1fs", self.camera_id, error, delay)
        else:
            self._set_status(CameraStatus.OFFLINE, error)
            log.warning("camera %s: %s; retrying in %.1fs", self.camera_id, error, delay)
        return delay

    def _set_status(self, status: CameraStatus, error: str | None) -> None:
        with self._status_lock:
            self.stats.state, self.stats.error = status, error
            self._frames_stopped = False
            changed, self._announced = status != self._announced, status
        if changed and self._on_status:
            self._on_status(status, error)

    def check_frames(self, now: datetime | None = None) -> None:
        """Announce (``on_status``) that an online camera stopped handing out frames, as
        offline "no frames for N s", and that it is online again when they return.

        The stall is judged where the health is read (``IngestStats.reported``), since a
        reader hung where no timeout reaches cannot say it itself: the health reporter
        calls this each round, and each change is announced once.
        """
        with self._status_lock:
            status, error = self.stats.reported(now)
            stopped = self.stats.state == CameraStatus.ONLINE and status != CameraStatus.ONLINE
            if stopped == self._frames_stopped:
                return
            self._frames_stopped = stopped
            changed, self._announced = status != self._announced, status
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
        except AUTH_ERRORS as exc:
            return (
                f"{WRONG_CREDENTIALS}: {self._describe(exc)}; "
                "correct the user name and password in the camera's settings"
            )
        except (av.error.FFmpegError, OSError) as exc:
            return f"cannot open stream: {self._describe(exc)}"
        try:
            if not container.streams.video:
                return f"{UNSUPPORTED}: the stream has no video"
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
        """Hand every packet to the sinks, from the first video keyframe on.

        Returns why the stream ended, which the sinks' gap says too: None only when asked
        to stop, or at the end of a file; a live stream that ends by itself was closed by
        the camera. A live stream also ends here when it stalled (a video frame came after
        waiting longer than ``STALL_S``) or, read by FFmpeg, when a keyframe brings other
        parameter sets than the stream was opened with (Vigil's client finds both itself).
        """
        streams = [info.video] + ([info.audio] if info.audio else [])
        clock: _WallClock | None = None
        error: str | None = None
        # Vigil's RTSP client can drain on stop and read with less delay when watched.
        rtsp = container if isinstance(container, RtspContainer) else None
        live = not self._is_file
        watch = (
            ParameterSetWatch(info.video.codec_context.extradata)
            if rtsp is None and info.video_codec == "h264" and self._url.startswith("rtsp")
            else None
        )
        # Time spent waiting for the stream since the last video frame (not the time the
        # sinks took): FFmpeg's RTSP demuxer hands out what its parser held when its read
        # timeout passes, then reads on, so only this shows that the camera paused.
        waited_s = 0.0
        packets = container.demux(streams)
        try:
            while True:
                asked = time.monotonic()
                packet = next(packets, None)
                waited_s += time.monotonic() - asked
                if packet is None:
                    if live and not self._stop.is_set():
                        error = CLOSED_BY_CAMERA
                    break
                if self._stop.is_set():
                    if rtsp is None:
                        break
                    rtsp.drain()  # ends once what arrived is recorded
                is_video = packet.stream is info.video
                if is_video:
                    if clock is not None and live and waited_s > STALL_S:
                        error = f"stream stalled for {waited_s:.0f} s"
                        break
                    waited_s = 0.0
                if by_arrival and clock is not None:
                    clock.stamp_by_arrival(packet)
                if packet.dts is None or packet.size == 0:
                    continue
                if packet.pts is None:
                    packet.pts = packet.dts
                if watch is not None and is_video and packet.is_keyframe:
                    watch.check(bytes(packet))
                if clock is None:
                    if not (is_video and packet.is_keyframe):
                        continue  # a recording must start where it can be decoded
                    clock = _WallClock(
                        packet, is_file=self._is_file, paced=self._is_file and self._realtime_files
                    )
                    for sink in self._sinks:
                        sink.open(info)
                    self.stats.restart()
                    self.stats.last_frame_at = datetime.now(UTC)  # before it reads online
                    self._set_status(CameraStatus.ONLINE, None)
                wall = clock.wall(packet, is_video)
                if is_video:
                    if rtsp is not None and self._watched is not None:
                        rtsp.low_latency = self._watched()
                    self.stats.count(packet.size, clock.decode_seconds(packet))
                    self.stats.last_frame_at = datetime.now(UTC)
                    if clock.paced:
                        self._stop.wait(clock.ahead_s(packet))
                for sink in self._sinks:
                    sink.write(packet, wall)
        except (RtspStreamChanged, StreamChanged) as exc:  # a new SPS/PPS in-band
            self._reconnect_at_once = True
            error = self._describe(exc)
        except RtspUnsupported as exc:  # found only now (the read-ahead missed it)
            self._use_ffmpeg = self._reconnect_at_once = True
            error = f"switching to FFmpeg: {self._describe(exc)}"
        except (av.error.FFmpegError, OSError, ValueError) as exc:
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
        return packet.pts * self._time_base(packet)

    def decode_seconds(self, packet: av.Packet[Any]) -> float:
        """A packet's decode time in seconds: increasing, even with B-frames."""
        assert packet.dts is not None
        return packet.dts * self._time_base(packet)

    def _time_base(self, packet: av.Packet[Any]) -> float:
        tb = self._time_bases.get(packet.stream)
        if tb is None:
            tb = self._time_bases[packet.stream] = float(packet.time_base)
        return tb

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

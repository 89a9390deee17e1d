"""One camera's live analytics on the recorder: frames -> motion -> detector -> tracker ->
behaviours -> events on the bus.

Where each step runs:

- the ingest's thread only copies packets into the decoder's bounded queue
  (``frames.AnalyticsTap``): recording is never slowed;
- the camera's decoder thread decodes, samples at ``config.fps`` and runs the motion gate
  (a small grayscale comparison); only frames with motion (or, while objects are followed,
  one every ``motion.keepalive_s``) are converted to BGR and handed on;
- moving frames go to the detector (most of the cost) at the full rate, except while there
  is nothing for it to find; then only ``motion.tracked_fps`` of them a second do, and the
  tracker's Kalman filter (given timestamps) carries the tracks in between, while the live
  view's boxes move on from the latest detection at each box's speed over its last second
  (published on each frame in between: otherwise they stood still for up to a second).
  Nothing to find means: the latest detection found nothing new (every confident box belongs
  to a settled track) and lost no track; or, with ``motion.follow_margin`` set (off by
  default: the boxes between detections are older), the frame's motion lies entirely around
  the objects already followed (each one's latest box grown by that share); or, with nothing
  followed, the detector found nothing at all on ``EMPTY_STREAK`` moving frames in a row
  (trees, rain, a screen). A detection that finds anything new, or loses a track, brings
  back the full rate, so a new object is seen at most ``1 / tracked_fps`` later than at the
  full rate. Only with the motion gate on, and only for detectors that look at each frame on
  its own (the ONNX models; not ``motion``, which compares frames);
- on cameras with a behaviour about things set down (``left_object``, ``illegal_dumping``)
  the same small frames feed the static-foreground model (``static_objects``), whose items
  join the detector's boxes before the tracker;
- a worker of the recorder's shared pool (``runtime.WorkerPool``) takes the camera's latest
  frame (a frame still waiting is replaced: a slow detector drops analysis frames) and runs
  the detector, the tracker and the behaviours, then writes the evidence (snapshots,
  thumbnails) and publishes ``Event``, ``TrackEnded`` and ``AnalyticsFrame`` messages.

A detector that cannot load (model missing or corrupt) leaves the pipeline "unavailable", with
the reason in its ``AnalyticsStatus``; loading is retried with backoff. The camera records on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from vigil.analytics.behaviours import BehaviourEngine, BehaviourHit
from vigil.analytics.behaviours.face_matching import FaceMatching
from vigil.analytics.behaviours.plate_reading import PLATE_READ, PlateReading
from vigil.analytics.behaviours.registry import behaviour_label
from vigil.analytics.behaviours.tampering import Tampering
from vigil.analytics.boxes import Box
from vigil.analytics.colour import dominant_colour
from vigil.analytics.config import CameraAnalyticsConfig, Zone
from vigil.analytics.detections import CLASS_NAME, Detections
from vigil.analytics.detectors import (
    Detector,
    DetectorError,
    DetectorUnavailable,
    create_detector,
)
from vigil.analytics.faces import FacesUnavailable
from vigil.analytics.frames import FrameDecoder, SampledFrame, to_bgr
from vigil.analytics.geometry import anchor_points
from vigil.analytics.motion_gate import MotionGate, small_gray
from vigil.analytics.parking import ArrivalPhotos
from vigil.analytics.person_faces import FrameFaces, PersonFaces
from vigil.analytics.plate_formats import fit
from vigil.analytics.plate_reading import FramePlates, PassageReading, VehiclePlates
from vigil.analytics.plates import PlatesUnavailable, find_and_read_plates
from vigil.analytics.runtime import AnalysisSlot, Publish, WorkerPool
from vigil.analytics.snapshots import (
    Image,
    crop,
    encode_jpeg,
    snapshot_path,
    write_jpeg,
    write_snapshot,
    write_thumbnail,
)
from vigil.analytics.static_objects import StaticObjects, with_items
from vigil.analytics.tampering import WIDTH as TAMPER_WIDTH
from vigil.analytics.tampering import TamperKind, TamperReport, TamperWatch
from vigil.analytics.tracking import Track, Tracker, tracker_config
from vigil.domain.events import (
    CAMERA_TAMPERING,
    AnalyticsFrame,
    AnalyticsStatus,
    Event,
    ObjectRef,
    TrackEnded,
)
from vigil.domain.privacy import PrivacyMask
from vigil.domain.schedules import TimeProfileSpec
from vigil.media.privacy import FrameMasker
from vigil.store.db import Database
from vigil.store.recording_requests import request_recording

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 5.0
RETRY_MIN_S = 5.0
RETRY_MAX_S = 300.0
MAX_PATH_POINTS = 200
SETTLED_POINTS = 5
"""Detections a track needs at the full rate before the tracker carries it alone (its Kalman
filter has learnt its speed by then)."""
EMPTY_STREAK = 3
"""Moving frames in a row on which the detector found nothing before the lower rate."""
VELOCITY_WINDOW_S = 1.0
"""A followed box's speed is measured over its track's positions within this long."""
ITEM_BEHAVIOURS = frozenset({"left_object", "illegal_dumping"})
PARKED_VEHICLE = "parked_vehicle"
"""Behaviours about things set down: their cameras run the static-foreground model."""
ITEM_LOOK_S = 2.0
"""After a new item appears, frames go to the detector this long as if they moved (a still
scene would otherwise wait for the next keepalive to start its track)."""

DetectorFactory = Callable[[CameraAnalyticsConfig], Detector]


class State:
    """Values of ``AnalyticsStatus.state``."""

    STARTING = "starting"
    RUNNING = "running"
    DISABLED = "disabled"
    UNAVAILABLE = "unavailable"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PipelineContext:
    """What every camera's pipeline on a recorder shares.

    Attributes:
        data_dir: Where snapshots and thumbnails go (paths in messages are relative to it).
        models_dir: Folder of the detector models.
        node: The recorder's name (``Event.source``).
        pool: The shared detector workers.
        publish: Publishes on the recorder's bus from any thread.
        db: For recording requests of events-mode cameras (None: none are made).
        intra_op_threads: onnxruntime threads per inference.
    """

    data_dir: Path
    models_dir: Path
    node: str
    pool: WorkerPool
    publish: Publish
    db: Database | None = None
    intra_op_threads: int = 1


@dataclass(frozen=True, slots=True)
class EventRecording:
    """Recording around events, for a camera in recording_mode "events"."""

    pre_s: float
    post_s: float


@dataclass(frozen=True, slots=True)
class _Work:
    image: Image
    t: float  # the tracker's clock: wall time in seconds (increases across reconnects)
    wall: datetime


_LOAD = object()  # a slot item: (re)try loading the detector


@dataclass(frozen=True, slots=True)
class _Carry:
    """The objects of the latest analysed frame and how fast each box moved, for drawing
    them where they are now on the frames the detector skips (written by the worker,
    read by the decoder thread: replaced, never changed)."""

    t: float
    objects: list[ObjectRef]
    boxes: npt.NDArray[np.float64]  # (n, 4) x1, y1, x2, y2 as fractions of the frame
    velocity: npt.NDArray[np.float64]  # (n, 4) the same, per second

    def at(self, t: float) -> list[ObjectRef]:
        """The objects with their boxes moved on to time ``t``."""
        moved = np.clip(self.boxes + self.velocity * (t - self.t), 0.0, 1.0).round(4)
        return [
            o.model_copy(update={"box": tuple(float(v) for v in box)})
            for o, box in zip(self.objects, moved, strict=True)
        ]


@dataclass(slots=True)
class _TrackNotes:
    """What the pipeline remembers of a live track for its ``TrackEnded``."""

    frame_size: tuple[int, int]
    best_score: float = -1.0
    best_box: tuple[float, float, float, float] | None = None
    best_crop: Image | None = None
    zones: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Counters:
    sampled: int = 0
    moving: int = 0
    analysed: int = 0
    dropped: int = 0
    detector_s: float = 0.0

    def minus(self, other: _Counters) -> _Counters:
        return _Counters(
            self.sampled - other.sampled,
            self.moving - other.moving,
            self.analysed - other.analysed,
            self.dropped - other.dropped,
            self.detector_s - other.detector_s,
        )


def thin(
    points: list[tuple[float, float, float]], limit: int = MAX_PATH_POINTS
) -> list[tuple[float, float, float]]:
    """At most ``limit`` points of a path, evenly picked, first and last kept.

    >>> len(thin([(float(i), 0.0, 0.0) for i in range(1000)])), thin([(0.0, 1.0, 1.0)])
    (200, [(0.0, 1.0, 1.0)])
    """
    if len(points) <= limit:
        return points
    picks = np.linspace(0, len(points) - 1, limit).round().astype(int)
    return [points[i] for i in picks]


def track_path(track: Track, frame_size: tuple[int, int]) -> list[tuple[float, float, float]]:
    """A track's path as (seconds since first seen, x, y): anchors in image fractions."""
    if not track.points:
        return []
    boxes = np.array([p.xyxy for p in track.points])
    anchors = anchor_points(boxes, frame_size)
    return thin(
        [
            (round(p.t - track.first_seen, 3), round(float(a[0]), 4), round(float(a[1]), 4))
            for p, a in zip(track.points, anchors, strict=True)
        ]
    )


def followed_areas(
    tracks: Iterable[Track], frame_size: tuple[int, int], margin: float
) -> npt.NDArray[np.float32]:
    """Each track's latest box grown on every side by ``margin`` of its longer side, as
    fractions of the frame (x1, y1, x2, y2): where motion is the followed objects' own
    (0.5: about how far a walking person moves, with the trail the motion gate's background
    leaves behind them, between two detections at 1.5 a second)."""
    boxes = np.array([t.points[-1].xyxy for t in tracks if t.points], np.float32).reshape(-1, 4)
    # By the longer side: a person walks about their height in a second, whatever their width.
    grow = (boxes[:, 2:] - boxes[:, :2]).max(axis=1, keepdims=True) * margin
    grown = np.concatenate([boxes[:, :2] - grow, boxes[:, 2:] + grow], axis=1)
    width, height = frame_size
    return np.clip(grown / np.array([width, height, width, height], np.float32), 0.0, 1.0)


def _fractions(box: Any, frame_size: tuple[int, int]) -> tuple[float, float, float, float]:
    w, h = frame_size
    x1, y1, x2, y2 = (float(v) for v in box)
    return (
        round(min(max(x1 / w, 0.0), 1.0), 4),
        round(min(max(y1 / h, 0.0), 1.0), 4),
        round(min(max(x2 / w, 0.0), 1.0), 4),
        round(min(max(y2 / h, 0.0), 1.0), 4),
    )


def _wall(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


PlateReader = VehiclePlates | FramePlates


def _plate_readers(
    config: CameraAnalyticsConfig, zones: Mapping[str, Zone]
) -> list[tuple[PlateReading, PlateReader]]:
    """The camera's plate reading behaviours, each with its reader."""
    readers: list[tuple[PlateReading, PlateReader]] = []
    for behaviour in config.behaviours:
        if isinstance(behaviour, PlateReading):
            zone = zones.get(behaviour.zone) if behaviour.zone else None
            reader: PlateReader = (
                FramePlates(behaviour)
                if behaviour.mode == "frame"
                else VehiclePlates(behaviour, zone)
            )
            readers.append((behaviour, reader))
    return readers


class CameraPipeline:
    """The analytics of one camera. Attach :attr:`decoder` to the camera's ``AnalyticsTap``.

    Args:
        camera_id: The camera.
        config: Its analytics configuration (``enabled`` is the caller's business).
        ctx: What the recorder's pipelines share.
        recording: Recording around events, for an events-mode camera (None: none).
        time_profiles: Time profiles by id, for behaviours limited to a schedule.
        detector_factory: Builds the detector (default: the configured plugin).
        privacy_masks: Areas filled before the motion gate and the detector: nothing in
            them moves, is detected, tracked or reported, and no snapshot shows them.
    """

    def __init__(
        self,
        camera_id: int,
        config: CameraAnalyticsConfig,
        ctx: PipelineContext,
        *,
        recording: EventRecording | None = None,
        time_profiles: Mapping[int, TimeProfileSpec] | None = None,
        detector_factory: DetectorFactory | None = None,
        privacy_masks: Sequence[PrivacyMask] = (),
    ) -> None:
        self.camera_id = camera_id
        self._masker = FrameMasker(privacy_masks) if privacy_masks else None
        self.config = config
        self.ctx = ctx
        self._recording = recording
        self._factory = detector_factory or self._create_detector
        self.decoder = FrameDecoder(camera_id, config.fps, self._on_frame, on_tick=self._on_tick)
        self._slot: AnalysisSlot[Any] = ctx.pool.slot(self._handle, f"camera {camera_id}")
        self._gate = MotionGate(config.motion.min_changed)
        wants_items = any(b.type in ITEM_BEHAVIOURS for b in config.behaviours)
        self._items = StaticObjects() if wants_items else None
        self._look_until = 0.0
        self._tracker = Tracker(tracker_config({"fps": config.fps, **config.tracker}))
        self._behaviours = BehaviourEngine(config, time_profiles=time_profiles)
        zones = {zone.name: zone for zone in config.zones}
        self._plates = _plate_readers(config, zones)
        self._tamper = next(
            (
                (
                    b,
                    TamperWatch(
                        hold_s=b.hold_s,
                        learn_s=b.learn_s,
                        relearn_s=b.relearn_s,
                        kinds=frozenset(TamperKind(k) for k in b.kinds),
                    ),
                )
                for b in config.behaviours
                if isinstance(b, Tampering)
            ),
            None,
        )
        self._faces: list[PersonFaces | FrameFaces] = [
            FrameFaces(b, camera_id=camera_id, node=ctx.node)
            if b.mode == "frame"
            else PersonFaces(b, zones.get(b.zone or ""), camera_id=camera_id, node=ctx.node)
            for b in config.behaviours
            if isinstance(b, FaceMatching)
        ]
        parking = [b for b in config.behaviours if b.type == PARKED_VEHICLE]
        self._parking = ArrivalPhotos(parking[0].classes) if parking else None
        # A parked vehicle's plate is read as the camera's plate reading reads.
        reading = next((o for o, _ in self._plates), None)
        self._plate_formats = (reading.countries, reading.region) if reading else ([], "EU")
        self._detector: Detector | None = None
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self._notes: dict[int, _TrackNotes] = {}
        self._tracks_alive = False
        # Whether the latest analysed frame found nothing new and lost no track (written by
        # the worker, read by the decoder thread), and the tracks matched on it.
        self._calm = False
        self._matched: set[int] = set()
        self._empty_streak = 0
        # Where the followed objects are, grown by follow_margin, as fractions of the frame
        # (written by the worker, read by the decoder thread: replaced, never changed).
        self._followed = np.empty((0, 4), np.float32)
        self._carry: _Carry | None = None
        self._last_offer_t = 0.0
        self._last_t = 0.0
        self.latest: SampledFrame | None = None
        """The latest sampled frame (for snapshots)."""
        # Counters: written by the decoder thread (sampled, moving, dropped) and the worker
        # (analysed, detector_s); read for status reports under the lock.
        self._lock = threading.Lock()
        self._counts = _Counters()
        self._reported = _Counters()
        self._reported_at = time.monotonic()
        self._reported_frames = 0
        self._reported_packets = 0
        self.state = State.STARTING
        self.error: str | None = None

    # -- life ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start decoding and load the detector (on a worker)."""
        self.decoder.start()
        self._slot.offer(_LOAD)

    def stop(self) -> None:
        """Stop decoding and analysing (blocks until the frame in hand is done)."""
        self.decoder.stop()
        self._slot.close()
        self._read_plates(None, None, [])
        self._look_at_faces(None, None, [])

    @property
    def busy(self) -> bool:
        """Whether a frame waits for the detector or is being analysed."""
        return self._slot.busy

    @property
    def detector_calls(self) -> int:
        """Frames the detector has analysed so far."""
        return self._counts.analysed

    @property
    def frames_dropped(self) -> int:
        """Analysis frames and packets dropped so far because analytics was busy."""
        return self._counts.dropped + self.decoder.packets_dropped

    def snapshot_jpeg(self) -> bytes | None:
        """The latest sampled frame as JPEG, or None before the first one."""
        latest = self.latest
        if latest is None:
            return None
        return encode_jpeg(to_bgr(latest.frame))

    # -- decoder thread -----------------------------------------------------------------
    def _on_frame(self, sample: SampledFrame) -> None:
        self.latest = sample  # unmasked: snapshots are masked on their way to who may not see
        if self.state in (State.UNAVAILABLE, State.ERROR):
            return
        frame = sample.frame if self._masker is None else self._masker.apply(sample.frame)
        if self._tamper is not None:
            self._watch_tampering(sample)
        gate = self.config.motion
        moving = True
        t = max(sample.wall.timestamp(), self._last_t + 1e-3)
        self._last_t = t
        gray = small_gray(frame) if gate.enabled or self._items is not None else None
        if gate.enabled:
            assert gray is not None
            self._gate.update(gray)
            moving = self._gate.moving
        if self._items is not None:
            assert gray is not None
            before = len(self._items.boxes)
            self._items.update(gray, t)
            if len(self._items.boxes) > before:
                self._look_until = t + ITEM_LOOK_S
            moving = moving or t < self._look_until
        since = t - self._last_offer_t
        keepalive = self._tracks_alive and since >= gate.keepalive_s
        with self._lock:
            self._counts.sampled += 1
            self._counts.moving += moving
        if not (moving or keepalive):
            return
        if (
            gate.enabled  # the gate off: every sampled frame is detected
            and moving
            and not keepalive
            and gate.tracked_fps < self.config.fps
            and since < 1.0 / gate.tracked_fps
            and (self._calm or self._explained_by_tracks())
        ):
            # The tracker carries the tracks to the next detection; the live view's boxes
            # move on with them meanwhile.
            self._publish_carried(t, sample.wall)
            return
        self._last_offer_t = t
        work = _Work(to_bgr(frame), t, sample.wall)
        if self._slot.offer(work):
            with self._lock:
                self._counts.dropped += 1

    def _watch_tampering(self, sample: SampledFrame) -> None:
        """Compare the frame with the learnt view (the unmasked one: a mask must not hide a
        cover); a kind of tampering that has just held becomes a ``camera.tampering`` event."""
        assert self._tamper is not None
        options, watch = self._tamper
        report = watch.update(small_gray(sample.frame, TAMPER_WIDTH), sample.wall.timestamp())
        if report is not None and self._behaviours.armed(options, sample.wall):
            self._emit_tampering(report, sample, options)

    def _emit_tampering(
        self, report: TamperReport, sample: SampledFrame, options: Tampering
    ) -> None:
        label = behaviour_label(options)
        event = Event(
            type=CAMERA_TAMPERING,
            at=sample.wall,
            camera_id=self.camera_id,
            attributes={
                "kind": report.kind.value,
                "since": _wall(report.since).isoformat(),
                "detail": round(report.detail, 3),
                "contrast": round(report.contrast, 3),
                "difference": round(report.difference, 1),
                "error": f"the camera is {report.kind.value}",
                "behaviour": label,
            },
            source=self.ctx.node,
        )
        event.snapshot = self._picture(event, to_bgr(sample.frame))
        log.info("camera %s: %s", self.camera_id, event.attributes["error"])
        self.ctx.publish(event.subject(), event)

    def _explained_by_tracks(self) -> bool:
        """Whether the latest motion lies around the followed objects only (for detectors
        that look at each frame on its own: one that compares frames must see them all)."""
        gate = self.config.motion
        if gate.follow_margin <= 0 or not gate.enabled or not self._detector_stateless:
            return False
        return not self._gate.moving_outside(self._followed)

    def _publish_carried(self, t: float, wall: datetime) -> None:
        """The latest analysed frame's boxes, moved on at their speed to ``t`` (not while a
        frame is with the detector: its answer, older, would come after)."""
        carry = self._carry
        if carry is None or not carry.objects or self.busy:
            return
        frame = AnalyticsFrame(camera_id=self.camera_id, at=wall, objects=carry.at(t))
        self.ctx.publish(frame.subject(), frame)

    @property
    def _detector_stateless(self) -> bool:
        """Whether the detector looks at each frame on its own (frames may be skipped)."""
        return bool(getattr(self._detector, "stateless", False))

    def _on_tick(self) -> None:
        now = time.monotonic()
        if self.state == State.UNAVAILABLE and now >= self._retry_at:
            self._retry_at = now + self._retry_s  # one attempt per due time
            self._slot.offer(_LOAD)
        if now - self._reported_at >= STATUS_INTERVAL_S:
            self.report()

    def report(self) -> AnalyticsStatus:
        """Publish the pipeline's status (rates since the previous report) and return it."""
        now = time.monotonic()
        with self._lock:
            span = max(now - self._reported_at, 1e-3)
            window = self._counts.minus(self._reported)
            frames = self.decoder.frames_decoded - self._reported_frames
            packets = self.decoder.packets_dropped - self._reported_packets
            self._reported, self._reported_at = replace(self._counts), now
            self._reported_frames = self.decoder.frames_decoded
            self._reported_packets = self.decoder.packets_dropped
        frames_in = frames / span
        # A packet dropped from the queue is a video frame lost to analysis; in analysis
        # frames that is the sampled share of them.
        sampled_share = min(1.0, self.config.fps / frames_in) if frames_in > 0 else 1.0
        dropped = window.dropped + packets * sampled_share
        status = AnalyticsStatus(
            camera_id=self.camera_id,
            state=self.state,
            detector=str(self.config.detector.get("type")),
            error=self.error,
            frames_in=round(frames_in, 2),
            frames_analysed=round(window.analysed / span, 2),
            frames_dropped=round(dropped / span, 2),
            motion_ratio=round(window.moving / window.sampled, 3) if window.sampled else 0.0,
            detector_ms=round(1000 * window.detector_s / window.analysed, 2)
            if window.analysed
            else 0.0,
            at=datetime.now(UTC),
        )
        self.ctx.publish(status.subject(), status)
        return status

    # -- worker -------------------------------------------------------------------------
    def _create_detector(self, config: CameraAnalyticsConfig) -> Detector:
        return create_detector(
            config.detector,
            models_dir=self.ctx.models_dir,
            intra_op_threads=self.ctx.intra_op_threads,
        )

    def _set_state(self, state: str, error: str | None) -> None:
        changed = (state, error) != (self.state, self.error)
        self.state, self.error = state, error
        if changed:
            self.report()

    def _load(self) -> bool:
        if self._detector is not None:
            return True
        if self.state == State.ERROR:
            return False
        try:
            self._detector = self._factory(self.config)
        except DetectorUnavailable as exc:
            self._retry_at = time.monotonic() + self._retry_s
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            log.warning(
                "camera %s: analytics unavailable (%s); retrying in %.0f s",
                self.camera_id,
                exc,
                self._retry_at - time.monotonic(),
            )
            self._set_state(State.UNAVAILABLE, str(exc))
            return False
        except (DetectorError, ValueError, ValidationError) as exc:
            # A configuration the detector refuses: it stays so until it is changed.
            log.error("camera %s: analytics cannot start: %s", self.camera_id, exc)
            self._set_state(State.ERROR, str(exc))
            return False
        self._retry_s = RETRY_MIN_S
        self._set_state(State.RUNNING, None)
        return True

    def _handle(self, item: Any) -> None:
        if not self._load() or item is _LOAD:
            return
        work: _Work = item
        assert self._detector is not None
        started = time.perf_counter()
        try:
            detections = self._detector.detect(work.image)
        except DetectorError as exc:
            self._detector = None  # load again (with backoff)
            self._set_state(State.UNAVAILABLE, str(exc))
            return
        elapsed = time.perf_counter() - started
        with self._lock:
            self._counts.analysed += 1
            self._counts.detector_s += elapsed
        self._analyse(work, detections)

    def _analyse(self, work: _Work, detections: Detections) -> None:
        height, width = work.image.shape[:2]
        size = (width, height)
        if self._items is not None:
            detections = with_items(detections, self._items.boxes, size)
        tracked = self._tracker.update(detections, work.t)
        self._take_notes(tracked, work.image, size)
        hits = self._behaviours.update(self._tracker.tracks.values(), work.t, work.wall, size)
        for hit in hits:
            self._emit_event(hit, work, size)
        if self._parking is not None:
            self._parking.observe(tracked, work.image, work.t, work.wall)
        ended = self._tracker.pop_ended()
        if self._parking is not None:
            self._parking.forget(t.track_id for t in ended)
        if self._plates:
            self._read_plates(tracked, work, [t.track_id for t in ended])
        if self._faces:
            self._look_at_faces(tracked, work, [t.track_id for t in ended])
        if ended:
            self._behaviours.forget(t.track_id for t in ended)
            for track in ended:
                self._emit_track(track)
        self._tracks_alive = bool(self._tracker.tracks)
        self._calm = self._nothing_new(detections, tracked)
        margin = self.config.motion.follow_margin
        if margin > 0:
            self._followed = followed_areas(self._tracker.tracks.values(), size, margin)
        objects = self._objects(tracked, size)
        self._carry = self._carried(tracked, objects, work.t, size)
        frame = AnalyticsFrame(camera_id=self.camera_id, at=work.wall, objects=objects)
        self.ctx.publish(frame.subject(), frame)

    def _carried(
        self, tracked: Detections, objects: list[ObjectRef], t: float, size: tuple[int, int]
    ) -> _Carry:
        """The objects with the speed of each box over its track's latest positions."""
        scale = np.array([size[0], size[1], size[0], size[1]], dtype=np.float64)
        boxes = np.array([o.box for o in objects], dtype=np.float64).reshape(-1, 4)
        velocity = np.zeros_like(boxes)
        ids = [] if tracked.tracker_id is None else tracked.tracker_id.tolist()
        for row, track_id in enumerate(ids):
            track = self._tracker.tracks.get(int(track_id))
            if track is None or len(track.points) < 2:
                continue
            last = track.points[-1]
            first = next(p for p in track.points if p.t >= last.t - VELOCITY_WINDOW_S)
            if last.t > first.t:
                moved = np.subtract(last.xyxy, first.xyxy) / scale
                velocity[row] = moved / (last.t - first.t)
        return _Carry(t, objects, boxes, velocity)

    def _nothing_new(self, detections: Detections, tracked: Detections) -> bool:
        """Whether every confident box belongs to a settled track and no track was lost; or,
        with nothing followed, whether the detector has found nothing at all on the last
        ``EMPTY_STREAK`` moving frames (motion, but none of the configured classes in it)."""
        matched = set() if tracked.tracker_id is None else set(tracked.tracker_id.tolist())
        lost = bool(self._matched - matched)
        self._matched = matched
        self._empty_streak = self._empty_streak + 1 if len(detections) == 0 else 0
        if lost or not self._detector_stateless:
            # A detector that compares frames must see them all.
            return False
        if not matched:
            # Trees, rain, a screen, a conveyor: motion the detector keeps finding nothing
            # in. Anything found (even once, even weak) brings back the full rate.
            return self._empty_streak >= EMPTY_STREAK
        young = any(
            len(self._tracker.tracks[i].points) < SETTLED_POINTS
            for i in matched
            if i in self._tracker.tracks
        )
        if young:
            return False
        # A box strong enough to start a track that is not (yet) a confirmed one: new.
        threshold = getattr(self._tracker.config, "track_activation_threshold", 0.0)

        def confident(found: Detections) -> int:
            scores = found.confidence if found.confidence is not None else np.ones(len(found))
            return int(np.count_nonzero(scores >= threshold))

        return confident(tracked) >= confident(detections)

    def _objects(self, tracked: Detections, size: tuple[int, int]) -> list[ObjectRef]:
        names = tracked.data.get(CLASS_NAME)
        ids = tracked.tracker_id
        scores = tracked.confidence
        return [
            ObjectRef(
                class_name=str(names[i]) if names is not None else "object",
                track_id=int(ids[i]) if ids is not None else None,
                confidence=round(float(scores[i]), 3) if scores is not None else None,
                box=_fractions(tracked.xyxy[i], size),
            )
            for i in range(len(tracked))
        ]

    def _take_notes(self, tracked: Detections, image: Image, size: tuple[int, int]) -> None:
        """Remember each track's best view (for its thumbnail) and the zones it entered."""
        if tracked.tracker_id is None or len(tracked) == 0:
            return
        anchors = anchor_points(tracked.xyxy, size)
        inside = {zone.name: zone.contains(anchors) for zone in self.config.zones}
        scores = tracked.confidence if tracked.confidence is not None else np.ones(len(tracked))
        for i, track_id in enumerate(tracked.tracker_id.tolist()):
            notes = self._notes.setdefault(int(track_id), _TrackNotes(size))
            notes.frame_size = size
            notes.zones.update(name for name, mask in inside.items() if mask[i])
            x1, y1, x2, y2 = (float(v) for v in tracked.xyxy[i])
            # Bigger and surer is a better view.
            score = float(scores[i]) * max(x2 - x1, 0.0) * max(y2 - y1, 0.0) ** 0.5
            if score > notes.best_score:
                piece = crop(image, (x1, y1, x2, y2))
                if piece is not None:
                    notes.best_score, notes.best_crop = score, piece
                    notes.best_box = _fractions((x1, y1, x2, y2), size)

    def _emit_event(self, hit: BehaviourHit, work: _Work, size: tuple[int, int]) -> None:
        track = self._tracker.tracks.get(hit.track_id) if hit.track_id is not None else None
        box = track.points[-1].xyxy if track is not None and track.points else None
        obj = None
        if track is not None and box is not None:
            piece = crop(work.image, box)
            obj = ObjectRef(
                class_name=hit.class_name or track.class_name,
                track_id=track.track_id,
                confidence=round(track.points[-1].confidence, 3),
                box=_fractions(box, size),
                colour=dominant_colour(piece) if piece is not None else None,
            )
        event = Event(
            type=hit.type,
            at=work.wall,
            camera_id=self.camera_id,
            zone=hit.zone,
            object=obj,
            count=hit.count,
            attributes={**hit.attributes, "behaviour": hit.label},
            track=track_path(track, size) if track is not None else [],
            source=self.ctx.node,
        )
        label = f"{obj.class_name} {obj.track_id}" if obj is not None else hit.label
        if hit.type == PARKED_VEHICLE and track is not None and box is not None:
            self._parking_evidence(event, track.track_id, work, box)
        event.snapshot = self._picture(event, work.image, box, label)
        self.ctx.publish(event.subject(), event)
        self._record_around(event, hit.label)

    def _parking_evidence(
        self, event: Event, track_id: int, work: _Work, box: tuple[float, float, float, float]
    ) -> None:
        """What a parking fine needs beside the snapshot at the limit: the photo at arrival
        and the plate (its reading and crop), written beside the snapshot."""
        arrival = self._parking.arrival(track_id) if self._parking is not None else None
        files = {}
        if arrival is not None and arrival.jpeg is not None:
            event.attributes["arrived_at"] = arrival.at.isoformat()
            files["arrival"] = arrival.jpeg
        height, width = work.image.shape[:2]
        try:
            x1, y1, x2, y2 = box
            found = find_and_read_plates(work.image, [Box.around(x1, y1, x2, y2, width, height)])
        except PlatesUnavailable as exc:
            log.warning("camera %s: no plate for the parked vehicle: %s", self.camera_id, exc)
            found = []
        read = next((p for p in found if p.text), None)
        if read is not None and read.text is not None:
            countries, region = self._plate_formats
            formatted = fit(read.text, countries, region=region)
            event.attributes |= {
                "plate": formatted.text,
                "plate_confidence": round(read.score, 3),
                "plate_format": formatted.format,
            }
            plate = crop(work.image, read.box)
            if plate is not None:
                files["plate"] = encode_jpeg(plate)
        for name, data in files.items():
            try:
                event.attributes[f"{name}_photo" if name == "arrival" else "plate_crop"] = (
                    write_jpeg(
                        self.ctx.data_dir,
                        snapshot_path(self.camera_id, event.at, f"{event.id}-{name}"),
                        data,
                    )
                )
            except OSError as exc:
                log.warning("camera %s: %s photo not written: %s", self.camera_id, name, exc)

    def _picture(
        self,
        event: Event,
        frame: Image,
        box: tuple[float, float, float, float] | None = None,
        label: str | None = None,
        *,
        suffix: str = "",
    ) -> str | None:
        """Write one of an event's pictures (its snapshot; with ``suffix``, another one beside
        it) and return its path; None when it cannot be written: the event matters more."""
        try:
            return write_snapshot(
                self.ctx.data_dir,
                camera_id=self.camera_id,
                at=event.at,
                event_id=f"{event.id}{suffix}",
                frame=frame,
                box=box,
                label=label,
            )
        except (OSError, ValueError) as exc:
            log.warning(
                "camera %s: picture of a %s event not written: %s", self.camera_id, event.type, exc
            )
            return None

    def _record_around(self, event: Event, label: str) -> None:
        """On an events-mode camera, ask for the recording around the event."""
        if self._recording is not None and self.ctx.db is not None:
            try:
                request_recording(
                    self.ctx.db,
                    camera_id=self.camera_id,
                    start=event.at - timedelta(seconds=self._recording.pre_s),
                    end=event.at + timedelta(seconds=self._recording.post_s),
                    keep_until=None,
                    reason=f"analytics: {label}",
                )
            except Exception:  # the database may be briefly away; the event is out anyway
                log.exception("camera %s: recording request failed", self.camera_id)

    def _read_plates(
        self, tracked: Detections | None, work: _Work | None, ended: list[int]
    ) -> None:
        """Hand the frame to the plate readers; emit the passages they have read. Without a
        frame (the camera stops): emit every passage still open."""
        flush = work is None
        now = self._last_t if work is None else work.t
        try:
            for options, reader in self._plates:
                if isinstance(reader, VehiclePlates):
                    if tracked is not None and work is not None:
                        reader.observe(tracked, work.image, work.t, work.wall)
                    readings = reader.finish(ended, now, flush=flush)
                else:
                    if work is not None:
                        reader.observe(work.image, work.t, work.wall)
                    readings = reader.finish(now, flush=flush)
                for reading in readings:
                    if self._behaviours.armed(options, reading.view.at):
                        self._emit_plate(reading, options)
        except PlatesUnavailable as exc:
            log.error("camera %s: plate reading off: %s", self.camera_id, exc)
            self._plates = []

    def _look_at_faces(
        self, tracked: Detections | None, work: _Work | None, ended: list[int]
    ) -> None:
        """Hand the frame to face matching; send the server the faces it has looked at.
        Without a frame (the camera stops): every person still followed."""
        now = self._last_t if work is None else work.t
        try:
            for reader in self._faces:
                if isinstance(reader, PersonFaces):
                    if tracked is not None and work is not None:
                        reader.observe(tracked, work.image, work.t, work.wall)
                    sightings = reader.finish(ended, now, flush=work is None)
                else:
                    if work is not None:
                        reader.observe(work.image, work.t, work.wall)
                    sightings = reader.finish(now, flush=work is None)
                for sighting in sightings:
                    if self._behaviours.armed(reader.options, sighting.at):
                        self.ctx.publish(sighting.subject(), sighting)
        except FacesUnavailable as exc:
            log.error("camera %s: face matching off: %s", self.camera_id, exc)
            self._faces = []

    def _emit_plate(self, reading: PassageReading, options: PlateReading) -> None:
        view = reading.view
        obj = None
        if reading.track_id is not None:
            obj = ObjectRef(
                class_name=reading.class_name or "car",
                track_id=reading.track_id,
                box=tuple(round(v, 4) for v in view.frame_box),
            )
        label = behaviour_label(options)
        event = Event(
            type=PLATE_READ,
            at=view.at,
            camera_id=self.camera_id,
            zone=options.zone,
            object=obj,
            attributes={
                "plate": reading.text,
                "seen": reading.seen,
                "confidence": reading.confidence,
                "characters": reading.characters,
                "format": reading.format,
                "fixes": reading.fixes,
                "reads": reading.reads,
                "views": reading.views,
                "others": reading.others,
                "first_at": reading.first_at.isoformat(),
                "behaviour": label,
            },
            source=self.ctx.node,
        )
        event.snapshot = self._picture(event, view.image, reading.plate_box, reading.text)
        plate = crop(view.image, reading.plate_box)
        if plate is not None and (path := self._picture(event, plate, suffix="-plate")):
            event.attributes["plate_crop"] = path
        self.ctx.publish(event.subject(), event)
        self._record_around(event, label)

    def _emit_track(self, track: Track) -> None:
        notes = self._notes.pop(track.track_id, None)
        if notes is None or not track.points:
            return
        first_at = _wall(track.first_seen)
        thumbnail = colour = None
        if notes.best_crop is not None:
            colour = dominant_colour(notes.best_crop)
            try:
                thumbnail = write_thumbnail(
                    self.ctx.data_dir,
                    camera_id=self.camera_id,
                    first_at=first_at,
                    track_id=track.track_id,
                    image=notes.best_crop,
                )
            except (OSError, ValueError) as exc:
                log.warning("camera %s: track thumbnail not written: %s", self.camera_id, exc)
        message = TrackEnded(
            camera_id=self.camera_id,
            track_id=track.track_id,
            class_name=track.class_name,
            colour=colour,
            first_at=first_at,
            last_at=_wall(track.last_seen),
            path=track_path(track, notes.frame_size),
            box=notes.best_box,
            zones=sorted(notes.zones),
            thumbnail=thumbnail,
            node=self.ctx.node,
        )
        self.ctx.publish(message.subject(), message)

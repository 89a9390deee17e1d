"""Tracking: stable track ids across frames, and the recent path of each track.

The association itself is Roboflow's ``trackers`` package (clean-room ByteTrack, SORT and
OC-SORT on ``supervision.Detections``); this module picks one by name from the configuration,
feeds it timestamps (so a dropped analysis frame is a longer Kalman step, not a lost track) and
keeps what behaviours need: each track's positions with their times, first and last sighting and
its class.

Example:
    >>> import numpy as np
    >>> from vigil.analytics.detections import make_detections
    >>> tracker = Tracker(tracker_config({"type": "bytetrack", "minimum_consecutive_frames": 1}))
    >>> for i in range(3):
    ...     tracked = tracker.update(make_detections([[10 + i, 10, 50 + i, 90]], [0.9], [0]), i / 5)
    >>> tracked.tracker_id.tolist(), len(tracker.tracks[0].points)
    ([0], 2)
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from vigil.analytics.classes import OBJECT_CLASS
from vigil.analytics.detections import CLASS_NAME, Detections

if TYPE_CHECKING:
    from trackers.core.base import BaseTracker

__all__ = [
    "ByteTrackConfig",
    "OCSortConfig",
    "SortConfig",
    "Track",
    "TrackPoint",
    "Tracker",
    "TrackerConfig",
    "tracker_config",
]

# trackers expresses its lost-track buffer in frames of a 30 fps video, whatever the real rate.
_LIBRARY_BUFFER_FPS = 30.0


class _TrackerConfigBase(BaseModel):
    """Settings every tracker shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fps: float = Field(5.0, gt=0, le=120, description="Nominal analysis rate (frames per second).")
    lost_track_s: float = Field(
        2.0, ge=0, le=60, description="How long a lost track is kept for re-association (s)."
    )
    minimum_consecutive_frames: int = Field(
        2, ge=1, le=30, description="Matched frames in a row before a track gets an id."
    )
    minimum_iou: float = Field(
        0.1, gt=0, lt=1, description="Least box overlap (IoU) that associates a detection."
    )
    history_s: float = Field(
        120.0, gt=0, le=3600, description="How much of each track's path is kept (s)."
    )

    def _lost_track_buffer(self) -> int:
        return round(self.lost_track_s * _LIBRARY_BUFFER_FPS)


class ByteTrackConfig(_TrackerConfigBase):
    """ByteTrack: two-stage association that uses low-score boxes to keep tracks through
    occlusion. Vigil's default."""

    type: Literal["bytetrack"] = "bytetrack"
    track_activation_threshold: float = Field(
        0.5, gt=0, le=1, description="Least score that starts a new track."
    )
    high_conf_threshold: float = Field(
        0.5, gt=0, le=1, description="Score splitting first-stage from second-stage boxes."
    )


class SortConfig(_TrackerConfigBase):
    """SORT: Kalman filter and one IoU association; the simplest, fastest tracker."""

    type: Literal["sort"] = "sort"
    track_activation_threshold: float = Field(
        0.25, gt=0, le=1, description="Least score that starts a new track."
    )


class OCSortConfig(_TrackerConfigBase):
    """OC-SORT: observation-centric re-update, better on non-linear motion and occlusion."""

    type: Literal["ocsort"] = "ocsort"
    high_conf_threshold: float = Field(
        0.5, gt=0, le=1, description="Score splitting first-stage from second-stage boxes."
    )
    direction_consistency_weight: float = Field(0.2, ge=0, le=1)


TrackerConfig = Annotated[ByteTrackConfig | SortConfig | OCSortConfig, Field(discriminator="type")]
"""A tracker's configuration; its ``type`` names the tracker."""

_CONFIG_ADAPTER: TypeAdapter[ByteTrackConfig | SortConfig | OCSortConfig] = TypeAdapter(
    TrackerConfig
)


def tracker_config(data: Mapping[str, Any] | None = None) -> TrackerConfig:
    """Validate a tracker configuration (ByteTrack when ``type`` is missing).

    Args:
        data: Settings, e.g. ``{"type": "bytetrack", "lost_track_s": 2}``.

    Returns:
        The typed configuration.

    Raises:
        pydantic.ValidationError: An unknown ``type`` or a setting out of range (the message
            names the field).
    """
    return _CONFIG_ADAPTER.validate_python({"type": "bytetrack", **(data or {})})


def _bytetrack(config: ByteTrackConfig) -> BaseTracker:
    from trackers import ByteTrackTracker

    return ByteTrackTracker(
        lost_track_buffer=config._lost_track_buffer(),
        frame_rate=config.fps,
        track_activation_threshold=config.track_activation_threshold,
        minimum_consecutive_frames=config.minimum_consecutive_frames,
        minimum_iou_threshold=config.minimum_iou,
        high_conf_det_threshold=config.high_conf_threshold,
    )


def _sort(config: SortConfig) -> BaseTracker:
    from trackers import SORTTracker

    return SORTTracker(
        lost_track_buffer=config._lost_track_buffer(),
        frame_rate=config.fps,
        track_activation_threshold=config.track_activation_threshold,
        minimum_consecutive_frames=config.minimum_consecutive_frames,
        minimum_iou_threshold=config.minimum_iou,
    )


def _ocsort(config: OCSortConfig) -> BaseTracker:
    from trackers import OCSORTTracker

    return OCSORTTracker(
        lost_track_buffer=config._lost_track_buffer(),
        frame_rate=config.fps,
        minimum_consecutive_frames=config.minimum_consecutive_frames,
        minimum_iou_threshold=config.minimum_iou,
        direction_consistency_weight=config.direction_consistency_weight,
        high_conf_det_threshold=config.high_conf_threshold,
    )


# One entry per tracker type; the configuration's ``type`` picks both schema and factory.
_FACTORIES: dict[str, Callable[[Any], BaseTracker]] = {
    "bytetrack": _bytetrack,
    "sort": _sort,
    "ocsort": _ocsort,
}


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """Where a track was at one time.

    Attributes:
        t: Time of the frame in seconds (the timestamps given to ``Tracker.update``).
        xyxy: The box, x1, y1, x2, y2 in pixels of the frame.
        confidence: The detector's score for this box.
    """

    t: float
    xyxy: tuple[float, float, float, float]
    confidence: float

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom centre of the box in pixels: where a person or vehicle touches the ground."""
        x1, _, x2, y2 = self.xyxy
        return ((x1 + x2) / 2, y2)


@dataclass(slots=True)
class Track:
    """One object followed over time in one camera.

    Attributes:
        track_id: Stable id, unique per ``Tracker``.
        first_seen: Time of the first sighting (s); kept when old points are trimmed.
        points: Positions in time order, trimmed to the configured history.
        class_votes: How often each class name was detected for this track.
    """

    track_id: int
    first_seen: float
    points: deque[TrackPoint] = field(default_factory=deque)
    class_votes: Counter[str] = field(default_factory=Counter)

    @property
    def last_seen(self) -> float:
        """Time of the latest sighting (s)."""
        return self.points[-1].t

    @property
    def class_name(self) -> str:
        """The class this track was detected as most often (detectors flip, e.g. car/truck)."""
        return self.class_votes.most_common(1)[0][0] if self.class_votes else OBJECT_CLASS

    @property
    def duration(self) -> float:
        """Seconds from the first to the latest sighting."""
        return self.last_seen - self.first_seen


class Tracker:
    """Gives detections stable track ids and remembers each track's path.

    Args:
        config: Which tracker and its settings (see ``tracker_config``).
    """

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self._tracker = _FACTORIES[config.type](config)
        self.tracks: dict[int, Track] = {}
        """Live tracks by id (seen within ``lost_track_s``)."""
        self._ended: list[Track] = []

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Associate one frame's detections with the tracks.

        Args:
            detections: The frame's detections (pixels), in any order.
            timestamp: The frame's time in seconds, increasing from call to call; the gap to
                the previous call scales the motion prediction, so frames may be skipped.

        Returns:
            The detections that belong to a confirmed track, with ``tracker_id`` set. Boxes not
            (yet) part of a track are left out.
        """
        result = self._tracker.update(detections, timestamp=timestamp)
        if len(result) == 0:
            # The library answers an empty frame with bare Detections; keep the input's
            # ``data`` keys so that callers can index them on every frame.
            result = _rows(detections, np.zeros(len(detections), dtype=bool))
            result.tracker_id = np.zeros(0, dtype=int)
        ids = result.tracker_id if result.tracker_id is not None else np.full(len(result), -1)
        tracked = _rows(result, ids >= 0)
        self._remember(tracked, timestamp)
        return tracked

    def pop_ended(self) -> list[Track]:
        """Tracks that ended (unseen for longer than ``lost_track_s``) since the last call."""
        ended, self._ended = self._ended, []
        return ended

    def _remember(self, tracked: Detections, t: float) -> None:
        names = tracked.data.get(CLASS_NAME)
        confidence = tracked.confidence
        ids: list[int] = [] if tracked.tracker_id is None else tracked.tracker_id.tolist()
        for i, (track_id, box) in enumerate(zip(ids, tracked.xyxy, strict=True)):
            key = int(track_id)
            track = self.tracks.get(key)
            if track is None:
                track = self.tracks[key] = Track(track_id=key, first_seen=t)
            x1, y1, x2, y2 = (float(v) for v in box)
            score = float(confidence[i]) if confidence is not None else 1.0
            track.points.append(TrackPoint(t=t, xyxy=(x1, y1, x2, y2), confidence=score))
            track.class_votes[str(names[i]) if names is not None else OBJECT_CLASS] += 1
            while track.points and track.points[0].t < t - self.config.history_s:
                track.points.popleft()
        # One nominal frame of slack: the library may still re-associate on that frame.
        keep_s = self.config.lost_track_s + 1 / self.config.fps
        expired = [k for k, tr in self.tracks.items() if t - tr.last_seen > keep_s]
        for key in expired:
            self._ended.append(self.tracks.pop(key))


def _rows(detections: Detections, mask: np.ndarray[Any, np.dtype[np.bool_]]) -> Detections:
    """The rows of ``detections`` where ``mask`` is true (typed: indexing returns a union)."""
    selected = detections[mask]
    assert isinstance(selected, Detections)
    return selected

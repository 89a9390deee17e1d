"""What every behaviour shares: the hit it reports, the scene it reads, and small timers.

A behaviour is a *rule*: built from its configuration and the zone or line it names, it reads
one :class:`Scene` per analysed frame (every live track's latest position and the positions
added since the previous frame) and answers with :class:`BehaviourHit` objects. Rules are pure
state machines: no I/O, no clocks of their own; time is the stream time of the track points.

Positions: zones and lines are normalised (0..1) and placed by a track's bottom-centre anchor;
distances between objects (nearness, stillness, speed) are measured in pixels of the frame,
relative to the objects' own sizes, so they do not depend on the stream's resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.geometry import Point
from vigil.analytics.tracking import Track, TrackPoint

__all__ = [
    "BRINGER_CLASSES",
    "BehaviourHit",
    "ClassFilter",
    "DoneElsewhere",
    "Rule",
    "Scene",
    "Sighting",
    "Stillness",
    "Sustained",
    "box_distance",
    "class_filter",
    "is_dumpable",
]

PERSON = "person"
BRINGER_CLASSES: frozenset[str] = frozenset({PERSON, "bicycle", *VEHICLE_CLASSES})
"""Who can bring (and leave) an object: people and vehicles."""

ZONE_GRACE_S = 1.0
"""A track outside its zone for up to this long (a box jittering over the border) has not
left it."""

ClassFilter = Callable[[str], bool]
"""Whether a class name is one a behaviour looks at."""


@dataclass(frozen=True, slots=True)
class BehaviourHit:
    """One behaviour that happened: the pipeline turns it into an ``Event``.

    Attributes:
        type: The event type: line_crossing, intrusion, loitering, running, crowding, occupancy,
            left_object, illegal_dumping or parked_vehicle.
        zone: The zone's or line's name (None for running or left_object without a zone).
        track_id: The track it is about (None for crowding and occupancy).
        class_name: That track's class (None for crowding and occupancy).
        count: Objects counted (crowding, occupancy) or this class's crossings in this
            direction so far (line_crossing); None otherwise.
        attributes: Details by type (JSON-ready): line_crossing {line, direction, counts
            {class: {in, out}}}; intrusion {inside_s}; loitering {dwell_s}; running
            {speed_heights_per_s}; crowding {count, min_count, for_s}; occupancy {count};
            left_object {still_s}; illegal_dumping {still_s, brought_by {class_name,
            track_id}}; parked_vehicle {stopped_s, max_s}.
        label: How the behaviour is named (``config.behaviour_label``).
        t: Stream time (s) of the observation that completed it.
    """

    type: str
    zone: str | None
    track_id: int | None
    class_name: str | None
    count: int | None
    attributes: dict[str, Any]
    label: str
    t: float


@dataclass(frozen=True, slots=True)
class Sighting:
    """A live track as one frame sees it.

    Attributes:
        track: The tracker's track (its full recent path is in ``track.points``).
        track_id: Its id.
        class_name: Its class (the vote over its detections).
        last: Its latest point (pixels).
        anchor: Normalised bottom centre of ``last`` (for zones and lines).
        fresh: Points added since the previous frame, oldest first (often one, none while the
            track is lost, more when frames were analysed without calling the engine).
        frame_size: The frame's (width, height) in pixels.
    """

    track: Track
    track_id: int
    class_name: str
    last: TrackPoint
    anchor: Point
    fresh: tuple[TrackPoint, ...]
    frame_size: tuple[int, int]

    def normalised(self, point: TrackPoint) -> Point:
        """The normalised bottom-centre anchor of one of this track's points."""
        return normalise(point.anchor, self.frame_size)

    @property
    def height(self) -> float:
        """Box height of the latest point (pixels)."""
        return self.last.xyxy[3] - self.last.xyxy[1]

    @property
    def width(self) -> float:
        """Box width of the latest point (pixels)."""
        return self.last.xyxy[2] - self.last.xyxy[0]


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything a rule reads about one analysed frame.

    Attributes:
        now: Stream time (s), the clock of the track points.
        at: Wall time of the frame (aware), for schedules.
        frame_size: (width, height) in pixels.
        sightings: Every live track.
    """

    now: float
    at: datetime
    frame_size: tuple[int, int]
    sightings: tuple[Sighting, ...]


class Rule(Protocol):
    """One configured behaviour's state machine."""

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """Read one frame; ``armed`` is false outside the behaviour's time profile (the engine
        drops hits then; a rule may also hold its timers)."""
        ...

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        ...


class DoneElsewhere:
    """The rule of a behaviour whose work needs the pixels (plate reading, face matching,
    tampering): the camera's pipeline does it, so the rule itself reports nothing."""

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """Nothing: the pipeline reports."""
        return []

    def forget(self, track_ids: Collection[int]) -> None:
        """Nothing to forget."""
        return None


def normalise(point: tuple[float, float], frame_size: tuple[int, int]) -> Point:
    """A pixel point in normalised image coordinates, clipped to 0..1."""
    width, height = frame_size
    return (min(max(point[0] / width, 0.0), 1.0), min(max(point[1] / height, 0.0), 1.0))


def class_filter(classes: Iterable[str], default: ClassFilter) -> ClassFilter:
    """The configured classes, or the behaviour type's default when none are configured."""
    chosen = frozenset(classes)
    return chosen.__contains__ if chosen else default


def one_of(*names: str | Iterable[str]) -> ClassFilter:
    """A filter accepting the given class names (strings or sets of them)."""
    accepted: set[str] = set()
    for name in names:
        accepted.update([name] if isinstance(name, str) else name)
    return frozenset(accepted).__contains__


def is_dumpable(class_name: str) -> bool:
    """What can be dumped: anything that is not a person or a vehicle (bicycles count as
    vehicles: they are parked, not dumped), so bags and the generic "object" among others."""
    return class_name not in BRINGER_CLASSES


def box_distance(point: tuple[float, float], xyxy: tuple[float, float, float, float]) -> float:
    """Pixel distance from a point to the nearest point of a box (0 inside it)."""
    x, y = point
    dx = max(xyxy[0] - x, 0.0, x - xyxy[2])
    dy = max(xyxy[1] - y, 0.0, y - xyxy[3])
    return float((dx * dx + dy * dy) ** 0.5)


def box_centre(xyxy: tuple[float, float, float, float]) -> tuple[float, float]:
    """The centre of a pixel box."""
    return ((xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2)


@dataclass(slots=True)
class Sustained:
    """How long a condition has held, forgiving short lapses (detector flicker, a box edge
    jittering over a zone's border).

    A spell ends only on evidence: an observation where the condition does not hold, more than
    ``grace_s`` after it last held. No observation at all (a track hidden for a moment) does
    not end it.

    Attributes:
        grace_s: A lapse up to this long does not end the spell.
        since: Start of the current spell (None when not holding).
        last_true: Latest time the condition held.
    """

    grace_s: float = 1.0
    since: float | None = None
    last_true: float | None = None

    def update(self, t: float, holds: bool) -> float | None:
        """Take one observation; returns the spell's length so far, or None when not holding."""
        if holds:
            if self.since is None:
                self.since = t
            self.last_true = t
            return t - self.since
        if self.last_true is not None and t - self.last_true > self.grace_s:
            self.reset()
        if self.since is None or self.last_true is None:
            return None
        return self.last_true - self.since

    @property
    def holding(self) -> bool:
        """Whether a spell is going on (lapses within the grace included)."""
        return self.since is not None

    def reset(self) -> None:
        """End the spell now."""
        self.since = self.last_true = None


@dataclass(slots=True)
class Stillness:
    """How long an object has stayed in place: its anchor within ``fraction`` of its size of
    where it stopped. One displaced box (a passing occlusion) does not end a stop; a
    displacement that lasts ``grace_s`` does, and a new stop starts from there.

    Attributes:
        fraction: Tolerated movement, as a share of the object's size (pixels / pixels).
        grace_s: How long a displacement must last to count as moving.
        since: When the current stop started.
        origin: Anchor (pixels) of the current stop.
        moved_at: Since when the object is away from ``origin`` (None while there).
    """

    fraction: float
    grace_s: float = 1.0
    since: float | None = None
    origin: tuple[float, float] | None = None
    moved_at: float | None = None

    def update(self, t: float, anchor: tuple[float, float], size: float) -> float:
        """Take one observation (pixel anchor, object size in pixels); returns seconds still."""
        if self.origin is None or self.since is None:
            self.origin, self.since = anchor, t
            return 0.0
        moved = ((anchor[0] - self.origin[0]) ** 2 + (anchor[1] - self.origin[1]) ** 2) ** 0.5
        if moved <= self.fraction * max(size, 1.0):
            self.moved_at = None
            return t - self.since
        if self.moved_at is None:
            self.moved_at = t
        if t - self.moved_at >= self.grace_s:
            # Moving for real: the next stop is measured from here.
            self.origin, self.since, self.moved_at = anchor, t, None
            return 0.0
        return self.moved_at - self.since  # on hold until it is back or really moving

    @property
    def moving(self) -> bool:
        """Whether the object is away from where it stopped (not yet for ``grace_s``)."""
        return self.moved_at is not None

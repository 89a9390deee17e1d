"""Vehicle speed between two lines a known distance apart (a speed trap).

Default classes: car, motorcycle, bus, truck. Each track's bottom-centre anchor is followed;
the moment it crosses each line is interpolated between the two analysed frames around the
crossing (at 5 fps a frame is 0.2 s: without it a 1.5 s passage would be timed up to 13 %
wrong). Once a track has crossed both lines, in either order, its speed is ``distance_m``
over the time between the crossings: one ``vehicle_speed`` event per passage, with
``speed_kmh``, ``direction`` (``forward``: ``line`` first, then ``to_line``) and whether it
was over ``limit_kmh`` (given a limit, only those over it are reported).

The distance is measured on the road between where the vehicles' wheels cross the two lines;
the lines are best drawn across the lane(s), perpendicular to the traffic.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import BehaviourHit, Scene, class_filter, one_of
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    LineRef,
    behaviour_label,
    register_behaviour,
)
from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.config import Line
from vigil.analytics.geometry import Point, crossing_direction

ON_LINE = 1e-9
"""A point this close to a line has no side (the crossing is timed from the points around)."""
MIN_PASSAGE_S = 0.05
"""Crossings closer in time than this are one frame's jitter, not a passage."""


class Speed(BehaviourOptions):
    """Vehicle speed between two lines a known distance apart."""

    model_config = ConfigDict(extra="forbid", title="Speed")
    type: Literal["speed"] = "speed"
    line: LineRef
    to_line: LineRef = Field(title="Second line")
    distance_m: float = Field(gt=0, le=2000, title="Distance between the lines (m)")
    limit_kmh: float | None = Field(
        None, gt=0, le=400, title="Speed limit (km/h)", description="only faster ones reported"
    )


@dataclass(slots=True)
class _Passage:
    last: dict[str, tuple[float, Point]] = field(default_factory=dict)  # line -> (t, anchor)
    crossed: dict[str, float] = field(default_factory=dict)  # line -> time it was crossed
    reported: bool = False


class SpeedRule:
    """Times each track between the two lines.

    Args:
        behaviour: The behaviour's configuration.
        first: The line it names first (``line``).
        second: The other one (``to_line``).
    """

    def __init__(self, behaviour: Speed, first: Line, second: Line) -> None:
        self.behaviour = behaviour
        self._lines = {"first": first, "second": second}
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(VEHICLE_CLASSES))
        self._passages: dict[int, _Passage] = {}

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each track that has just crossed its second line."""
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if not self._accepts(s.class_name):
                continue
            passage = self._passages.setdefault(s.track_id, _Passage())
            for point in s.fresh:
                anchor = s.normalised(point)
                for key, line in self._lines.items():
                    if abs(float(line.side([anchor])[0])) < ON_LINE:
                        continue  # on the line: crossed once it is past, from the last side
                    before = passage.last.get(key)
                    passage.last[key] = (point.t, anchor)
                    if before is None or key in passage.crossed:
                        continue
                    if crossing_direction(line, before[1], anchor) is None:
                        continue
                    passage.crossed[key] = _crossing_time(line, before, (point.t, anchor))
                if len(passage.crossed) == 2 and not passage.reported:
                    passage.reported = True
                    hit = self._hit(s.track_id, s.class_name, passage, point.t)
                    if hit is not None:
                        hits.append(hit)
        return hits

    def _hit(
        self, track_id: int, class_name: str, passage: _Passage, t: float
    ) -> BehaviourHit | None:
        first, second = passage.crossed["first"], passage.crossed["second"]
        seconds = abs(second - first)
        if seconds < MIN_PASSAGE_S:
            return None
        speed = self.behaviour.distance_m / seconds * 3.6
        limit = self.behaviour.limit_kmh
        if limit is not None and speed <= limit:
            return None
        return BehaviourHit(
            type="vehicle_speed",
            zone=self.behaviour.line,
            track_id=track_id,
            class_name=class_name,
            count=None,
            attributes={
                "speed_kmh": round(speed, 1),
                "limit_kmh": limit,
                "over_limit": limit is not None and speed > limit,
                "direction": "forward" if first < second else "reverse",
                "seconds": round(seconds, 3),
                "distance_m": self.behaviour.distance_m,
                "lines": [self.behaviour.line, self.behaviour.to_line],
            },
            label=self._label,
            t=t,
        )

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._passages.pop(track_id, None)


def _crossing_time(line: Line, before: tuple[float, Point], after: tuple[float, Point]) -> float:
    """When the anchor was on the line, moving straight between the two observations."""
    s0, s1 = (abs(float(v)) for v in line.side([before[1], after[1]]))
    share = s0 / (s0 + s1) if s0 + s1 > 0 else 0.5
    return before[0] + (after[0] - before[0]) * share


KIND = register_behaviour(
    BehaviourKind(
        Speed,
        lambda b, zones, lines: SpeedRule(b, lines[b.line], lines[b.to_line]),
        events=("vehicle_speed",),
    )
)

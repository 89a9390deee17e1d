"""Line crossing: each track crossing a counting line, with its direction and per-class counts.

Default classes: person, bicycle, car, motorcycle, bus, truck. The track's bottom-centre anchor
is followed point by point; a point within ``LINE_MARGIN`` of the line has no side, so jitter
on the line is not counted (see ``geometry.LineCounter``). Every crossing is counted, in both
directions; hits are reported for the directions the behaviour allows.
"""

from __future__ import annotations

from collections.abc import Collection
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
from vigil.analytics.config import DEFAULT_CLASSES, Line
from vigil.analytics.geometry import Direction, LineCounter

LINE_MARGIN = 0.01
"""Distance from the line (normalised, ~1 % of the image) within which a point has no side."""


class LineCrossing(BehaviourOptions):
    """Objects crossing a line, with direction and per-class counts."""

    model_config = ConfigDict(extra="forbid", title="Line crossing")
    type: Literal["line_crossing"] = "line_crossing"
    line: LineRef
    directions: list[Direction] = Field(
        default_factory=lambda: [Direction.IN, Direction.OUT],
        title="Directions",
        json_schema_extra={"x-labels": {"in": "in (A→B left to right)", "out": "out"}},
    )


class LineCrossingRule:
    """Counts and reports crossings of one line.

    Args:
        behaviour: The behaviour's configuration.
        line: The line it names.
    """

    def __init__(self, behaviour: LineCrossing, line: Line) -> None:
        self.behaviour = behaviour
        self.line_name = line.name
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(DEFAULT_CLASSES))
        self._directions = frozenset(behaviour.directions)
        self._counter = LineCounter(line, margin=LINE_MARGIN)

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """Follow each track's new points; a hit per crossing in an allowed direction."""
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if not self._accepts(s.class_name):
                continue
            for point in s.fresh:
                crossed = self._counter.update([s.track_id], [s.class_name], [s.normalised(point)])
                for _, name, direction in crossed:
                    if direction not in self._directions:
                        continue
                    hits.append(
                        BehaviourHit(
                            type=self.behaviour.type,
                            zone=self.line_name,
                            track_id=s.track_id,
                            class_name=name,
                            count=self._counter.counts[name][direction],
                            attributes={
                                "line": self.line_name,
                                "direction": direction.value,
                                "counts": self.counts(),
                            },
                            label=self._label,
                            t=point.t,
                        )
                    )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the last positions of tracks that ended."""
        self._counter.forget(track_ids)

    def counts(self) -> dict[str, dict[str, int]]:
        """Crossings so far: class -> {"in": n, "out": m} (both directions, allowed or not)."""
        return {
            name: {direction.value: n for direction, n in by_direction.items()}
            for name, by_direction in self._counter.counts.items()
        }


KIND = register_behaviour(
    BehaviourKind(
        LineCrossing,
        lambda b, zones, lines: LineCrossingRule(b, lines[b.line]),
        events=("line_crossing",),
    )
)

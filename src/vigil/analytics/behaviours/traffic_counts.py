"""Traffic counts: vehicles crossing a line, by lane, class and direction, in time bins.

Default classes: car, motorcycle, bus, truck, bicycle. Crossings are counted as line
crossing counts them (``geometry.LineCounter``); each is put in the lane (one of ``lanes``,
zones drawn over the lanes) its anchor was in when it crossed, or ``other``. When a frame
falls in a later bin of ``bin_minutes`` (aligned to the wall clock: 15 minutes gives :00,
:15, :30, :45), the finished bin is reported as one ``traffic_counts`` event with
``from``, ``to``, ``counts`` ({lane: {class: {in, out}}}) and ``total``, zeros included
for every lane named, so a dashboard can chart every bin the camera was analysed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import BehaviourHit, Scene, class_filter, one_of
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    LineRef,
    ZoneRef,
    behaviour_label,
    register_behaviour,
)
from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.config import Line, Zone
from vigil.analytics.geometry import LineCounter

OTHER_LANE = "other"
LINE_MARGIN = 0.01


class TrafficCounts(BehaviourOptions):
    """Vehicles crossing a line, by lane, class and direction, in time bins."""

    model_config = ConfigDict(extra="forbid", title="Traffic counts")
    type: Literal["traffic_counts"] = "traffic_counts"
    line: LineRef
    lanes: list[ZoneRef] = Field(default_factory=list, title="Lanes (zones)", max_length=16)
    bin_minutes: int = Field(15, ge=1, le=1440, title="Bin (minutes)")


Counts = defaultdict[str, defaultdict[str, dict[str, int]]]


def _empty() -> Counts:
    return defaultdict(lambda: defaultdict(lambda: {"in": 0, "out": 0}))


class TrafficCountsRule:
    """Counts one line's crossings per lane into wall-clock bins.

    Args:
        behaviour: The behaviour's configuration.
        line: The line it names.
        zones: The camera's zones by name (the lanes among them).
    """

    def __init__(self, behaviour: TrafficCounts, line: Line, zones: Mapping[str, Zone]) -> None:
        self.behaviour = behaviour
        self._line_name = line.name
        self._lanes = [zones[name] for name in behaviour.lanes]
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(VEHICLE_CLASSES, "bicycle"))
        self._counter = LineCounter(line, margin=LINE_MARGIN)
        self._bin: datetime | None = None
        self._counts = _empty()

    def _bin_of(self, at: datetime) -> datetime:
        width = timedelta(minutes=self.behaviour.bin_minutes)
        day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return day + width * ((at.astimezone(UTC) - day) // width)

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """Count this frame's crossings; a hit for the bin that just finished."""
        hits: list[BehaviourHit] = []
        current = self._bin_of(scene.at)
        if self._bin is not None and current > self._bin:
            hits.append(self._report(self._bin, scene.now))
            self._counts = _empty()
        self._bin = current
        for s in scene.sightings:
            if not self._accepts(s.class_name):
                continue
            for point in s.fresh:
                anchor = s.normalised(point)
                crossed = self._counter.update([s.track_id], [s.class_name], [anchor])
                for _, name, direction in crossed:
                    lane = next(
                        (z.name for z in self._lanes if z.contains([anchor])[0]), OTHER_LANE
                    )
                    self._counts[lane][name][direction.value] += 1
        return hits

    def _report(self, start: datetime, t: float) -> BehaviourHit:
        counts: dict[str, Any] = {lane.name: {} for lane in self._lanes}
        for lane, by_class in self._counts.items():
            counts[lane] = {name: dict(d) for name, d in by_class.items()}
        total = sum(d["in"] + d["out"] for c in self._counts.values() for d in c.values())
        end = start + timedelta(minutes=self.behaviour.bin_minutes)
        return BehaviourHit(
            type=self.behaviour.type,
            zone=self._line_name,
            track_id=None,
            class_name=None,
            count=total,
            attributes={
                "from": start.isoformat(),
                "to": end.isoformat(),
                "line": self._line_name,
                "counts": counts,
                "total": total,
            },
            label=self._label,
            t=t,
        )

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the last positions of tracks that ended."""
        self._counter.forget(track_ids)


KIND = register_behaviour(
    BehaviourKind(
        TrafficCounts,
        lambda b, zones, lines: TrafficCountsRule(b, lines[b.line], zones),
        events=("traffic_counts",),
    )
)

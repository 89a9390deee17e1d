"""Wrong-way driving: a vehicle in a zone moving against the traffic's direction.

Default classes: car, motorcycle, bus, truck. The allowed direction is a drawn line's, from
its start to its end (an arrow along the lane). A track in the zone whose bottom-centre
anchor has moved against it by ``min_travel`` (a share of the image's size) since it entered
the zone, keeping within ``ZONE_GRACE_S`` of it, is reported once per passage: a car
reversing a metre into a parking space is not, one driving up the lane is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    ZONE_GRACE_S,
    BehaviourHit,
    Scene,
    class_filter,
    one_of,
)
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
from vigil.analytics.geometry import Point


class WrongWay(BehaviourOptions):
    """A vehicle in the zone moving against the lane's direction (the line's, start to end)."""

    model_config = ConfigDict(extra="forbid", title="Wrong way")
    type: Literal["wrong_way"] = "wrong_way"
    zone: ZoneRef
    line: LineRef = Field(title="Allowed direction (from the line's start to its end)")
    min_travel: float = Field(0.1, gt=0, le=1, title="Against it by (share of the image)")


@dataclass(slots=True)
class _InZone:
    entered: Point
    last_inside_t: float
    reported: bool = False


class WrongWayRule:
    """Reports vehicles moving against the allowed direction in one zone.

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names.
        line: The line whose start-to-end direction is allowed.
    """

    def __init__(self, behaviour: WrongWay, zone: Zone, line: Line) -> None:
        self.behaviour = behaviour
        self.zone = zone
        vector = np.subtract(line.end, line.start)
        self._direction = vector / np.hypot(*vector)
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(VEHICLE_CLASSES))
        self._tracks: dict[int, _InZone] = {}

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each vehicle that has just moved ``min_travel`` against the direction."""
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if not s.fresh or not self._accepts(s.class_name):
                continue
            for point in s.fresh:
                anchor = s.normalised(point)
                inside = bool(self.zone.contains([anchor])[0])
                state = self._tracks.get(s.track_id)
                if not inside:
                    if state is not None and point.t - state.last_inside_t > ZONE_GRACE_S:
                        del self._tracks[s.track_id]  # left: the next passage starts afresh
                    continue
                if state is None:
                    self._tracks[s.track_id] = _InZone(anchor, point.t)
                    continue
                state.last_inside_t = point.t
                along = float(np.dot(np.subtract(anchor, state.entered), self._direction))
                if state.reported or along > -self.behaviour.min_travel:
                    continue
                state.reported = True
                hits.append(
                    BehaviourHit(
                        type=self.behaviour.type,
                        zone=self.zone.name,
                        track_id=s.track_id,
                        class_name=s.class_name,
                        count=None,
                        attributes={"against": round(-along, 3), "line": self.behaviour.line},
                        label=self._label,
                        t=point.t,
                    )
                )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._tracks.pop(track_id, None)


KIND = register_behaviour(
    BehaviourKind(
        WrongWay,
        lambda b, zones, lines: WrongWayRule(b, zones[b.zone], lines[b.line]),
        events=("wrong_way",),
    )
)

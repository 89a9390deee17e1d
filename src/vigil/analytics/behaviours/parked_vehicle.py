"""Parked vehicle: a vehicle stopped in a zone for longer than ``max_s``.

Default classes: car, motorcycle, bus, truck. Stopped: the bottom centre of its box stays
within ``STOP_FRACTION`` of its width of where it stopped; a displacement must last
``STOP_GRACE_S`` to end the stop (a passing vehicle hiding part of it does not). Reported once
per stop, with ``stopped_s``; a vehicle that drives off and stops again is reported again.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    BehaviourHit,
    Scene,
    Stillness,
    class_filter,
    one_of,
)
from vigil.analytics.behaviours.left_object import still_update
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    ZoneRef,
    behaviour_label,
    register_behaviour,
)
from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.config import Zone

STOP_FRACTION = 0.25
"""Movement tolerated of a stopped vehicle, as a share of its box width."""
STOP_GRACE_S = 2.0
"""How long a vehicle must be away from where it stopped to have moved."""


class ParkedVehicle(BehaviourOptions):
    """A vehicle stopped in a zone longer than ``max_s`` (evidence for a parking fine)."""

    model_config = ConfigDict(extra="forbid", title="Parked vehicle")
    type: Literal["parked_vehicle"] = "parked_vehicle"
    zone: ZoneRef
    max_s: float = Field(300.0, gt=0, le=7 * 86400, title="Stopped longer than (s)")


class ParkedVehicleRule:
    """Reports vehicles stopped in one zone.

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names.
    """

    def __init__(self, behaviour: ParkedVehicle, zone: Zone) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(VEHICLE_CLASSES))
        self._stops: dict[int, Stillness] = {}
        self._reported: dict[int, float] = {}  # track -> start of the stop reported

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each vehicle whose stop in the zone just passed ``max_s``."""
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if not s.fresh or not self._accepts(s.class_name):
                continue
            stop = self._stops.setdefault(s.track_id, Stillness(STOP_FRACTION, STOP_GRACE_S))
            still_update(stop, s, size="width")
            if stop.since is None or stop.moving or self._reported.get(s.track_id) == stop.since:
                continue
            stopped_s = s.last.t - stop.since
            if stopped_s <= self.behaviour.max_s or not self.zone.contains([s.anchor])[0]:
                continue
            self._reported[s.track_id] = stop.since
            hits.append(
                BehaviourHit(
                    type=self.behaviour.type,
                    zone=self.zone.name,
                    track_id=s.track_id,
                    class_name=s.class_name,
                    count=None,
                    attributes={"stopped_s": round(stopped_s, 2), "max_s": self.behaviour.max_s},
                    label=self._label,
                    t=s.last.t,
                )
            )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._stops.pop(track_id, None)
            self._reported.pop(track_id, None)


KIND = register_behaviour(
    BehaviourKind(
        ParkedVehicle,
        lambda b, zones, lines: ParkedVehicleRule(b, zones[b.zone]),
        events=("parked_vehicle",),
    )
)

"""Crowding and occupancy: how many objects are in a zone, and too many for too long.

Default classes: person. Crowding is reported once when at least ``min_count`` objects have
been in the zone for ``min_s``, and re-armed when the count has dropped below ``min_count``
(for longer than ``ZONE_GRACE_S``, so one missed detection does not re-arm it).

Occupancy counts every zone on every frame: objects of any of its crowding behaviours'
classes, or people and vehicles (``DEFAULT_CLASSES``) in a zone without one. Zones with a
crowding behaviour are also sampled over time: an "occupancy" hit when the count changed since
the last one, at most every ``OCCUPANCY_PERIOD_S``. An empty zone at start is not reported.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    PERSON,
    ZONE_GRACE_S,
    BehaviourHit,
    ClassFilter,
    Scene,
    Sustained,
    class_filter,
    one_of,
)
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    ZoneRef,
    behaviour_label,
    register_behaviour,
)
from vigil.analytics.config import DEFAULT_CLASSES, Zone

OCCUPANCY_PERIOD_S = 10.0
"""Least time between two occupancy samples of a zone."""
OCCUPANCY = "occupancy"


def zone_count(scene: Scene, zone: Zone, accepts: ClassFilter) -> int:
    """Live tracks of the accepted classes whose anchor is in the zone."""
    anchors = [s.anchor for s in scene.sightings if accepts(s.class_name)]
    return int(zone.contains(anchors).sum()) if anchors else 0


class Crowding(BehaviourOptions):
    """At least ``min_count`` objects in a zone (occupancy is also counted over time)."""

    model_config = ConfigDict(extra="forbid", title="Crowding")
    type: Literal["crowding"] = "crowding"
    zone: ZoneRef
    min_count: int = Field(10, ge=1, le=10_000, title="At least (objects)")
    min_s: float = Field(5.0, ge=0, le=3600, title="For at least (s)")


class CrowdingRule:
    """Reports a crowd in one zone.

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names.
    """

    def __init__(self, behaviour: Crowding, zone: Zone) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self.accepts = class_filter(behaviour.classes, one_of(PERSON))
        self._label = behaviour_label(behaviour)
        self._crowd = Sustained(ZONE_GRACE_S)
        self._reported = False

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit when the crowd has lasted ``min_s`` (once until the count drops)."""
        count = zone_count(scene, self.zone, self.accepts)
        length = self._crowd.update(scene.now, count >= self.behaviour.min_count)
        if not self._crowd.holding:
            self._reported = False
            return []
        if self._reported or count < self.behaviour.min_count or length is None:
            return []
        if length < self.behaviour.min_s:
            return []
        self._reported = True
        return [
            BehaviourHit(
                type=self.behaviour.type,
                zone=self.zone.name,
                track_id=None,
                class_name=None,
                count=count,
                attributes={
                    "count": count,
                    "min_count": self.behaviour.min_count,
                    "for_s": round(length, 2),
                },
                label=self._label,
                t=scene.now,
            )
        ]

    def forget(self, track_ids: Collection[int]) -> None:
        """Nothing per track."""


@dataclass(slots=True)
class _ZoneSample:
    zone: Zone
    accepts: Sequence[ClassFilter]
    sampled: bool
    count: int = 0
    reported: int = 0
    reported_at: float | None = None

    def accepts_any(self, class_name: str) -> bool:
        return any(accepts(class_name) for accepts in self.accepts)


class OccupancyRule:
    """Samples the count in zones over time.

    Args:
        zones: Each zone with the class filters of the crowding behaviours that count in it
            (sampled over time), or no filters (counted, with ``DEFAULT_CLASSES``, not sampled).
    """

    def __init__(self, zones: Mapping[str, tuple[Zone, Sequence[ClassFilter]]]) -> None:
        self._zones = {
            name: _ZoneSample(
                zone=zone,
                accepts=tuple(filters) or (one_of(DEFAULT_CLASSES),),
                sampled=bool(filters),
            )
            for name, (zone, filters) in zones.items()
        }

    @classmethod
    def for_behaviours(
        cls, behaviours: Sequence[BehaviourOptions], zones: Mapping[str, Zone]
    ) -> OccupancyRule:
        """Occupancy of all ``zones``, sampled in those of the crowding ``behaviours``."""
        found: dict[str, tuple[Zone, list[ClassFilter]]] = {
            name: (zone, []) for name, zone in zones.items()
        }
        for b in behaviours:
            if isinstance(b, Crowding):
                found[b.zone][1].append(class_filter(b.classes, one_of(PERSON)))
        return cls({name: (zone, filters) for name, (zone, filters) in found.items()})

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """An occupancy hit for each zone whose count changed, at most every period."""
        hits: list[BehaviourHit] = []
        for name, sample in self._zones.items():
            sample.count = zone_count(scene, sample.zone, sample.accepts_any)
            if not sample.sampled or sample.count == sample.reported:
                continue
            if sample.reported_at is not None and (
                scene.now - sample.reported_at < OCCUPANCY_PERIOD_S
            ):
                continue
            sample.reported, sample.reported_at = sample.count, scene.now
            hits.append(
                BehaviourHit(
                    type=OCCUPANCY,
                    zone=name,
                    track_id=None,
                    class_name=None,
                    count=sample.count,
                    attributes={"count": sample.count},
                    label=OCCUPANCY,
                    t=scene.now,
                )
            )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Nothing per track."""

    def counts(self) -> dict[str, int]:
        """Each zone's count on the latest frame."""
        return {name: sample.count for name, sample in self._zones.items()}


KIND = register_behaviour(
    BehaviourKind(
        Crowding,
        lambda b, zones, lines: CrowdingRule(b, zones[b.zone]),
        events=("crowding", "occupancy"),
    )
)

"""Intrusion: an object entering a restricted zone and staying there at least ``min_s``.

Default classes: person, bicycle, car, motorcycle, bus, truck. Reported once per track and
zone. With a time profile, time inside only counts while the profile is active: someone already
inside when it becomes active is reported ``min_s`` later.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    ZONE_GRACE_S,
    BehaviourHit,
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


class Intrusion(BehaviourOptions):
    """An object entering a restricted zone (by class, on a schedule)."""

    model_config = ConfigDict(extra="forbid", title="Intrusion")
    type: Literal["intrusion"] = "intrusion"
    zone: ZoneRef
    min_s: float = Field(
        0.0, ge=0, le=3600, title="Inside at least (s)", description="inside at least this long"
    )


class IntrusionRule:
    """Reports objects inside one zone.

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names.
    """

    def __init__(self, behaviour: Intrusion, zone: Zone) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(DEFAULT_CLASSES))
        self._inside: dict[int, Sustained] = {}
        self._reported: set[int] = set()

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each track that has now been inside for ``min_s`` (once per track)."""
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if not s.fresh or s.track_id in self._reported or not self._accepts(s.class_name):
                continue
            spell = self._inside.setdefault(s.track_id, Sustained(ZONE_GRACE_S))
            if not armed:
                spell.reset()
                continue
            inside = self.zone.contains([s.normalised(p) for p in s.fresh])
            for point, is_inside in zip(s.fresh, inside.tolist(), strict=True):
                length = spell.update(point.t, is_inside)
                if is_inside and length is not None and length >= self.behaviour.min_s:
                    self._reported.add(s.track_id)
                    hits.append(
                        BehaviourHit(
                            type=self.behaviour.type,
                            zone=self.zone.name,
                            track_id=s.track_id,
                            class_name=s.class_name,
                            count=None,
                            attributes={"inside_s": round(length, 2)},
                            label=self._label,
                            t=point.t,
                        )
                    )
                    break
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._inside.pop(track_id, None)
            self._reported.discard(track_id)


KIND = register_behaviour(
    BehaviourKind(
        Intrusion, lambda b, zones, lines: IntrusionRule(b, zones[b.zone]), events=("intrusion",)
    )
)

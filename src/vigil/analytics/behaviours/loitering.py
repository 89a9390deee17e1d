"""Loitering: an object staying in a zone longer than ``dwell_s``.

Default classes: person. Reported once per visit: a track that leaves the zone (for longer than
``ZONE_GRACE_S``) and comes back is timed, and can be reported, again.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    PERSON,
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
from vigil.analytics.config import Zone


class Loitering(BehaviourOptions):
    """An object staying in a zone longer than ``dwell_s``."""

    model_config = ConfigDict(extra="forbid", title="Loitering")
    type: Literal["loitering"] = "loitering"
    zone: ZoneRef
    dwell_s: float = Field(60.0, gt=0, le=86400, title="Dwell longer than (s)")


class LoiteringRule:
    """Times each track's visits to one zone.

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names.
    """

    def __init__(self, behaviour: Loitering, zone: Zone) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(PERSON))
        self._visits: dict[int, Sustained] = {}
        self._reported: set[int] = set()  # tracks reported during their current visit

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each track whose current visit just passed ``dwell_s``."""
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if not s.fresh or not self._accepts(s.class_name):
                continue
            visit = self._visits.setdefault(s.track_id, Sustained(ZONE_GRACE_S))
            inside = self.zone.contains([s.normalised(p) for p in s.fresh])
            for point, is_inside in zip(s.fresh, inside.tolist(), strict=True):
                dwell = visit.update(point.t, is_inside)
                if not visit.holding:
                    self._reported.discard(s.track_id)  # the visit is over: re-armed
                elif (
                    is_inside
                    and dwell is not None
                    and dwell >= self.behaviour.dwell_s
                    and s.track_id not in self._reported
                ):
                    self._reported.add(s.track_id)
                    hits.append(
                        BehaviourHit(
                            type=self.behaviour.type,
                            zone=self.zone.name,
                            track_id=s.track_id,
                            class_name=s.class_name,
                            count=None,
                            attributes={"dwell_s": round(dwell, 2)},
                            label=self._label,
                            t=point.t,
                        )
                    )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._visits.pop(track_id, None)
            self._reported.discard(track_id)


KIND = register_behaviour(
    BehaviourKind(
        Loitering, lambda b, zones, lines: LoiteringRule(b, zones[b.zone]), events=("loitering",)
    )
)

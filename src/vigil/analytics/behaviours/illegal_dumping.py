"""Illegal dumping: an object left in a zone after the person or vehicle that brought it has
gone.

Default classes: what can be dumped (``base.is_dumpable``): bags, the generic "object" and any
class that is not a person or a vehicle. The object's bringer is the person or vehicle whose
box is nearest to it (within ``BROUGHT_NEAR`` of its heights) in its first ``APPEAR_S``. Once
that bringer has gone (its track ended, or it is farther than ``GONE_FAR`` heights) and the
object has been still in the zone for ``still_s`` since, it is reported, once per object, with
``brought_by``. Objects that nobody brought (no bringer found) are left to ``left_object``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    BRINGER_CLASSES,
    BehaviourHit,
    Scene,
    Stillness,
    box_centre,
    box_distance,
    class_filter,
    is_dumpable,
)
from vigil.analytics.behaviours.left_object import STILL_FRACTION, nearest, still_update
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    ZoneRef,
    behaviour_label,
    register_behaviour,
)
from vigil.analytics.config import Zone

APPEAR_S = 5.0
"""How long after an object is first seen its bringer is looked for."""
BROUGHT_NEAR = 2.0
"""A bringer's box is within this many of the object's heights of its centre."""
GONE_FAR = 4.0
"""A bringer farther than this many object heights has gone (more than ``BROUGHT_NEAR``, so a
bringer standing by is not flickering between here and gone)."""


@dataclass(slots=True)
class _Object:
    stillness: Stillness = field(default_factory=lambda: Stillness(STILL_FRACTION))
    brought_by: tuple[int, str] | None = None
    alone_since: float | None = None


class IllegalDumping(BehaviourOptions):
    """An object left in a zone after the person or vehicle that brought it has gone."""

    model_config = ConfigDict(extra="forbid", title="Illegal dumping")
    type: Literal["illegal_dumping"] = "illegal_dumping"
    zone: ZoneRef
    still_s: float = Field(30.0, gt=0, le=86400, title="Left for (s)")


class IllegalDumpingRule:
    """Reports objects dumped in one zone.

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names.
    """

    def __init__(self, behaviour: IllegalDumping, zone: Zone) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, is_dumpable)
        self._objects: dict[int, _Object] = {}
        self._reported: set[int] = set()

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each object just found dumped."""
        bringers = {s.track_id: s for s in scene.sightings if s.class_name in BRINGER_CLASSES}
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if (
                s.track_id in self._reported
                or s.class_name in BRINGER_CLASSES
                or not self._accepts(s.class_name)
            ):
                continue
            state = self._objects.setdefault(s.track_id, _Object())
            still_update(state.stillness, s)
            height = max(s.height, 1.0)
            if state.brought_by is None:
                if scene.now - s.track.first_seen > APPEAR_S:
                    continue
                found = nearest(s, list(bringers.values()), BROUGHT_NEAR * height)
                if found is not None:
                    state.brought_by = (found[0].track_id, found[0].class_name)
                continue
            bringer = bringers.get(state.brought_by[0])
            gone = bringer is None or (
                box_distance(box_centre(s.last.xyxy), bringer.last.xyxy) > GONE_FAR * height
            )
            in_zone = bool(self.zone.contains([s.anchor])[0])
            if not gone or not in_zone or state.stillness.moving or state.stillness.since is None:
                state.alone_since = None
                continue
            if state.alone_since is None:
                state.alone_since = scene.now
            still_s = scene.now - max(state.alone_since, state.stillness.since)
            if still_s >= self.behaviour.still_s:
                self._reported.add(s.track_id)
                track_id, class_name = state.brought_by
                hits.append(
                    BehaviourHit(
                        type=self.behaviour.type,
                        zone=self.zone.name,
                        track_id=s.track_id,
                        class_name=s.class_name,
                        count=None,
                        attributes={
                            "still_s": round(still_s, 2),
                            "brought_by": {"class_name": class_name, "track_id": track_id},
                        },
                        label=self._label,
                        t=scene.now,
                    )
                )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of objects that ended (a bringer's end is seen as its absence)."""
        for track_id in track_ids:
            self._objects.pop(track_id, None)
            self._reported.discard(track_id)


KIND = register_behaviour(
    BehaviourKind(
        IllegalDumping,
        lambda b, zones, lines: IllegalDumpingRule(b, zones[b.zone]),
        events=("illegal_dumping",),
    )
)

"""Left object: a bag or suitcase that stays still for ``still_s`` with nobody near it.

Default classes: backpack, handbag, suitcase, and the static-foreground model's "item"
(something set down that the detector does not know or does not see:
``analytics.static_objects``; it becomes an item once its owner has stepped away from it,
so the count starts then). ``still_s`` defaults to 15 s: a control room wants the alarm
soon after the owner leaves, not a minute later. Still: its bottom centre stays within
``STILL_FRACTION`` of its size of where it stopped. Nobody near: no person's box within
``near`` times the object's height of the object's centre (a person hidden for a moment still
counts: live tracks keep their last position). The time is counted from the later of the
stop and the moment the last person walked away. Reported once per object; with a zone, only
inside it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    PERSON,
    BehaviourHit,
    Scene,
    Sighting,
    Stillness,
    box_centre,
    box_distance,
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
from vigil.analytics.classes import BAG_CLASSES, ITEM_CLASS
from vigil.analytics.config import Zone

STILL_FRACTION = 0.5
"""Movement tolerated of a still object, as a share of its size (box jitter, re-detection)."""


def still_update(stillness: Stillness, s: Sighting, *, size: str = "max") -> None:
    """Feed a track's new points to its stillness (size: the box's larger side, or "width")."""
    for point in s.fresh:
        x1, y1, x2, y2 = point.xyxy
        extent = x2 - x1 if size == "width" else max(x2 - x1, y2 - y1)
        stillness.update(point.t, point.anchor, extent)


def nearest(
    s: Sighting, others: Collection[Sighting], within: float
) -> tuple[Sighting, float] | None:
    """The other track whose box is closest to this one's centre, if within ``within`` px."""
    centre = box_centre(s.last.xyxy)
    best: tuple[Sighting, float] | None = None
    for other in others:
        if other.track_id == s.track_id:
            continue
        distance = box_distance(centre, other.last.xyxy)
        if distance <= within and (best is None or distance < best[1]):
            best = (other, distance)
    return best


class LeftObject(BehaviourOptions):
    """A bag or suitcase that stays still for ``still_s`` with nobody within ``near``."""

    model_config = ConfigDict(extra="forbid", title="Left object")
    type: Literal["left_object"] = "left_object"
    zone: ZoneRef | None = Field(None, title="Zone (empty: the whole image)")
    still_s: float = Field(15.0, gt=0, le=86400, title="Alone for (s)")
    near: float = Field(
        2.0,
        gt=0,
        le=50,
        title="Nobody within (object heights)",
        description="nobody within this many object heights",
    )


class LeftObjectRule:
    """Reports unattended objects.

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names, or None for the whole image.
    """

    def __init__(self, behaviour: LeftObject, zone: Zone | None) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(BAG_CLASSES, ITEM_CLASS))
        self._still: dict[int, Stillness] = {}
        self._alone_since: dict[int, float] = {}
        self._reported: set[int] = set()

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each object that has just been still and unattended for ``still_s``."""
        people = [s for s in scene.sightings if s.class_name == PERSON]
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if s.track_id in self._reported or not self._accepts(s.class_name):
                continue
            stillness = self._still.setdefault(s.track_id, Stillness(STILL_FRACTION))
            still_update(stillness, s)
            in_zone = self.zone is None or bool(self.zone.contains([s.anchor])[0])
            attended = nearest(s, people, self.behaviour.near * max(s.height, 1.0)) is not None
            if attended or not in_zone or stillness.moving or stillness.since is None:
                self._alone_since.pop(s.track_id, None)
                continue
            alone_since = self._alone_since.setdefault(s.track_id, scene.now)
            left_s = scene.now - max(alone_since, stillness.since)
            if left_s >= self.behaviour.still_s:
                self._reported.add(s.track_id)
                hits.append(
                    BehaviourHit(
                        type=self.behaviour.type,
                        zone=None if self.zone is None else self.zone.name,
                        track_id=s.track_id,
                        class_name=s.class_name,
                        count=None,
                        attributes={"still_s": round(left_s, 2)},
                        label=self._label,
                        t=scene.now,
                    )
                )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._still.pop(track_id, None)
            self._alone_since.pop(track_id, None)
            self._reported.discard(track_id)


KIND = register_behaviour(
    BehaviourKind(
        LeftObject,
        lambda b, zones, lines: LeftObjectRule(b, zones[b.zone] if b.zone else None),
        events=("left_object",),
    )
)

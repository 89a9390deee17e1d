"""Running: a person moving faster than ``min_heights_per_s`` of their own height per second,
sustained for ``min_s``.

Default classes: person. Speed is the displacement of the box's bottom centre over the last
``SPEED_WINDOW_S`` divided by that time and by the median box height over it: measured over a
window rather than frame to frame, the detector's box jitter (which goes back and forth) does
not add up to speed, and dividing by height makes it independent of distance to the camera.
Reported once per run; a person who slows down (for longer than ``RUN_GRACE_S``) and runs again
is reported again. With a zone, only running inside it counts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from statistics import median
from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import (
    PERSON,
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
from vigil.analytics.tracking import TrackPoint

SPEED_WINDOW_S = 1.0
"""Time over which speed is measured."""
MIN_WINDOW_SHARE = 0.5
"""Least share of the window the points must span for a speed to be measured."""
RUN_GRACE_S = 0.5
"""A run survives a slower moment this long."""


def speed_heights_per_s(points: Sequence[TrackPoint], at: int) -> float | None:
    """A track's speed at one of its points, in its own heights per second.

    Args:
        points: The track's points, in time order.
        at: Index of the point whose speed is wanted (measured over the window before it).

    Returns:
        The speed, or None when the points before it span too short a time.
    """
    end = points[at]
    start = at
    while start > 0 and end.t - points[start - 1].t <= SPEED_WINDOW_S + 1e-9:
        start -= 1
    span = end.t - points[start].t
    if span < SPEED_WINDOW_S * MIN_WINDOW_SHARE:
        return None
    (x0, y0), (x1, y1) = points[start].anchor, end.anchor
    height = median(p.xyxy[3] - p.xyxy[1] for p in points[start : at + 1])
    if height <= 0:
        return None
    return float(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 / span / height)


class Running(BehaviourOptions):
    """A person moving faster than ``min_heights_per_s`` of their own height per second."""

    model_config = ConfigDict(extra="forbid", title="Running")
    type: Literal["running"] = "running"
    zone: ZoneRef | None = Field(None, title="Zone (empty: the whole image)")
    min_heights_per_s: float = Field(1.5, gt=0, le=50, title="Speed above (body heights/s)")
    min_s: float = Field(0.6, ge=0, le=60, title="Sustained (s)", description="sustained this long")


class RunningRule:
    """Reports people running (optionally only in one zone).

    Args:
        behaviour: The behaviour's configuration.
        zone: The zone it names, or None for the whole image.
    """

    def __init__(self, behaviour: Running, zone: Zone | None) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self._label = behaviour_label(behaviour)
        self._accepts = class_filter(behaviour.classes, one_of(PERSON))
        self._runs: dict[int, Sustained] = {}
        self._reported: set[int] = set()  # tracks reported during their current run

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        """A hit for each person whose current run just lasted ``min_s``."""
        hits: list[BehaviourHit] = []
        for s in scene.sightings:
            if not s.fresh or not self._accepts(s.class_name):
                continue
            points = list(s.track.points)
            first = len(points) - len(s.fresh)
            inside = (
                [True] * len(s.fresh)
                if self.zone is None
                else self.zone.contains([s.normalised(p) for p in s.fresh]).tolist()
            )
            run = self._runs.setdefault(s.track_id, Sustained(RUN_GRACE_S))
            for i, is_inside in enumerate(inside):
                point = points[first + i]
                speed = speed_heights_per_s(points, first + i)
                if speed is None:
                    continue
                fast = is_inside and speed >= self.behaviour.min_heights_per_s
                length = run.update(point.t, fast)
                if not run.holding:
                    self._reported.discard(s.track_id)
                elif (
                    fast
                    and length is not None
                    and length >= self.behaviour.min_s
                    and s.track_id not in self._reported
                ):
                    self._reported.add(s.track_id)
                    hits.append(
                        BehaviourHit(
                            type=self.behaviour.type,
                            zone=None if self.zone is None else self.zone.name,
                            track_id=s.track_id,
                            class_name=s.class_name,
                            count=None,
                            attributes={"speed_heights_per_s": round(speed, 2)},
                            label=self._label,
                            t=point.t,
                        )
                    )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._runs.pop(track_id, None)
            self._reported.discard(track_id)


KIND = register_behaviour(
    BehaviourKind(
        Running,
        lambda b, zones, lines: RunningRule(b, zones[b.zone] if b.zone else None),
        events=("running",),
    )
)

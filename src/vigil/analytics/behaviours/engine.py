"""The behaviour engine: a camera's configured behaviours run over its live tracks.

The pipeline calls :meth:`BehaviourEngine.update` once per analysed frame with the tracker's
live tracks (``Tracker.tracks.values()``, lost ones included: a person hidden for a moment is
still in the zone), and :meth:`BehaviourEngine.forget` with the tracks that ended
(``Tracker.pop_ended()``). It answers with :class:`BehaviourHit` objects, one per event.

A behaviour with a ``time_profile_id`` only reports while that profile is active at the frame's
wall time; a profile that is not given counts as inactive (as for rules). Crowding behaviours
also sample their zone's count over time ("occupancy" hits, whatever the schedule).

Example:
    >>> from datetime import UTC, datetime
    >>> from vigil.analytics.config import CameraAnalyticsConfig
    >>> from vigil.analytics.tracking import Track, TrackPoint
    >>> config = CameraAnalyticsConfig.model_validate({
    ...     "lines": [{"name": "door", "start": [0, 0.5], "end": [1, 0.5]}],
    ...     "behaviours": [{"type": "line_crossing", "line": "door"}]})
    >>> engine = BehaviourEngine(config)
    >>> track = Track(track_id=7, first_seen=0.0)
    >>> track.class_votes["person"] += 1
    >>> hits = []
    >>> for n, y in enumerate([200, 230, 260]):
    ...     track.points.append(TrackPoint(t=n / 5, xyxy=(300, y - 80, 340, y), confidence=0.9))
    ...     hits += engine.update([track], n / 5, datetime.now(UTC), (640, 480))
    >>> [(h.type, h.zone, h.track_id, h.attributes["direction"]) for h in hits]
    [('line_crossing', 'door', 7, 'in')]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from vigil.analytics.behaviours.base import BehaviourHit, Rule, Scene, Sighting, normalise
from vigil.analytics.behaviours.crowding import OccupancyRule
from vigil.analytics.behaviours.line_crossing import LineCrossingRule
from vigil.analytics.behaviours.registry import BehaviourOptions, build_rule
from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.tracking import Track, TrackPoint
from vigil.domain.schedules import TimeProfileSpec, is_active

__all__ = ["BehaviourEngine", "BehaviourHit"]


@dataclass(slots=True)
class _Configured:
    behaviour: BehaviourOptions
    rule: Rule


class BehaviourEngine:
    """Runs one camera's behaviours over its tracks. Pure: no I/O, no threads, no clock.

    Args:
        config: The camera's analytics configuration (zones, lines, behaviours).
        time_profiles: Time profiles by id, for behaviours with a ``time_profile_id``.
    """

    def __init__(
        self,
        config: CameraAnalyticsConfig,
        *,
        time_profiles: Mapping[int, TimeProfileSpec] | None = None,
    ) -> None:
        self.config = config
        self._profiles: dict[int, TimeProfileSpec] = dict(time_profiles or {})
        zones = {z.name: z for z in config.zones}
        lines = {ln.name: ln for ln in config.lines}
        self._rules = [_Configured(b, build_rule(b, zones, lines)) for b in config.behaviours]
        self._occupancy = OccupancyRule.for_behaviours(config.behaviours, zones)
        self._seen_until: dict[int, float] = {}
        self._last_now: float | None = None

    def set_time_profiles(self, time_profiles: Mapping[int, TimeProfileSpec]) -> None:
        """Replace the time profiles (e.g. after an operator edited one)."""
        self._profiles = dict(time_profiles)

    def update(
        self,
        tracks: Iterable[Track],
        now: float,
        at: datetime,
        frame_size: tuple[int, int],
    ) -> list[BehaviourHit]:
        """Run every behaviour over one analysed frame.

        Args:
            tracks: The tracker's live tracks (``Tracker.tracks.values()``), lost ones included.
            now: Stream time (s), the clock of the tracks' points.
            at: Wall time of the frame (timezone-aware), for time profiles.
            frame_size: The frame's (width, height) in pixels, the space of the tracks' boxes.

        Returns:
            The behaviours that happened on this frame, in configuration order (occupancy last).
        """
        sightings = self._sight(tracks, frame_size)
        self._last_now = now
        scene = Scene(now=now, at=at, frame_size=frame_size, sightings=sightings)
        hits: list[BehaviourHit] = []
        for item in self._rules:
            armed = self.armed(item.behaviour, at)
            found = item.rule.update(scene, armed=armed)
            if armed:
                hits.extend(found)
        hits.extend(self._occupancy.update(scene, armed=True))
        return hits

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the state of tracks that ended (``Tracker.pop_ended()``)."""
        ended: Collection[int] = frozenset(int(i) for i in track_ids)
        for item in self._rules:
            item.rule.forget(ended)
        for track_id in ended:
            self._seen_until.pop(track_id, None)

    def occupancy(self) -> dict[str, int]:
        """Objects in each zone on the latest frame (see ``crowding.py`` for the classes)."""
        return self._occupancy.counts()

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Line crossings so far: line name -> class -> {"in": n, "out": m}."""
        found: dict[str, dict[str, dict[str, int]]] = {}
        for item in self._rules:
            if isinstance(item.rule, LineCrossingRule):
                found[item.rule.line_name] = item.rule.counts()
        return found

    def armed(self, behaviour: BehaviourOptions, at: datetime) -> bool:
        """Whether a behaviour reports at ``at`` (its time profile, if any, is active)."""
        if behaviour.time_profile_id is None:
            return True
        profile = self._profiles.get(behaviour.time_profile_id)
        return profile is not None and is_active(profile, at)

    def _sight(self, tracks: Iterable[Track], frame_size: tuple[int, int]) -> tuple[Sighting, ...]:
        sightings: list[Sighting] = []
        for track in tracks:
            if not track.points:
                continue
            last = track.points[-1]
            # A track new to the engine: its points since the previous frame; on the first
            # frame only its latest one (history from before the engine is not replayed).
            seen_until = self._seen_until.get(track.track_id, self._last_now)
            fresh = _points_after(track, seen_until) if seen_until is not None else (last,)
            self._seen_until[track.track_id] = last.t
            sightings.append(
                Sighting(
                    track=track,
                    track_id=track.track_id,
                    class_name=track.class_name,
                    last=last,
                    anchor=normalise(last.anchor, frame_size),
                    fresh=fresh,
                    frame_size=frame_size,
                )
            )
        return tuple(sightings)


def _points_after(track: Track, t: float) -> tuple[TrackPoint, ...]:
    """The track's points later than ``t``."""
    fresh: list[TrackPoint] = []
    for point in reversed(track.points):
        if point.t <= t:
            break
        fresh.append(point)
    return tuple(reversed(fresh))

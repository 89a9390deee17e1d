"""How good a view of an object is, and each track's best few views kept until the track
is read once (plates, faces)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import cv2

from vigil.analytics.boxes import Box
from vigil.analytics.snapshots import Image

__all__ = ["SHARP_VARIANCE", "Followed", "TrackViews", "quality"]

SHARP_VARIANCE = 150.0
"""Variance of the Laplacian (grey levels) from which a view counts as fully sharp; blurrier
views count less in proportion."""
SHARPNESS_WIDTH = 160
"""Views are measured for sharpness at this width (the measure is cheap at any size)."""


def quality(image: Image, box: Box) -> float:
    """Size times sharpness of a view: its area in pixels, scaled down by how blurred
    it is (variance of the Laplacian under :data:`SHARP_VARIANCE`)."""
    piece = image[box.y1 : box.y2, box.x1 : box.x2]
    if piece.size == 0:
        return 0.0
    scale = min(1.0, SHARPNESS_WIDTH / piece.shape[1])
    small = cv2.resize(piece, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return float(box.area) * min(1.0, sharpness / SHARP_VARIANCE)


class Viewed(Protocol):
    """A kept view: its quality orders the views."""

    @property
    def quality(self) -> float: ...


V = TypeVar("V", bound=Viewed)


@dataclass(slots=True)
class Followed(Generic[V]):
    """One track as a reader of views follows it.

    Attributes:
        class_name: Its class when first seen.
        first_t: Stream time it was first seen.
        first_at: Wall time it was first seen.
        in_zone: Whether it was ever seen in the reader's zone.
        done: Whether it has been read (once per track).
        views: Its best views, best first.
    """

    class_name: str
    first_t: float
    first_at: datetime
    in_zone: bool = False
    done: bool = False
    views: list[V] = field(default_factory=list)


class TrackViews(Generic[V]):
    """Each track's ``count`` best views, and which tracks are due to be read once: those
    that ended and those followed ``wait_s``. Plate reading and face matching share it.

    Args:
        count: Views kept per track.
        wait_s: A track still in view is read after this long.
    """

    def __init__(self, count: int, wait_s: float) -> None:
        self.count, self.wait_s = count, wait_s
        self._tracks: dict[int, Followed[V]] = {}

    def follow(
        self, track_id: int, class_name: str, t: float, at: datetime, *, in_zone: bool
    ) -> Followed[V] | None:
        """The track (new ones start now); None once it has been read."""
        track = self._tracks.setdefault(track_id, Followed(class_name, t, at))
        track.in_zone = track.in_zone or in_zone
        return None if track.done else track

    def worth(self, track: Followed[V], bound: float) -> bool:
        """Whether a view of at most ``bound`` quality could join the kept ones (a cheap
        bound, such as the area, before the quality is measured)."""
        return len(track.views) < self.count or bound > track.views[-1].quality

    def keep(self, track: Followed[V], view: V) -> None:
        """Keep the view if it is among the track's best."""
        track.views = sorted([*track.views, view], key=lambda v: -v.quality)
        del track.views[self.count :]

    def due(
        self, ended: Iterable[int], now: float, *, flush: bool = False
    ) -> list[tuple[int, Followed[V]]]:
        """The tracks to read now, each once, with their views (in the zone, with views):
        those that ended and those followed ``wait_s``, or all with ``flush``; the ended
        ones are forgotten."""
        ended_ids = list(self._tracks) if flush else [i for i in ended if i in self._tracks]
        waited = [
            i for i, f in self._tracks.items() if not f.done and now - f.first_t >= self.wait_s
        ]
        found: list[tuple[int, Followed[V]]] = []
        for track_id in dict.fromkeys([*ended_ids, *waited]):
            track = self._tracks[track_id]
            if not track.done and track.in_zone and track.views:
                found.append((track_id, replace(track)))
            track.done, track.views = True, []
        for track_id in ended_ids:
            del self._tracks[track_id]
        return found

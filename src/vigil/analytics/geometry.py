"""Zone and line geometry for behaviours, in normalised image coordinates.

Zones (polygons) and lines are drawn on a camera's snapshot and stored normalised: x and y run
from 0 to 1 across the image's width and height, y downwards, so they survive a change of
stream resolution. Objects are placed by an anchor point of their box: the bottom centre for
people and vehicles (where they touch the ground), so a person's head over a zone's edge does not
count as inside.

Validation refuses what a behaviour cannot use (too few points, a polygon that crosses itself
or has no area, a line of zero length, points outside the image) with a message that says what
to fix. Polygon validity and containment come from shapely (GEOS).

A line has a direction: looking from ``start`` to ``end`` on the image, an object crosses
*in* when it moves from the left of the line to its right, and *out* the other way. For a line
drawn left to right, *in* is downwards on the image.

Example:
    >>> line = CrossingLine(start=(0.0, 0.5), end=(1.0, 0.5))
    >>> crossing_direction(line, (0.5, 0.4), (0.5, 0.6))
    <Direction.IN: 'in'>
    >>> ZonePolygon(points=[(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)]).contains([(0.5, 0.5)]).tolist()
    [True]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.validation import explain_validity

__all__ = [
    "Anchor",
    "CrossingLine",
    "Direction",
    "LineCounter",
    "Point",
    "ZonePolygon",
    "anchor_points",
    "crossing_direction",
    "path_crossings",
]

Point = tuple[float, float]
"""A point in normalised image coordinates: (x, y), each 0..1, y downwards."""

FloatArray = npt.NDArray[np.float64]

MIN_ZONE_POINTS = 3
MAX_ZONE_POINTS = 64
MIN_LINE_LENGTH = 1e-3
"""Shortest line accepted (normalised): about one pixel on a 1080p image."""


class Anchor(StrEnum):
    """The point of a box that places an object."""

    BOTTOM_CENTER = "bottom_center"
    """Where people and vehicles touch the ground: the default for zones and lines."""
    CENTER = "center"
    """The middle of the box: for objects not standing on the ground plane."""


class Direction(StrEnum):
    """Which way a line was crossed (see the module docstring)."""

    IN = "in"
    OUT = "out"


def _check_point(index: int, point: Point) -> None:
    x, y = point
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0) or not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(
            f"point {index + 1} is ({x}, {y}): points are normalised image coordinates and must "
            "lie within 0..1 (0,0 is the top left corner, 1,1 the bottom right)"
        )


class ZonePolygon(BaseModel):
    """A zone: a simple polygon in normalised image coordinates.

    Attributes:
        points: Corners in drawing order (3 to 64); the polygon closes by itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    points: list[Point] = Field(max_length=MAX_ZONE_POINTS)

    @field_validator("points")
    @classmethod
    def _valid_polygon(cls, points: list[Point]) -> list[Point]:
        distinct = list(dict.fromkeys(points))
        if len(distinct) < MIN_ZONE_POINTS:
            raise ValueError(
                f"a zone needs at least {MIN_ZONE_POINTS} distinct points, got {len(distinct)}"
            )
        for i, point in enumerate(points):
            _check_point(i, point)
        polygon = shapely.Polygon(points)
        # A bow-tie's signed areas cancel out, so "no area" is judged on the convex hull.
        if polygon.convex_hull.area == 0:
            raise ValueError("the zone has no area: its points lie on one line")
        if not polygon.is_valid:
            raise ValueError(
                f"the zone's outline crosses itself ({explain_validity(polygon)}); "
                "draw its points in order around the area"
            )
        return points

    @cached_property
    def _polygon(self) -> shapely.Polygon:
        polygon = shapely.Polygon(self.points)
        shapely.prepare(polygon)
        return polygon

    def contains(self, points: Sequence[Point] | FloatArray) -> npt.NDArray[np.bool_]:
        """Which points lie in the zone (its edge counts as inside).

        Args:
            points: Normalised points, [N, 2].

        Returns:
            A boolean per point.
        """
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return np.asarray(shapely.intersects_xy(self._polygon, xy[:, 0], xy[:, 1]), dtype=bool)


class CrossingLine(BaseModel):
    """A counting line with a direction, in normalised image coordinates.

    Attributes:
        start: First end of the line.
        end: Second end; *in* is from the left of start->end to its right.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: Point
    end: Point

    @model_validator(mode="after")
    def _valid_line(self) -> CrossingLine:
        _check_point(0, self.start)
        _check_point(1, self.end)
        if np.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1]) < MIN_LINE_LENGTH:
            raise ValueError(
                f"the line from {self.start} to {self.end} has (almost) no length; "
                "draw two distinct end points"
            )
        return self

    def side(self, points: Sequence[Point] | FloatArray) -> FloatArray:
        """Signed distance of points from the (infinite) line, normalised units.

        Args:
            points: Normalised points, [N, 2].

        Returns:
            Per point: > 0 on the right of start->end (the *in* side), < 0 on its left.
        """
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        s = np.asarray(self.start, dtype=np.float64)
        d = np.asarray(self.end, dtype=np.float64) - s
        rel = xy - s
        # 2-D cross product; with y pointing down, positive is the right-hand side.
        return np.asarray((d[0] * rel[:, 1] - d[1] * rel[:, 0]) / np.hypot(*d), dtype=np.float64)


def _within_extent(line: CrossingLine, a: FloatArray, b: FloatArray) -> bool:
    """Whether the movement a->b passes between the line's end points (not beyond them)."""
    move = b - a
    s = np.asarray(line.start) - a
    e = np.asarray(line.end) - a
    side_start = move[0] * s[1] - move[1] * s[0]
    side_end = move[0] * e[1] - move[1] * e[0]
    return bool(side_start * side_end <= 0)


def crossing_direction(
    line: CrossingLine, previous: Point, current: Point, *, margin: float = 0.0
) -> Direction | None:
    """How a movement between two consecutive anchors crossed the line, if it did.

    Args:
        line: The counting line.
        previous: The anchor before (normalised).
        current: The anchor after (normalised).
        margin: Points closer than this to the line count as on it (no side): jitter around
            the line then does not count as crossings.

    Returns:
        ``Direction.IN`` or ``Direction.OUT``, or None when the movement did not cross the line
        between its end points (touching it is not crossing).
    """
    before, after = line.side([previous, current])
    if abs(before) <= margin or abs(after) <= margin or (before > 0) == (after > 0):
        return None
    if not _within_extent(line, np.asarray(previous), np.asarray(current)):
        return None
    return Direction.IN if after > 0 else Direction.OUT


def path_crossings(
    line: CrossingLine, path: Sequence[Point] | FloatArray, *, margin: float = 0.0
) -> list[tuple[int, Direction]]:
    """Every crossing of the line along a path of anchors.

    A point on the line (within ``margin``) has no side: the crossing is counted when the path
    reaches the other side, measured from the last point that had one.

    Args:
        line: The counting line.
        path: Anchors in time order (normalised), [N, 2].
        margin: See ``crossing_direction``.

    Returns:
        (index of the point on the new side, direction) for each crossing, in order.
    """
    xy = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    sides = line.side(xy)
    found: list[tuple[int, Direction]] = []
    last: int | None = None
    for i, side in enumerate(sides):
        if abs(side) <= margin:
            continue
        if (
            last is not None
            and (sides[last] > 0) != (side > 0)
            and _within_extent(line, xy[last], xy[i])
        ):
            found.append((i, Direction.IN if side > 0 else Direction.OUT))
        last = i
    return found


def anchor_points(
    xyxy: npt.ArrayLike, frame_size: tuple[int, int], anchor: Anchor = Anchor.BOTTOM_CENTER
) -> FloatArray:
    """Anchor points of pixel boxes, normalised to the frame.

    Args:
        xyxy: Boxes [N, 4] as x1, y1, x2, y2 in pixels (e.g. ``Detections.xyxy``).
        frame_size: The frame's (width, height) in pixels.
        anchor: Which point of the box.

    Returns:
        [N, 2] normalised (x, y), clipped to 0..1.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    width, height = frame_size
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    y = boxes[:, 3] if anchor is Anchor.BOTTOM_CENTER else (boxes[:, 1] + boxes[:, 3]) / 2
    return np.clip(np.stack([x / width, y / height], axis=1), 0.0, 1.0)


@dataclass
class LineCounter:
    """Counts tracks crossing a line, per direction and class.

    Feed it each frame's tracked anchors; a track is counted each time it changes side through
    the line (so a person who walks in and back out counts once each way).

    Attributes:
        line: The counting line.
        margin: See ``crossing_direction``; 0.01 is ~1 % of the image.
        counts: class name -> direction -> crossings so far.
    """

    line: CrossingLine
    margin: float = 0.01
    counts: defaultdict[str, dict[Direction, int]] = field(
        default_factory=lambda: defaultdict(lambda: {Direction.IN: 0, Direction.OUT: 0})
    )
    _last: dict[int, Point] = field(default_factory=dict)

    def update(
        self, track_ids: Iterable[int], class_names: Iterable[str], anchors: Iterable[Any]
    ) -> list[tuple[int, str, Direction]]:
        """Take one frame's tracked objects.

        Args:
            track_ids: Track id per object.
            class_names: Class name per object.
            anchors: Normalised anchor (x, y) per object (see ``anchor_points``).

        Returns:
            (track id, class name, direction) for each crossing in this frame.
        """
        crossed: list[tuple[int, str, Direction]] = []
        for track_id, name, anchor in zip(track_ids, class_names, anchors, strict=True):
            point = (float(anchor[0]), float(anchor[1]))
            if abs(float(self.line.side([point])[0])) <= self.margin:
                continue  # on the line: keep the last point that had a side
            previous = self._last.get(int(track_id))
            self._last[int(track_id)] = point
            if previous is None:
                continue
            direction = crossing_direction(self.line, previous, point, margin=self.margin)
            if direction is not None:
                self.counts[name][direction] += 1
                crossed.append((int(track_id), name, direction))
        return crossed

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the state of tracks that ended."""
        for track_id in track_ids:
            self._last.pop(int(track_id), None)

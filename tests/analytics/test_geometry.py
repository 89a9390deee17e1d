"""Zones and lines in normalised coordinates: validation, containment, crossings."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from vigil.analytics.geometry import (
    Anchor,
    CrossingLine,
    Direction,
    LineCounter,
    Point,
    ZonePolygon,
    anchor_points,
    crossing_direction,
    path_crossings,
)

SQUARE = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]
# Drawn left to right: "in" is downwards on the image.
HORIZONTAL = CrossingLine(start=(0.2, 0.5), end=(0.8, 0.5))


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([(0.1, 0.1), (0.9, 0.9)], "at least 3 distinct points, got 2"),
        ([(0.1, 0.1), (0.9, 0.9), (0.1, 0.1)], "at least 3 distinct points, got 2"),
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], "no area"),
        ([(0.2, 0.2), (0.8, 0.8), (0.8, 0.2), (0.2, 0.8)], "crosses itself"),
        ([(0.2, 0.2), (1.2, 0.2), (0.8, 0.8)], "point 2 is (1.2, 0.2)"),
        ([(-0.1, 0.2), (0.8, 0.2), (0.8, 0.8)], "within 0..1"),
        ([(0.2, 0.2), (0.8, 0.2), (0.8, float("nan"))], "within 0..1"),
    ],
    ids=["two-points", "repeated-point", "collinear", "bow-tie", "outside", "negative", "nan"],
)
def test_invalid_zone_is_refused_with_a_clear_message(points: list[Point], message: str) -> None:
    with pytest.raises(ValidationError, match="points") as info:
        ZonePolygon(points=points)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ((0.5, 0.5), (0.5, 0.5), "no length"),
        ((0.5, 0.5), (0.5001, 0.5), "no length"),
        ((0.5, 0.5), (1.5, 0.5), "point 2 is (1.5, 0.5)"),
        ((0.5, -0.2), (0.5, 0.5), "point 1 is (0.5, -0.2)"),
    ],
    ids=["zero", "sub-pixel", "end-outside", "start-outside"],
)
def test_invalid_line_is_refused_with_a_clear_message(
    start: Point, end: Point, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        CrossingLine(start=start, end=end)
    assert message in str(info.value)


def test_zone_accepts_a_concave_polygon_and_round_trips_as_json() -> None:
    points = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.5, 0.4), (0.1, 0.9)]
    zone = ZonePolygon(points=points)
    assert ZonePolygon.model_validate_json(zone.model_dump_json()) == zone


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((0.5, 0.5), True),
        ((0.2, 0.5), True),  # on the edge
        ((0.8, 0.8), True),  # a corner
        ((0.1, 0.5), False),
        ((0.5, 0.81), False),
        ((0.0, 0.0), False),
    ],
)
def test_point_in_zone(point: Point, inside: bool) -> None:
    assert ZonePolygon(points=SQUARE).contains([point]).tolist() == [inside]


def test_point_in_concave_zone_notch_is_outside() -> None:
    zone = ZonePolygon(points=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.5, 0.4), (0.1, 0.9)])
    assert zone.contains([(0.5, 0.8), (0.5, 0.3), (0.12, 0.8)]).tolist() == [False, True, True]


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (Anchor.BOTTOM_CENTER, [[0.25, 1.0], [0.5, 0.5]]),
        (Anchor.CENTER, [[0.25, 0.75], [0.5, 0.25]]),
    ],
)
def test_anchor_points_are_normalised(anchor: Anchor, expected: list[list[float]]) -> None:
    boxes = [[100, 200, 220, 400], [300, 0, 340, 200]]  # a 640x400 frame
    np.testing.assert_allclose(anchor_points(boxes, (640, 400), anchor), expected)


def test_a_person_whose_head_is_in_the_zone_but_feet_are_not_is_outside() -> None:
    zone = ZonePolygon(points=[(0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5)])
    feet = anchor_points([[300, 50, 340, 300]], (640, 400))  # head at y=50, feet at 300
    centre = anchor_points([[300, 50, 340, 300]], (640, 400), Anchor.CENTER)
    assert zone.contains(feet).tolist() == [False]
    assert zone.contains(centre).tolist() == [True]


@pytest.mark.parametrize(
    ("line", "previous", "current", "expected"),
    [
        (HORIZONTAL, (0.5, 0.4), (0.5, 0.6), Direction.IN),
        (HORIZONTAL, (0.5, 0.6), (0.5, 0.4), Direction.OUT),
        (HORIZONTAL, (0.3, 0.4), (0.7, 0.45), None),  # moves along, same side
        (HORIZONTAL, (0.9, 0.4), (0.9, 0.6), None),  # passes beyond the end
        (HORIZONTAL, (0.1, 0.4), (0.1, 0.6), None),  # passes before the start
        (HORIZONTAL, (0.5, 0.4), (0.5, 0.5), None),  # touches, does not cross
        (HORIZONTAL, (0.1, 0.3), (0.5, 0.7), Direction.IN),  # diagonal through the middle
        # Reversed line: directions swap.
        (CrossingLine(start=(0.8, 0.5), end=(0.2, 0.5)), (0.5, 0.4), (0.5, 0.6), Direction.OUT),
        # Vertical line drawn top to bottom: "in" is leftwards.
        (CrossingLine(start=(0.5, 0.1), end=(0.5, 0.9)), (0.6, 0.5), (0.4, 0.5), Direction.IN),
    ],
    ids=[
        "down-in", "up-out", "parallel", "beyond-end", "before-start", "touch",
        "diagonal", "reversed-line", "vertical-line",
    ],
)  # fmt: skip
def test_crossing_direction(
    line: CrossingLine, previous: Point, current: Point, expected: Direction | None
) -> None:
    assert crossing_direction(line, previous, current) == expected


def test_path_crossing_through_a_point_on_the_line_counts_once() -> None:
    path = [(0.5, 0.3), (0.5, 0.5), (0.5, 0.5), (0.5, 0.7), (0.5, 0.3)]
    assert path_crossings(HORIZONTAL, path) == [(3, Direction.IN), (4, Direction.OUT)]


def test_path_jitter_within_the_margin_is_not_counted() -> None:
    path = [(0.5, 0.3), (0.5, 0.495), (0.5, 0.505), (0.5, 0.495), (0.5, 0.505), (0.5, 0.3)]
    assert path_crossings(HORIZONTAL, path, margin=0.01) == []
    assert len(path_crossings(HORIZONTAL, path)) == 4


def test_line_counter_counts_per_class_and_direction() -> None:
    counter = LineCounter(HORIZONTAL)
    # Two people walk down through the line, a car drives up through it, a bicycle passes
    # beyond the line's end; frames of (id, class, anchor).
    frames = [
        [(1, "person", (0.3, 0.3)), (2, "person", (0.6, 0.2)), (3, "car", (0.5, 0.9)),
         (4, "bicycle", (0.9, 0.2))],
        [(1, "person", (0.3, 0.45)), (2, "person", (0.6, 0.4)), (3, "car", (0.5, 0.6)),
         (4, "bicycle", (0.9, 0.5))],
        [(1, "person", (0.3, 0.6)), (2, "person", (0.6, 0.7)), (3, "car", (0.5, 0.3)),
         (4, "bicycle", (0.9, 0.8))],
    ]  # fmt: skip
    events = []
    for frame in frames:
        ids, names, anchors = zip(*frame, strict=True)
        events += counter.update(ids, names, np.array(anchors))
    assert sorted(events) == [(1, "person", "in"), (2, "person", "in"), (3, "car", "out")]
    assert counter.counts["person"] == {Direction.IN: 2, Direction.OUT: 0}
    assert counter.counts["car"] == {Direction.IN: 0, Direction.OUT: 1}
    assert "bicycle" not in counter.counts


def test_line_counter_forgets_ended_tracks() -> None:
    counter = LineCounter(HORIZONTAL)
    counter.update([7], ["person"], [(0.5, 0.3)])
    counter.forget([7])
    # The same id coming back on the other side is a new start, not a crossing.
    assert counter.update([7], ["person"], [(0.5, 0.7)]) == []

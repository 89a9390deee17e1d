"""Traffic behaviours on synthetic vehicle tracks fed frame by frame: speed between two
lines (interpolated crossing times), wrong-way driving, and counts per lane in wall-clock
bins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from tests.analytics.test_behaviours import CAR, FPS, MONDAY_NOON, Obj, run
from vigil.analytics.behaviours import BehaviourEngine
from vigil.analytics.config import CameraAnalyticsConfig

# Two lines across the road 0.25 of the image apart (x = 0.25 and 0.5, vertical).
LINES = [
    {"name": "A", "start": [0.25, 0.0], "end": [0.25, 1.0]},
    {"name": "B", "start": [0.5, 0.0], "end": [0.5, 1.0]},
    {"name": "flow", "start": [0.0, 0.5], "end": [1.0, 0.5]},  # traffic goes left to right
]
ROAD = {"name": "road", "points": [[0, 0.4], [1, 0.4], [1, 0.9], [0, 0.9]]}
NORTH = {"name": "north", "points": [[0, 0.4], [1, 0.4], [1, 0.6], [0, 0.6]]}
SOUTH = {"name": "south", "points": [[0, 0.6], [1, 0.6], [1, 0.9], [0, 0.9]]}


def engine(*behaviours: dict[str, Any]) -> BehaviourEngine:
    config = CameraAnalyticsConfig.model_validate(
        {"zones": [ROAD, NORTH, SOUTH], "lines": LINES, "behaviours": behaviours}
    )
    return BehaviourEngine(config)


def car(
    track_id: int, x0: float, x1: float, seconds: float, y: float = 260.0, t0: float = 0.0
) -> Obj:
    """A car whose bottom centre drives from x0 to x1 (pixels) in ``seconds``."""
    return Obj(track_id, "car", [(t0, x0, y), (t0 + seconds, x1, y)], size=CAR)


def test_speed_between_two_lines_is_timed_between_frames() -> None:
    # 160 px between the lines (640 px wide) taken as 20 m; the car covers 600 px in 2.9 s,
    # so 160 px in 0.7733 s: 93.1 km/h, which 5 fps frames alone would time as 0.8 s (90).
    speed = {"type": "speed", "line": "A", "to_line": "B", "distance_m": 20}
    hits = run(engine(speed), [car(1, 20, 620, 2.9)], 3.5)
    assert [h.type for h in hits] == ["vehicle_speed"]
    attributes = hits[0].attributes
    assert attributes["speed_kmh"] == pytest.approx(20 / (160 / (600 / 2.9)) * 3.6, abs=0.5)
    assert attributes["direction"] == "forward" and attributes["over_limit"] is False
    reverse = run(engine(speed), [car(2, 620, 20, 2.9)], 3.5)
    assert reverse[0].attributes["direction"] == "reverse"


def test_a_speed_limit_reports_only_those_over_it() -> None:
    trap = {"type": "speed", "line": "A", "to_line": "B", "distance_m": 20, "limit_kmh": 50}
    slow = car(1, 20, 620, 12.0)  # 22.6 km/h
    fast = car(2, 20, 620, 2.0, y=300, t0=1.0)  # 135 km/h
    hits = run(engine(trap), [slow, fast], 14)
    assert [(h.track_id, h.attributes["over_limit"]) for h in hits] == [(2, True)]


def test_a_car_against_the_flow_is_wrong_way_and_one_with_it_is_not() -> None:
    rule = {"type": "wrong_way", "zone": "road", "line": "flow"}
    hits = run(engine(rule), [car(1, 40, 600, 4.0), car(2, 600, 40, 4.0, y=330)], 5)
    assert [(h.type, h.track_id) for h in hits] == [("wrong_way", 2)]
    assert hits[0].attributes["against"] >= 0.1
    # Reversing a little (a parking manoeuvre) is not driving the wrong way.
    assert run(engine(rule), [car(3, 300, 270, 2.0)], 3) == []


def test_traffic_is_counted_per_lane_and_class_in_wall_clock_bins() -> None:
    counts = {"type": "traffic_counts", "line": "A", "lanes": ["north", "south"], "bin_minutes": 1}
    start = MONDAY_NOON + timedelta(seconds=30)  # bins: 12:00:00-12:01, 12:01-12:02
    cars = [
        car(1, 20, 300, 2.0, y=230),  # north, crosses A at ~0.6 s (12:00:30)
        car(2, 20, 300, 2.0, y=330, t0=5),  # south
        car(3, 300, 20, 2.0, y=330, t0=40),  # south, the other way, at 12:01:11
        Obj(4, "truck", [(45, 20, 330), (47, 300, 330)], size=CAR),  # south, 12:01:16
    ]
    hits = run(engine(counts), cars, 95, start=start, fps=FPS)
    assert [h.type for h in hits] == ["traffic_counts", "traffic_counts"]
    first, second = (h.attributes for h in hits)
    assert (first["from"], first["to"]) == (
        MONDAY_NOON.isoformat(),
        (MONDAY_NOON + timedelta(minutes=1)).isoformat(),
    )
    assert first["counts"] == {
        "north": {"car": {"in": 0, "out": 1}},
        "south": {"car": {"in": 0, "out": 1}},
    }
    assert first["total"] == 2
    assert second["counts"] == {
        "north": {},
        "south": {"car": {"in": 1, "out": 0}, "truck": {"in": 0, "out": 1}},
    }


def test_behaviours_naming_lanes_or_a_second_line_that_is_not_drawn_are_refused() -> None:
    with pytest.raises(ValidationError, match="names zone 'east'"):
        engine({"type": "traffic_counts", "line": "A", "lanes": ["north", "east"]})
    with pytest.raises(ValidationError, match="names line 'C'"):
        engine({"type": "speed", "line": "A", "to_line": "C", "distance_m": 10})

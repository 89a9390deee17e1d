"""Behaviours: each fires when it should, not when it should not, once, and re-arms as specified.

Synthetic tracks are real ``Track`` objects fed frame by frame like the tracker fills them (or
the real ``Tracker`` on synthetic detections); the real-data checks replay MOT15 ground truth.
"""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from vigil.analytics.behaviours import BehaviourEngine, BehaviourHit
from vigil.analytics.behaviours.base import Stillness, Sustained
from vigil.analytics.behaviours.crowding import OCCUPANCY_PERIOD_S
from vigil.analytics.behaviours.line_crossing import LINE_MARGIN
from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.detections import make_detections
from vigil.analytics.geometry import CrossingLine, Direction, path_crossings
from vigil.analytics.tracking import Track, Tracker, TrackPoint, tracker_config
from vigil.domain.schedules import TimeProfileSpec, WeeklyWindow

FPS = 5.0
FRAME = (640, 480)
MONDAY_NOON = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
TUD = Path(__file__).resolve().parents[3] / "shared" / "media" / "mot15-tud" / "TUD-Stadtmitte"

# A zone over the middle of the image and a horizontal line across it (in: downwards).
MIDDLE = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)]
LINE = {"name": "door", "start": [0.0, 0.5], "end": [1.0, 0.5]}
INSIDE, OUTSIDE = (320.0, 240.0), (60.0, 60.0)  # bottom centres in pixels
PERSON, CAR, BAG = (40.0, 100.0), (120.0, 60.0), (30.0, 30.0)  # box sizes (w, h)


@dataclass
class Obj:
    """A synthetic object: bottom-centre keyframes (t, x, y) in pixels, linearly interpolated;
    seen from the first keyframe to the last, then its track ends."""

    track_id: int
    class_name: str
    keys: Sequence[tuple[float, float, float]]
    size: tuple[float, float] = PERSON
    jitter: float = 0.0
    hidden: tuple[float, float] | None = None  # not detected in this time range

    def box(self, t: float, rng: np.random.Generator) -> tuple[float, float, float, float]:
        ts = [k[0] for k in self.keys]
        x = float(np.interp(t, ts, [k[1] for k in self.keys]))
        y = float(np.interp(t, ts, [k[2] for k in self.keys]))
        if self.jitter:
            x, y = x + rng.normal(0, self.jitter), y + rng.normal(0, self.jitter)
        w, h = self.size
        return (x - w / 2, y - h, x + w / 2, y)

    def seen(self, t: float) -> bool:
        if self.hidden is not None and self.hidden[0] <= t <= self.hidden[1]:
            return False
        return self.keys[0][0] - 1e-9 <= t <= self.keys[-1][0] + 1e-9


def config(*behaviours: dict[str, Any], zone: list[tuple[float, float]] = MIDDLE) -> Any:
    return CameraAnalyticsConfig.model_validate(
        {"zones": [{"name": "area", "points": zone}], "lines": [LINE], "behaviours": behaviours}
    )


def run(
    engine: BehaviourEngine,
    objects: Sequence[Obj],
    until: float,
    *,
    start: datetime = MONDAY_NOON,
    fps: float = FPS,
) -> list[BehaviourHit]:
    """Feed the objects' tracks to the engine frame by frame; all hits in order."""
    rng = np.random.default_rng(7)
    tracks: dict[int, Track] = {}
    ended: set[int] = set()
    hits: list[BehaviourHit] = []
    for n in range(round(until * fps) + 1):
        t = n / fps
        for obj in objects:
            if obj.track_id in ended:
                continue
            if t > obj.keys[-1][0] + 1e-9 and obj.track_id in tracks:
                ended.add(obj.track_id)
                del tracks[obj.track_id]
                engine.forget([obj.track_id])
                continue
            if not obj.seen(t):
                continue
            track = tracks.setdefault(obj.track_id, Track(track_id=obj.track_id, first_seen=t))
            track.points.append(TrackPoint(t=t, xyxy=obj.box(t, rng), confidence=0.9))
            track.class_votes[obj.class_name] += 1
        hits += engine.update(list(tracks.values()), t, start + timedelta(seconds=t), FRAME)
    return hits


def inside(t: float) -> tuple[float, float, float]:
    return (t, *INSIDE)


def outside(t: float) -> tuple[float, float, float]:
    return (t, *OUTSIDE)


def person(*keys: tuple[float, float, float], **kw: Any) -> Obj:
    return Obj(1, "person", keys, **kw)


def of_type(hits: list[BehaviourHit], kind: str) -> list[BehaviourHit]:
    return [h for h in hits if h.type == kind]


def still(track_id: int, cls: str, at: tuple[float, float], t0: float, t1: float, **kw: Any) -> Obj:
    return Obj(track_id, cls, [(t0, *at), (t1, *at)], **kw)


# ----- line crossing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ys", "directions", "classes", "cls", "expected"),
    [
        ((200, 300), ["in", "out"], [], "person", ["in"]),
        ((300, 200), ["in", "out"], [], "person", ["out"]),
        ((200, 300, 200), ["in", "out"], [], "person", ["in", "out"]),
        ((300, 200), ["in"], [], "person", []),  # direction not allowed
        ((200, 300), ["in"], ["car"], "person", []),  # class not chosen
        ((200, 300), ["in"], [], "suitcase", []),  # not a default class
        ((200, 230), ["in", "out"], [], "person", []),  # stops short of the line
        ((238, 242, 238, 242, 238), ["in", "out"], [], "person", []),  # jitter on the line
    ],
)
def test_line_crossing(
    ys: tuple[int, ...], directions: list[str], classes: list[str], cls: str, expected: list[str]
) -> None:
    engine = BehaviourEngine(
        config(
            {"type": "line_crossing", "line": "door", "directions": directions, "classes": classes}
        )
    )
    keys = [(2.0 * i, 320.0, float(y)) for i, y in enumerate(ys)]
    hits = run(engine, [Obj(1, cls, keys)], keys[-1][0] + 1)
    assert [h.attributes["direction"] for h in hits] == expected
    assert all(
        (h.type, h.zone, h.track_id, h.label) == ("line_crossing", "door", 1, "line crossing")
        for h in hits
    )


def test_line_crossing_counts_per_class_and_direction() -> None:
    engine = BehaviourEngine(config({"type": "line_crossing", "line": "door", "name": "Gate"}))
    objects = [
        Obj(1, "person", [(0, 100, 200), (2, 100, 300)]),
        Obj(2, "person", [(1, 300, 200), (3, 300, 300)]),
        Obj(3, "car", [(0, 500, 320), (2, 500, 180)], size=CAR),
        Obj(4, "person", [(0, 600, 100), (2, 640, 100)]),  # never near the line
    ]
    hits = run(engine, objects, 4)
    assert sorted((h.track_id, h.attributes["direction"], h.count) for h in hits) == [
        (1, "in", 1),
        (2, "in", 2),
        (3, "out", 1),
    ]
    assert hits[-1].attributes["counts"] == {
        "person": {"in": 2, "out": 0},
        "car": {"in": 0, "out": 1},
    }
    assert {h.label for h in hits} == {"Gate"}
    assert engine.counts() == {"door": hits[-1].attributes["counts"]}


def test_line_crossing_through_the_real_tracker() -> None:
    """Detections -> Tracker -> engine: two people crossing opposite ways, one track each."""
    engine = BehaviourEngine(config({"type": "line_crossing", "line": "door"}))
    tracker = Tracker(tracker_config({"fps": FPS}))
    hits: list[BehaviourHit] = []
    for n in range(30):
        t = n / FPS
        ya, yb = 150 + 10 * n, 400 - 10 * n
        boxes = [[180, ya - 100, 220, ya], [420, yb - 100, 460, yb]]
        tracker.update(make_detections(boxes, [0.9, 0.9], [0, 0]), t)
        hits += engine.update(tracker.tracks.values(), t, MONDAY_NOON, FRAME)
        engine.forget(t.track_id for t in tracker.pop_ended())
    assert sorted(h.attributes["direction"] for h in hits) == ["in", "out"]
    assert len({h.track_id for h in hits}) == 2


# ----- intrusion -----------------------------------------------------------------------------

WEEKDAY_DAYTIME = TimeProfileSpec(
    name="office hours",
    windows=[WeeklyWindow(days=[0, 1, 2, 3, 4], start=time(8), end=time(18))],
)


NOON, EVENING, SUNDAY = MONDAY_NOON, MONDAY_NOON.replace(hour=20), MONDAY_NOON - timedelta(days=1)


@pytest.mark.parametrize(
    ("obj", "extra", "start", "expected"),
    [
        (person(outside(0), inside(2), inside(10)), {}, MONDAY_NOON, 1),
        (Obj(1, "car", [outside(0), inside(2), inside(10)], size=CAR), {}, MONDAY_NOON, 1),
        # In and out again before min_s.
        (person(outside(0), inside(0.2), inside(1.2), outside(1.4), outside(5)), {}, NOON, 0),
        (Obj(1, "suitcase", [inside(0), inside(10)], size=BAG), {}, MONDAY_NOON, 0),
        (person(inside(0), inside(10)), {"classes": ["car"]}, MONDAY_NOON, 0),
        (person(outside(0), (10, 60, 300)), {}, MONDAY_NOON, 0),  # never inside
        # Outside the time profile, within it, and an unknown profile.
        (person(inside(0), inside(10)), {"time_profile_id": 1}, EVENING, 0),
        (person(inside(0), inside(10)), {"time_profile_id": 1}, SUNDAY, 0),
        (person(inside(0), inside(10)), {"time_profile_id": 1}, MONDAY_NOON, 1),
        (person(inside(0), inside(10)), {"time_profile_id": 2}, MONDAY_NOON, 0),
        # Leaves and comes back: still once per track.
        (person(inside(0), inside(4), outside(5), outside(8), inside(9), inside(14)), {}, NOON, 1),
    ],
)  # fmt: skip
def test_intrusion(obj: Obj, extra: dict[str, Any], start: datetime, expected: int) -> None:
    behaviour = {"type": "intrusion", "zone": "area", "min_s": 2.0, **extra}
    engine = BehaviourEngine(config(behaviour), time_profiles={1: WEEKDAY_DAYTIME})
    hits = run(engine, [obj], obj.keys[-1][0] + 1, start=start)
    assert len(hits) == expected
    for hit in hits:
        assert (hit.type, hit.zone, hit.track_id, hit.class_name) == (
            "intrusion",
            "area",
            1,
            obj.class_name,
        )
        assert hit.attributes["inside_s"] >= 2.0


def test_intrusion_counts_time_inside_from_when_the_profile_becomes_active() -> None:
    engine = BehaviourEngine(
        config({"type": "intrusion", "zone": "area", "min_s": 3.0, "time_profile_id": 1}),
        time_profiles={1: WEEKDAY_DAYTIME},
    )
    start = MONDAY_NOON.replace(hour=7, minute=59, second=50)  # active from 10 s in
    hits = run(engine, [Obj(1, "person", [(0, *INSIDE), (30, *INSIDE)])], 30, start=start)
    assert [round(h.t, 1) for h in hits] == [13.0]


# ----- loitering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected_dwell"),
    [
        (person(outside(0), inside(1), inside(20)), [10.0]),
        (person(inside(0), inside(8)), []),  # too short
        (Obj(1, "car", [inside(0), inside(20)], size=CAR), []),  # not a person
        # Two visits of 12 s: once each.
        (person(inside(0), inside(12), outside(13), outside(16), inside(17), inside(30)), [10, 10]),
        # Two visits of 6 s: never.
        (person(inside(0), inside(6), outside(7), outside(10), inside(11), inside(17)), []),
        # Hidden for 3 s inside: still one visit.
        (person(inside(0), inside(20), hidden=(4, 7)), [10.0]),
    ],
)  # fmt: skip
def test_loitering(obj: Obj, expected_dwell: list[float]) -> None:
    engine = BehaviourEngine(config({"type": "loitering", "zone": "area", "dwell_s": 10}))
    hits = run(engine, [obj], obj.keys[-1][0] + 1)
    assert [h.attributes["dwell_s"] for h in hits] == expected_dwell
    assert all(h.track_id == 1 and h.zone == "area" for h in hits)


def test_loitering_survives_a_box_jittering_over_the_zone_edge() -> None:
    # Standing on the zone's left edge (x = 160 px): the anchor flickers in and out.
    engine = BehaviourEngine(config({"type": "loitering", "zone": "area", "dwell_s": 10}))
    obj = Obj(1, "person", [(0, 165, 240), (20, 165, 240)], jitter=4.0)
    hits = run(engine, [obj], 20)
    assert len(hits) == 1


# ----- running -------------------------------------------------------------------------------


def moving(
    track_id: int,
    cls: str,
    segments: Sequence[tuple[float, float]],
    size: tuple[float, float] = PERSON,
    **kw: Any,
) -> Obj:
    """An object walking right along y = 240 from x = 20, (duration, speed in heights/s) per
    segment."""
    t, x, keys = 0.0, 20.0, [(0.0, 20.0, 240.0)]
    for duration, speed in segments:
        t, x = t + duration, x + duration * speed * size[1]
        keys.append((t, x, 240.0))
    return Obj(track_id, cls, keys, size=size, **kw)


@pytest.mark.parametrize(
    ("obj", "min_s", "expected"),
    [
        (moving(1, "person", [(2.0, 3.0)], size=(20, 50)), 0.6, 1),
        (moving(1, "person", [(4.0, 0.8)]), 0.6, 0),  # walking
        (moving(1, "person", [(1.0, 0.5), (3.0, 3.0), (1.0, 0.5)], size=(10, 20)), 2.0, 1),
        (moving(1, "person", [(1.0, 0.5), (1.2, 3.0), (1.0, 0.5)], size=(10, 20)), 2.0, 0),  # short
        (moving(1, "person", [(6.0, 0.0)], jitter=4.0), 0.6, 0),  # standing, jittery boxes
        (moving(1, "person", [(1.5, 0.9)], jitter=3.0, size=(20, 40)), 0.6, 0),  # walking, jittery
        (moving(1, "person", [(1.5, 3.0), (3.0, 0.3), (1.5, 3.0)], size=(15, 30)), 0.6, 2),  # twice
        (moving(1, "car", [(2.0, 3.0)], size=(40, 30)), 0.6, 0),
    ],
)
def test_running(obj: Obj, min_s: float, expected: int) -> None:
    behaviour = {"type": "running", "min_heights_per_s": 1.5, "min_s": min_s}
    engine = BehaviourEngine(config(behaviour))
    hits = run(engine, [obj], obj.keys[-1][0] + 1)
    assert len(hits) == expected
    for hit in hits:
        assert hit.attributes["speed_heights_per_s"] > 1.5
        assert hit.zone is None and hit.track_id == 1


def test_running_normalises_by_height() -> None:
    # The same 150 px/s: a running child far away (50 px tall), a walking adult near (150 px).
    engine = BehaviourEngine(config({"type": "running"}))
    far = Obj(1, "person", [(0, 20, 200), (3, 470, 200)], size=(20, 50))
    near = Obj(2, "person", [(0, 20, 470), (3, 470, 470)], size=(60, 150))
    assert [h.track_id for h in run(engine, [far, near], 3)] == [1]


# ----- crowding and occupancy ----------------------------------------------------------------


def crowd(n: int, t0: float, t1: float, first_id: int = 1, cls: str = "person") -> list[Obj]:
    return [still(first_id + i, cls, (200.0 + 25 * i, 240.0), t0, t1) for i in range(n)]


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        (crowd(4, 0, 8), [4]),
        (crowd(3, 0, 8), [3]),
        (crowd(2, 0, 8), []),  # too few
        (crowd(4, 0, 3), []),  # too short
        (crowd(4, 0, 8, cls="car"), []),
        # Drops to 2 for 3 s, then 4 again: re-armed.
        (crowd(2, 0, 20) + crowd(2, 0, 7, first_id=10) + crowd(2, 10, 20, first_id=20), [4, 4]),
        # One missed detection does not re-arm.
        ([*crowd(2, 0, 20), still(9, "person", (300, 240), 0, 20, hidden=(7, 7.2))], [3]),
    ],
)
def test_crowding(objects: list[Obj], expected: list[int]) -> None:
    engine = BehaviourEngine(
        config({"type": "crowding", "zone": "area", "min_count": 3, "min_s": 5})
    )
    hits = of_type(run(engine, objects, 20), "crowding")
    assert [h.count for h in hits] == expected
    assert all(h.zone == "area" and h.track_id is None for h in hits)


def test_occupancy_samples_changes_at_most_every_period() -> None:
    engine = BehaviourEngine(config({"type": "crowding", "zone": "area"}))
    objects = [
        still(1, "person", INSIDE, 0, 40),
        still(2, "person", (300, 250), 2, 40),  # 2 from 2 s, within the first period
        still(3, "person", (340, 250), 15, 25),  # 3 from 15 s to 25 s
        still(4, "person", OUTSIDE, 0, 40),  # outside the zone
        still(5, "car", INSIDE, 0, 40, size=CAR),  # not counted
    ]
    hits = run(engine, objects, 45)
    samples = [(round(h.t, 1), h.count) for h in of_type(hits, "occupancy")]
    assert samples == [(0.0, 1), (10.0, 2), (20.0, 3), (30.0, 2), (40.2, 0)]
    assert all(b[0] - a[0] >= OCCUPANCY_PERIOD_S for a, b in itertools.pairwise(samples))
    assert engine.occupancy() == {"area": 0}


def test_occupancy_counts_every_zone() -> None:
    engine = BehaviourEngine(config())
    run(engine, [still(1, "person", INSIDE, 0, 2), still(2, "car", INSIDE, 0, 2, size=CAR)], 2)
    assert engine.occupancy() == {"area": 2}


# ----- left object ---------------------------------------------------------------------------

BAG_AT = (320.0, 300.0)


def owner(leaves_at: float, *, until: float = 60.0, comes_back: float | None = None) -> Obj:
    """A person who walks in, puts the bag down at 2 s, and walks off at ``leaves_at``."""
    keys = [(0, 100, 300), (2, 300, 300), (leaves_at, 300, 300), (leaves_at + 3, 40, 420)]
    if comes_back is not None:
        keys += [(comes_back, 40, 420), (comes_back + 3, 300, 300)]
    keys.append((max(until, keys[-1][0] + 1), *keys[-1][1:]))
    assert all(a[0] < b[0] for a, b in itertools.pairwise(keys)), keys
    return Obj(100, "person", keys)


@pytest.mark.parametrize(
    ("objects", "expected_t"),
    [
        # The owner is 3 bag heights (90 px) away at 11.2 s.
        ([still(1, "suitcase", BAG_AT, 2, 60, size=BAG), owner(10)], [21.2]),
        ([still(1, "backpack", BAG_AT, 2, 60, size=BAG), owner(60)], []),  # owner stays near
        (
            [still(1, "suitcase", BAG_AT, 2, 60, size=BAG), owner(5, comes_back=12)],
            [],
        ),  # back in time
        ([still(1, "suitcase", BAG_AT, 2, 12, size=BAG), owner(5)], []),  # picked up before
        ([moving(1, "suitcase", [(60, 0.1)], size=BAG)], []),  # dragged along, never still
        ([still(1, "person", BAG_AT, 2, 60)], []),  # not a bag
        ([still(1, "handbag", BAG_AT, 0, 60, size=BAG)], [10.0]),  # nobody around at all
    ],
)
def test_left_object(objects: list[Obj], expected_t: list[float]) -> None:
    engine = BehaviourEngine(config({"type": "left_object", "still_s": 10, "near": 3}))
    hits = run(engine, objects, 60)
    assert [round(h.t, 1) for h in hits] == expected_t
    assert all(h.track_id == 1 and h.attributes["still_s"] >= 10 for h in hits)


def test_left_object_outside_its_zone_is_not_reported() -> None:
    engine = BehaviourEngine(config({"type": "left_object", "zone": "area", "still_s": 5}))
    hits = run(engine, [still(1, "suitcase", (600, 460), 0, 20, size=BAG)], 20)
    assert hits == []


# ----- illegal dumping -----------------------------------------------------------------------


def car_dumping(leaves_at: float) -> Obj:
    keys = [(0, 100, 330), (3, 300, 330), (leaves_at, 300, 330), (leaves_at + 2, 630, 330)]
    return Obj(200, "car", [*keys, (leaves_at + 3, 639, 330)], size=CAR)


BAG_IN_A_CAR = Obj(100, "person", [(0, 100, 300), (2, 300, 300), (6.4, 300, 300)])
WALKER_BY = Obj(100, "person", [(0, 600, 460), (5, 600, 460), (8, 100, 460)])


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        # Brought by a person whose track then ends (into a car, say): 10 s after it ended.
        ([still(1, "suitcase", BAG_AT, 2, 40, size=BAG), BAG_IN_A_CAR], [(16.6, "person", 100)]),
        # ... or who walks away (4 bag heights, 120 px, at 7.6 s) and stays visible.
        ([still(1, "object", BAG_AT, 2, 40, size=BAG), owner(6)], [(17.6, "person", 100)]),
        ([still(1, "suitcase", BAG_AT, 3, 40, size=BAG), car_dumping(8)], [(19.6, "car", 200)]),
        ([still(1, "suitcase", BAG_AT, 2, 40, size=BAG), owner(40)], []),  # the bringer stays
        ([still(1, "suitcase", BAG_AT, 2, 40, size=BAG), owner(6, comes_back=14)], []),  # back
        ([still(1, "suitcase", BAG_AT, 0, 40, size=BAG)], []),  # nobody brought it
        ([still(1, "suitcase", (600, 460), 2, 40, size=BAG), WALKER_BY], []),  # outside the zone
        ([still(1, "person", BAG_AT, 2, 40), owner(6)], []),  # a person is not dumped
    ],
)  # fmt: skip
def test_illegal_dumping(objects: list[Obj], expected: list[tuple[float, str, int]]) -> None:
    engine = BehaviourEngine(config({"type": "illegal_dumping", "zone": "area", "still_s": 10}))
    hits = run(engine, objects, 40)
    brought_by = [h.attributes["brought_by"] for h in hits]
    found = [
        (round(h.t, 1), b["class_name"], b["track_id"])
        for h, b in zip(hits, brought_by, strict=True)
    ]
    assert found == expected
    assert all(h.track_id == 1 and h.zone == "area" for h in hits)


# ----- parked vehicle ------------------------------------------------------------------------


def vehicle(*keys: tuple[float, float, float], cls: str = "car", **kw: Any) -> Obj:
    return Obj(1, cls, keys, size=CAR, **kw)


STOPS_AT_4 = ((0, 20, 300), (4, 300, 300))


@pytest.mark.parametrize(
    ("obj", "expected_stopped"),
    [
        (vehicle(*STOPS_AT_4, (40, 300, 300)), [30.2]),
        (vehicle(*STOPS_AT_4, (40, 300, 300), cls="truck", jitter=5), [30.2]),
        (vehicle(*STOPS_AT_4, (30, 300, 300), (32, 630, 300)), []),  # too short
        (Obj(1, "person", [*STOPS_AT_4, (40, 300, 300)]), []),
        (vehicle((0, 20, 460), (4, 300, 460), (40, 300, 460)), []),  # outside the zone
        (vehicle((0, 160, 300), (60, 460, 300)), []),  # creeping at 5 px/s
        # Stops twice: once per stop.
        (vehicle(*STOPS_AT_4, (40, 300, 300), (42, 400, 300), (80, 400, 300)), [30.2, 30.2]),
    ],
)
def test_parked_vehicle(obj: Obj, expected_stopped: list[float]) -> None:
    engine = BehaviourEngine(config({"type": "parked_vehicle", "zone": "area", "max_s": 30}))
    hits = run(engine, [obj], obj.keys[-1][0])
    # The stop starts when the vehicle is seen in place, up to a frame late.
    assert [h.attributes["stopped_s"] for h in hits] == pytest.approx(expected_stopped, abs=0.25)
    assert all(h.track_id == 1 and h.class_name == obj.class_name for h in hits)


def test_parked_vehicle_stop_survives_a_glitch() -> None:
    """A passing bus hides the car's bottom for a frame: the stop goes on."""
    engine = BehaviourEngine(config({"type": "parked_vehicle", "zone": "area", "max_s": 30}))
    tracks = {1: Track(track_id=1, first_seen=0.0)}
    hits: list[BehaviourHit] = []
    for n in range(200):
        t = n / FPS
        y = 270.0 if n == 50 else 300.0  # one box ~85 px off: over a quarter of its width
        x = 380.0 if n == 50 else 300.0
        tracks[1].points.append(TrackPoint(t=t, xyxy=(x - 60, y - 60, x + 60, y), confidence=0.9))
        tracks[1].class_votes["car"] += 1
        hits += engine.update(tracks.values(), t, MONDAY_NOON, FRAME)
    assert [round(h.t, 1) for h in hits] == [30.2]


# ----- engine --------------------------------------------------------------------------------


def test_forgotten_tracks_start_afresh() -> None:
    engine = BehaviourEngine(config({"type": "loitering", "zone": "area", "dwell_s": 5}))
    track = Track(track_id=1, first_seen=0.0)
    track.class_votes["person"] += 1
    hits: list[BehaviourHit] = []
    for n in range(100):
        t = n / FPS
        if n == 40:
            engine.forget([1])  # ended; a new track reuses nothing of it
            track = Track(track_id=1, first_seen=t)
            track.class_votes["person"] += 1
        track.points.append(TrackPoint(t=t, xyxy=(300, 140, 340, 240), confidence=0.9))
        hits += engine.update([track], t, MONDAY_NOON, FRAME)
    assert [round(h.t, 1) for h in hits] == [5.0, 13.0]


def test_several_behaviours_at_once_and_a_quiet_scene() -> None:
    cfg = config(
        {"type": "intrusion", "zone": "area"},
        {"type": "loitering", "zone": "area", "dwell_s": 5},
        {"type": "line_crossing", "line": "door"},
    )
    assert run(BehaviourEngine(cfg), [], 5) == []
    hits = run(
        BehaviourEngine(cfg), [Obj(1, "person", [(0, 320, 100), (2, 320, 300), (10, 320, 300)])], 10
    )
    assert [h.type for h in hits] == ["intrusion", "line_crossing", "loitering"]


def test_timers() -> None:
    spell = Sustained(grace_s=1.0)
    observations = [(0, True), (1, True), (1.5, False), (2, True)]
    assert [spell.update(t, h) for t, h in observations] == [0, 1, 1, 2]
    assert spell.update(3.5, False) is None and not spell.holding
    stop = Stillness(fraction=0.5, grace_s=1.0)
    # Back within the grace: the stop goes on; away for the grace: a new stop.
    moves = [(0, 0), (5, 4), (6, 20), (6.5, 0), (8, 20), (9, 20)]
    assert [stop.update(t, (x, 0.0), 10.0) for t, x in moves] == [0, 5, 6, 6.5, 8, 0]


# ----- real data: MOT15 TUD-Stadtmitte ground truth ------------------------------------------


def tud_tracks() -> dict[int, list[TrackPoint]]:
    """Ground-truth boxes by id; frame n at n / 25 s."""
    paths: dict[int, list[TrackPoint]] = defaultdict(list)
    with (TUD / "gt" / "gt.txt").open() as f:
        for row in csv.reader(f):
            frame, track_id, x, y, w, h = (float(v) for v in row[:6])
            t = (frame - 1) / 25
            paths[int(track_id)].append(TrackPoint(t=t, xyxy=(x, y, x + w, y + h), confidence=1.0))
    return paths


@pytest.mark.skipif(not TUD.is_dir(), reason="needs ../shared/media/mot15-tud")
def test_tud_stadtmitte_crossings_and_occupancy_match_ground_truth() -> None:
    width, height = 640, 480
    line = {"name": "middle", "start": [0.625, 0.3], "end": [0.625, 0.9]}
    zone = [(0.0, 0.4), (0.5, 0.4), (0.5, 0.8), (0.0, 0.8)]
    cfg = CameraAnalyticsConfig.model_validate(
        {
            "zones": [{"name": "left", "points": zone}],
            "lines": [line],
            "behaviours": [
                {"type": "line_crossing", "line": "middle"},
                {"type": "crowding", "zone": "left", "min_count": 50},
            ],
        }
    )
    paths = tud_tracks()
    engine = BehaviourEngine(cfg)
    tracks: dict[int, Track] = {}
    polygon = shapely.Polygon(zone)
    frames = sorted({p.t for path in paths.values() for p in path})
    hits: list[BehaviourHit] = []
    occupancy_checked = 0
    for t in frames:
        for track_id, path in paths.items():
            point = next((p for p in path if p.t == t), None)
            if point is not None:
                track = tracks.setdefault(track_id, Track(track_id=track_id, first_seen=t))
                track.points.append(point)
                track.class_votes["person"] += 1
            elif track_id in tracks and t > path[-1].t:
                del tracks[track_id]
                engine.forget([track_id])
        hits += engine.update(tracks.values(), t, MONDAY_NOON, (width, height))
        # Occupancy: people whose feet are in the zone, straight from the ground truth.
        expected = sum(
            polygon.covers(shapely.Point(p.anchor[0] / width, p.anchor[1] / height))
            for path in paths.values()
            for p in path
            if p.t == t
        )
        assert engine.occupancy() == {"left": expected}
        occupancy_checked += expected > 0
    assert occupancy_checked > 50

    crossing = CrossingLine(start=(0.625, 0.3), end=(0.625, 0.9))
    truth: dict[str, int] = defaultdict(int)
    for path in paths.values():
        anchors = [(p.anchor[0] / width, p.anchor[1] / height) for p in path]
        for _, direction in path_crossings(crossing, anchors, margin=LINE_MARGIN):
            truth[direction.value] += 1
    found: dict[str, int] = defaultdict(int)
    for hit in of_type(hits, "line_crossing"):
        found[hit.attributes["direction"]] += 1
    assert found == truth
    assert truth[Direction.IN.value] >= 1 and truth[Direction.OUT.value] >= 1
    assert engine.counts()["middle"]["person"] == dict(truth)


def test_an_engine_started_mid_stream_does_not_replay_history() -> None:
    """A new engine (configuration reloaded) reads only what happens from then on."""
    track = Track(track_id=1, first_seen=0.0)
    track.class_votes["person"] += 1
    for n, y in enumerate([200, 230, 260, 290]):  # crossed the line before the engine existed
        track.points.append(TrackPoint(t=n / FPS, xyxy=(300, y - 100, 340, y), confidence=0.9))
    engine = BehaviourEngine(config({"type": "line_crossing", "line": "door"}))
    hits = engine.update([track], 0.6, MONDAY_NOON, FRAME)
    track.points.append(TrackPoint(t=0.8, xyxy=(300, 100, 340, 200), confidence=0.9))  # back up
    hits += engine.update([track], 0.8, MONDAY_NOON, FRAME)
    assert [h.attributes["direction"] for h in hits] == ["out"]

"""Tracking: stable ids through crossings and gaps, track history, configuration, real data."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from vigil.analytics.detections import Detections, make_detections
from vigil.analytics.geometry import CrossingLine, Direction, LineCounter, anchor_points
from vigil.analytics.tracking import ByteTrackConfig, Tracker, tracker_config

FPS = 5.0
FRAME = (640, 480)
TUD = Path(__file__).resolve().parents[3] / "shared" / "media" / "mot15-tud"
TRUTH = "truth"  # Detections.data key: which synthetic object a box belongs to


def frame_detections(objects: list[tuple[int, tuple[float, float], str]]) -> Detections:
    """Detections of 40x80 px objects given (truth id, bottom centre, class name)."""
    classes = {"person": 0, "car": 2, "suitcase": 28}
    boxes = [[x - 20, y - 80, x + 20, y] for _, (x, y), _ in objects]
    d = make_detections(
        np.array(boxes).reshape(-1, 4),
        np.full(len(objects), 0.9),
        [classes[name] for _, _, name in objects],
    )
    d.data[TRUTH] = np.array([truth for truth, _, _ in objects], dtype=int)
    return d


def run(tracker: Tracker, frames: list[Detections]) -> dict[int, set[int]]:
    """Feed frames at FPS; return, per truth id, the track ids it was given."""
    ids: dict[int, set[int]] = defaultdict(set)
    for n, d in enumerate(frames):
        tracked = tracker.update(d, n / FPS)
        assert tracked.tracker_id is not None
        for truth, track_id in zip(tracked.data[TRUTH], tracked.tracker_id, strict=True):
            ids[int(truth)].add(int(track_id))
    return ids


@pytest.mark.parametrize("kind", ["bytetrack", "sort", "ocsort"])
def test_two_objects_crossing_keep_their_ids(kind: str) -> None:
    # One walks right, the other left, slightly lower: their boxes overlap mid-way.
    frames = [
        frame_detections([(1, (100 + 25 * n, 240), "person"), (2, (540 - 25 * n, 260), "person")])
        for n in range(18)
    ]
    ids = run(Tracker(tracker_config({"type": kind, "fps": FPS})), frames)
    assert len(ids[1]) == 1, ids
    assert len(ids[2]) == 1, ids
    assert ids[1] != ids[2]


def test_an_object_missing_for_a_few_frames_keeps_its_id() -> None:
    tracker = Tracker(tracker_config({"lost_track_s": 2.0, "fps": FPS}))
    frames = [
        frame_detections([] if 8 <= n < 12 else [(1, (100 + 15 * n, 300), "person")])
        for n in range(20)
    ]  # 4 frames = 0.8 s missing
    ids = run(tracker, frames)
    assert len(ids[1]) == 1, ids
    assert tracker.pop_ended() == []


def test_an_object_missing_longer_than_lost_track_s_gets_a_new_track() -> None:
    tracker = Tracker(tracker_config({"lost_track_s": 1.0, "fps": FPS}))
    frames = [
        frame_detections([] if 5 <= n < 15 else [(1, (200, 300), "person")]) for n in range(20)
    ]  # 10 frames = 2 s missing
    ids = run(tracker, frames)
    assert len(ids[1]) == 2, ids
    (ended,) = tracker.pop_ended()
    assert ended.track_id == min(ids[1])
    assert set(tracker.tracks) == {max(ids[1])}


def test_track_history_has_times_positions_class_and_is_trimmed() -> None:
    tracker = Tracker(tracker_config({"history_s": 1.1, "minimum_consecutive_frames": 1}))
    # A car detected as something else once: the majority class wins.
    for n in range(12):
        name = "car" if n != 6 else "person"
        tracker.update(frame_detections([(1, (100 + 10 * n, 300), name)]), n / FPS)
    (track,) = tracker.tracks.values()
    assert track.class_name == "car"
    assert track.first_seen == pytest.approx(1 / FPS)  # confirmed on its second frame
    assert track.last_seen == pytest.approx(11 / FPS)
    assert [p.t for p in track.points] == pytest.approx([n / FPS for n in range(6, 12)])
    assert track.points[-1].anchor == pytest.approx((210.0, 300.0))
    assert track.points[-1].xyxy == pytest.approx((190.0, 220.0, 230.0, 300.0))


def test_frames_dropped_by_a_slow_detector_do_not_break_tracks() -> None:
    # Timestamps carry the gap: 5 fps nominal, but frames 3..6 never analysed.
    tracker = Tracker(tracker_config({"fps": FPS}))
    ids: set[int] = set()
    for n in [0, 1, 2, 7, 8, 9, 10]:
        tracked = tracker.update(frame_detections([(1, (100 + 12 * n, 300), "person")]), n / FPS)
        assert tracked.tracker_id is not None
        ids |= set(tracked.tracker_id.tolist())
    assert len(ids) == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "deepsort"}, "type"),
        ({"lost_track_s": -1}, "lost_track_s"),
        ({"fps": 0}, "fps"),
        ({"minimum_iou": 1.5}, "minimum_iou"),
        ({"type": "sort", "high_conf_threshold": 0.5}, "high_conf_threshold"),
    ],
)
def test_bad_tracker_config_is_refused_naming_the_field(
    data: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        tracker_config(data)


def test_tracker_config_defaults_to_bytetrack() -> None:
    assert isinstance(tracker_config(), ByteTrackConfig)
    assert isinstance(tracker_config({"fps": 10}), ByteTrackConfig)


def test_line_crossings_counted_from_tracks() -> None:
    line = CrossingLine(start=(0.1, 0.5), end=(0.9, 0.5))  # left to right: "in" is downwards
    counter = LineCounter(line)
    tracker = Tracker(tracker_config({"fps": FPS}))
    crossings = []
    for n in range(16):
        objects = [
            (1, (150, 120 + 20 * n), "person"),  # walks down through the line
            (2, (320, 100 + 22 * n), "person"),  # walks down through the line
            (3, (500, 450 - 20 * n), "car"),  # drives up through the line
            (4, (600, 100 + 20 * n), "person"),  # passes beyond the line's end (x > 0.9)
        ]
        tracked = tracker.update(frame_detections(objects), n / FPS)
        assert tracked.tracker_id is not None
        names = tracked.data["class_name"].tolist()
        anchors = anchor_points(tracked.xyxy, FRAME)
        crossings += counter.update(tracked.tracker_id.tolist(), names, anchors)
    assert sorted((name, str(d)) for _, name, d in crossings) == [
        ("car", "out"),
        ("person", "in"),
        ("person", "in"),
    ]
    assert counter.counts["person"][Direction.IN] == 2
    assert counter.counts["car"][Direction.OUT] == 1


def _mot_gt(path: Path) -> dict[int, list[tuple[int, float, float, float, float]]]:
    """gt.txt as frame -> [(id, x1, y1, x2, y2)]; frame numbers from 1."""
    frames: dict[int, list[tuple[int, float, float, float, float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        f, i, x, y, w, h, *_ = line.split(",")
        x1, y1 = float(x), float(y)
        frames[int(f)].append((int(i), x1, y1, x1 + float(w), y1 + float(h)))
    return frames


@pytest.mark.skipif(not TUD.is_dir(), reason="needs ../shared/media/mot15-tud")
@pytest.mark.parametrize("sequence", ["TUD-Campus", "TUD-Stadtmitte"])
def test_real_trajectories_give_about_as_many_tracks_as_people(sequence: str) -> None:
    # The ground truth's own boxes, with a fifth dropped and jitter added, stand in for a
    # detector: real walking paths and occlusions at Vigil's 5 fps.
    gt = _mot_gt(TUD / sequence / "gt" / "gt.txt")
    people = {row[0] for rows in gt.values() for row in rows}
    rng = np.random.default_rng(3)
    tracker = Tracker(tracker_config({"fps": FPS}))
    seen: set[int] = set()
    for f in range(1, max(gt) + 1, 5):
        rows = [r for r in gt.get(f, []) if rng.random() > 0.2]
        boxes = np.array([r[1:] for r in rows]).reshape(-1, 4) + rng.normal(0, 2, (len(rows), 4))
        tracked = tracker.update(
            make_detections(boxes, np.full(len(rows), 0.8), [0] * len(rows)), f / 25
        )
        assert tracked.tracker_id is not None
        seen |= set(tracked.tracker_id.tolist())
    assert len(people) / 2 <= len(seen) <= len(people) * 2, (len(seen), len(people))


MODELS = TUD.parents[1] / "models"


@pytest.mark.skipif(
    not (TUD.is_dir() and (MODELS / "centernet.onnx").is_file()),
    reason="needs ../shared/media/mot15-tud and ../shared/models/centernet.onnx",
)
def test_detected_people_on_tud_campus_get_about_as_many_tracks_as_people() -> None:
    import av

    from vigil.analytics.detectors import create_detector

    detector = create_detector(
        {"type": "centernet", "score_threshold": 0.1, "classes": ["person"]}, models_dir=MODELS
    )
    people = {
        row[0] for rows in _mot_gt(TUD / "TUD-Campus" / "gt" / "gt.txt").values() for row in rows
    }
    tracker = Tracker(tracker_config({"fps": FPS}))
    seen: set[int] = set()
    with av.open(str(TUD / "TUD-Campus" / "TUD-Campus.mp4")) as video:
        for n, frame in enumerate(video.decode(video=0)):
            if n % 5:
                continue  # Vigil's 5 fps out of 25
            tracked = tracker.update(detector.detect(frame.to_ndarray(format="bgr24")), n / 25)
            assert tracked.tracker_id is not None
            seen |= set(tracked.tracker_id.tolist())
    assert len(people) / 2 <= len(seen) <= len(people) * 2, (len(seen), len(people))

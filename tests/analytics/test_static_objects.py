"""The static-foreground model on generated scenes: what is set down and stays is an item,
what moves or comes and goes is not, and the detector's boxes keep theirs."""

from __future__ import annotations

import numpy as np

from vigil.analytics.classes import ITEM_CLASS
from vigil.analytics.detections import CLASS_NAME, empty_detections, make_detections
from vigil.analytics.static_objects import StaticObjects, with_items

FPS = 5
H, W = 90, 160
BAG = (slice(60, 75), slice(100, 112))  # rows, columns of a bag on the floor


def noisy(rng: np.random.Generator, scene: np.ndarray) -> np.ndarray:
    """The scene as a camera sees it: sensor noise on every frame."""
    return np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)


def person_at(scene: np.ndarray, x: int) -> np.ndarray:
    frame = scene.copy()
    frame[20:80, x : x + 15] = 30
    return frame


EPOCH_S = 1.8e9  # frames are timed in seconds since the epoch, as a camera's are


def run(model: StaticObjects, frames: list[np.ndarray], start: float = 0.0) -> list[int]:
    """Feed frames at FPS from ``start``; the number of items after each."""
    counts = []
    for i, frame in enumerate(frames):
        model.update(frame, EPOCH_S + start + i / FPS)
        counts.append(len(model.boxes))
    return counts


def test_a_bag_set_down_is_an_item_once_it_has_stayed_and_where_it_lies() -> None:
    rng = np.random.default_rng(1)
    empty = np.full((H, W), 120.0)
    with_bag = empty.copy()
    with_bag[BAG] = 200
    model = StaticObjects(settle_s=2.0)
    assert set(run(model, [noisy(rng, empty) for _ in range(10 * FPS)])) == {0}
    counts = run(model, [noisy(rng, with_bag) for _ in range(10 * FPS)], start=10.0)
    # Not while it is new (the short background has not taken it in), then found for good.
    assert counts[: 2 * FPS] == [0] * (2 * FPS)
    assert set(counts[4 * FPS :]) == {1}
    x1, y1, x2, y2 = model.boxes[0]
    # Where it lies (the blur grows it by a pixel or two).
    assert abs(x1 * W - 100) <= 3 and abs(x2 * W - 112) <= 3
    assert abs(y1 * H - 60) <= 3 and abs(y2 * H - 75) <= 3


def test_someone_walking_through_or_who_stood_a_minute_and_left_is_no_item() -> None:
    rng = np.random.default_rng(2)
    empty = np.full((H, W), 120.0)
    model = StaticObjects(settle_s=2.0)
    run(model, [noisy(rng, empty) for _ in range(5 * FPS)])
    walking = [noisy(rng, person_at(empty, 5 + 2 * i)) for i in range(60)]
    assert set(run(model, walking, start=5.0)) == {0}
    # Someone stands for a minute (a track's box covers them: see with_items), then goes.
    standing = [noisy(rng, person_at(empty, 70)) for _ in range(60 * FPS)]
    run(model, standing, start=17.0)
    after = run(model, [noisy(rng, empty) for _ in range(10 * FPS)], start=77.0)
    assert set(after) == {0}, "where they stood is not left behind as an item"


def test_a_change_of_the_whole_scene_is_no_item() -> None:
    rng = np.random.default_rng(3)
    model = StaticObjects(settle_s=2.0)
    run(model, [noisy(rng, np.full((H, W), 80.0)) for _ in range(5 * FPS)])
    lit = run(model, [noisy(rng, np.full((H, W), 180.0)) for _ in range(10 * FPS)], start=5.0)
    assert set(lit) == {0}, "the lights went on"


def test_items_that_a_detection_covers_are_left_to_it() -> None:
    size = (1600, 900)
    items = np.array([[0.1, 0.1, 0.2, 0.2], [0.6, 0.6, 0.65, 0.7]], np.float32)
    person = make_detections([[140, 80, 340, 400]], [0.9], [0])  # covers the first item
    merged = with_items(person, items, size)
    assert list(merged.data[CLASS_NAME]) == ["person", ITEM_CLASS]
    np.testing.assert_allclose(merged.xyxy[1], [960, 540, 1040, 630])
    assert merged.confidence is not None and merged.confidence[1] > 0.5
    alone = with_items(empty_detections(), items, size)
    assert list(alone.data[CLASS_NAME]) == [ITEM_CLASS, ITEM_CLASS]
    assert with_items(person, np.empty((0, 4), np.float32), size) is person

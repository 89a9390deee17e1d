"""Detector plugins: registry, configuration, errors, the classical fallback, real models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from supervision import box_iou_batch

from vigil.analytics.detections import Detections
from vigil.analytics.detectors import (
    DetectorUnavailable,
    UnknownDetector,
    create_detector,
    known_detectors,
    load_errors,
    parse_detector_config,
)
from vigil.analytics.detectors.centernet import CenterNetConfig
from vigil.analytics.detectors.motion import MotionConfig, MotionDetector
from vigil.analytics.detectors.onnx_model import tile_windows
from vigil.config import Settings

SHARED = Path(__file__).resolve().parents[3] / "shared"
MODELS = SHARED / "models"
NGSIM = SHARED / "media" / "ngsim-us101" / "Sequence2"
needs_models = pytest.mark.skipif(
    not (MODELS / "centernet.onnx").is_file(), reason="needs ../shared/models"
)


def test_builtin_detectors_are_registered() -> None:
    assert {"centernet", "nanodet", "motion"} <= set(known_detectors())
    assert load_errors() == {}


def test_config_type_selects_schema_and_class(tmp_path: Path) -> None:
    config = parse_detector_config({"type": "centernet", "tiles": 2})
    assert isinstance(config, CenterNetConfig)
    assert (config.model, config.tiles) == ("centernet.onnx", 2)
    detector = create_detector({"type": "motion", "history": 50}, models_dir=tmp_path)
    assert isinstance(detector, MotionDetector)
    assert detector.key == "motion"


def test_unknown_detector_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownDetector, match=r"unknown detector 'yolo'.*centernet.*motion"):
        create_detector({"type": "yolo"}, models_dir=tmp_path)
    with pytest.raises(UnknownDetector, match="needs a 'type'"):
        parse_detector_config({"tiles": 2})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tiles": 9}, "tiles"),
        ({"classes": ["car", "spaceship"]}, "spaceship"),
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"colour": "red"}, "colour"),
        ({"class_thresholds": {"spaceship": 0.2}}, "spaceship"),
        ({"class_thresholds": {"car": 2}}, "between 0 and 1"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_detector_config({"type": "centernet", **options})


def test_missing_model_file_gives_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DetectorUnavailable) as caught:
        create_detector({"type": "centernet"}, models_dir=tmp_path)
    text = str(caught.value)
    assert str(tmp_path / "centernet.onnx") in text
    assert "missing" in text and "vigil models install" in text


@pytest.mark.parametrize("key", ["centernet", "nanodet"])
def test_corrupt_model_file_gives_clear_error(tmp_path: Path, key: str) -> None:
    (tmp_path / f"{key}.onnx").write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(DetectorUnavailable) as caught:
        create_detector({"type": key}, models_dir=tmp_path)
    text = str(caught.value)
    assert f"{key}.onnx" in text and "cannot be loaded" in text and "vigil models install" in text


@needs_models
def test_another_model_under_the_expected_name_is_refused(tmp_path: Path) -> None:
    shutil.copy(MODELS / "nanodet.onnx", tmp_path / "centernet.onnx")
    with pytest.raises(DetectorUnavailable, match="another model"):
        create_detector({"type": "centernet"}, models_dir=tmp_path)


def test_models_dir_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(data_dir=tmp_path).models_dir == (tmp_path / "models").resolve()
    monkeypatch.setenv("VIGIL_ANALYTICS__MODELS_DIR", str(tmp_path / "elsewhere"))
    assert Settings(data_dir=tmp_path).models_dir == (tmp_path / "elsewhere").resolve()


@pytest.mark.parametrize(("size", "tiles"), [((640, 480), 2), ((1920, 1080), 3), ((500, 300), 1)])
def test_tiles_cover_the_frame_and_overlap(size: tuple[int, int], tiles: int) -> None:
    width, height = size
    windows = tile_windows(width, height, tiles, 0.25)
    assert len(windows) == tiles * tiles
    covered = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in windows:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    if tiles > 1:
        (ax0, _, ax1, _), (bx0, _, _, _) = windows[:2]
        assert ax1 - bx0 == pytest.approx(0.25 * (ax1 - ax0), abs=1)


def moving_square_frames(count: int) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """A noisy static background with a 40 px square moving right: frames and its box."""
    rng = np.random.default_rng(7)
    background = rng.integers(60, 120, (240, 320, 3), dtype=np.uint8)
    frames = []
    for i in range(count):
        frame = background.copy()
        frame += rng.integers(0, 4, frame.shape, dtype=np.uint8)  # sensor noise
        x, y = 20 + 6 * i, 100
        frame[y : y + 40, x : x + 40] = (230, 230, 230)
        frames.append((frame, (x, y, x + 40, y + 40)))
    return frames


def test_motion_detector_finds_a_moving_object(tmp_path: Path) -> None:
    detector = create_detector(MotionConfig(type="motion", history=50), models_dir=tmp_path)
    found = Detections.empty()
    frames = moving_square_frames(30)
    for frame, _ in frames:
        found = detector.detect(frame)
    assert len(found) == 1
    iou = box_iou_batch(found.xyxy, np.array([frames[-1][1]], dtype=np.float32))
    assert iou[0, 0] > 0.6
    assert found.data["class_name"].tolist() == ["object"]


def test_motion_detector_ignores_a_still_scene(tmp_path: Path) -> None:
    detector = create_detector({"type": "motion"}, models_dir=tmp_path)
    frame = moving_square_frames(1)[0][0]
    results = [detector.detect(frame) for _ in range(20)]
    assert len(results[-1]) == 0


def ngsim_frame(index: int) -> tuple[np.ndarray, np.ndarray]:
    """An NGSIM frame and its GT vehicle boxes (xyxy)."""
    gt = json.loads((NGSIM / "annotations/GT.json").read_text())
    image = gt["images"][index]
    boxes = np.array(
        [a["bbox"] for a in gt["annotations"] if a["image_id"] == image["id"]], dtype=np.float32
    )
    boxes[:, 2:] += boxes[:, :2]
    return cv2.imread(str(NGSIM / "images/test" / image["file_name"])), boxes


@needs_models
@pytest.mark.skipif(not NGSIM.is_dir(), reason="needs ../shared/media/ngsim-us101")
@pytest.mark.parametrize(
    "config",
    [
        {"type": "centernet", "tiles": 2, "score_threshold": 0.12},
        {"type": "nanodet", "tiles": 2, "score_threshold": 0.2},  # int8 (the default)
        {"type": "nanodet", "tiles": 2, "score_threshold": 0.2, "int8": False},
        {"type": "nanodet", "tiles": 2, "score_threshold": 0.2, "input_size": 512},
        {"type": "centernet"},
    ],
)
def test_real_model_finds_cars_on_ngsim(config: dict[str, object]) -> None:
    frame, truth = ngsim_frame(0)
    detector = create_detector(config, models_dir=MODELS)
    found = detector.detect(frame)
    assert len(found) > 0
    assert set(found.data["class_name"]) <= {"car", "truck", "bus", "motorcycle", "person"}
    vehicles = found[np.isin(found.data["class_name"], ["car", "truck", "bus"])]
    matched = (box_iou_batch(vehicles.xyxy, truth).max(axis=1) >= 0.5).sum()
    # Most of what is found is a GT car; tiles find a good share of the 26 cars.
    assert matched >= 0.6 * len(vehicles)
    if config.get("tiles"):
        assert matched >= 0.5 * len(truth)
    assert found.xyxy.min() >= 0 and found.xyxy[:, 2].max() <= frame.shape[1]


@needs_models
@pytest.mark.skipif(not NGSIM.is_dir(), reason="needs ../shared/media/ngsim-us101")
@pytest.mark.parametrize("int8", [True, False])
def test_nanodet_at_a_wide_aspect_maps_boxes_back_to_the_frame(int8: bool) -> None:
    """A 640 x 200 strip of the road runs as 416 x 128 (not squashed to a square): the cars
    found there must still land on the ground truth in the strip's own pixels."""
    frame, truth = ngsim_frame(0)
    top, bottom = 180, 380
    strip = np.ascontiguousarray(frame[top:bottom])
    inside = truth[(truth[:, 1] >= top) & (truth[:, 3] <= bottom)] - [0, top, 0, top]
    assert len(inside) >= 5
    detector = create_detector(
        {"type": "nanodet", "int8": int8, "score_threshold": 0.2}, models_dir=MODELS
    )
    found = detector.detect(strip)
    vehicles = found[np.isin(found.data["class_name"], ["car", "truck", "bus"])]
    assert len(vehicles) > 0
    matched = (box_iou_batch(vehicles.xyxy, inside).max(axis=1) >= 0.5).sum()
    assert matched >= 0.6 * len(vehicles)


@needs_models
@pytest.mark.skipif(not NGSIM.is_dir(), reason="needs ../shared/media/ngsim-us101")
def test_a_class_keeps_its_own_minimum_score() -> None:
    """NanoDet keeps vehicles from 0.25 by default (chosen on NGSIM) and people from 0.35;
    a class's own threshold overrides the general one in both directions."""
    frame, _ = ngsim_frame(0)
    by_default = create_detector({"type": "nanodet"}, models_dir=MODELS).detect(frame)
    general = create_detector(
        {"type": "nanodet", "class_thresholds": {}}, models_dir=MODELS
    ).detect(frame)
    assert by_default.confidence is not None and general.confidence is not None
    cars = by_default.data["class_name"] == "car"
    assert cars.sum() > (general.data["class_name"] == "car").sum(), "distant cars from 0.25"
    assert by_default.confidence[cars].min() >= 0.25
    assert general.confidence.min() >= 0.35
    strict = create_detector(
        {"type": "nanodet", "score_threshold": 0.1, "class_thresholds": {"car": 0.9}},
        models_dir=MODELS,
    ).detect(frame)
    assert strict.confidence is not None
    assert (strict.confidence[strict.data["class_name"] == "car"] >= 0.9).all()

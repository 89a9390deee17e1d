"""Dominant colour of object crops: synthetic colours, background, and real cars."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from vigil.analytics.colour import COLOURS, dominant_colour

MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
CARS_VIDEO = MEDIA / "intel-sample-videos" / "car-detection.mp4"
ALPR = MEDIA / "openalpr-eu" / "eu"


def solid(bgr: tuple[int, int, int], shape: tuple[int, int] = (128, 64)) -> npt.NDArray[np.uint8]:
    crop = np.zeros((*shape, 3), np.uint8)
    crop[:] = bgr
    return crop


@pytest.mark.parametrize(
    ("bgr", "name"),
    [
        ((10, 10, 10), "black"),
        ((245, 245, 245), "white"),
        ((128, 128, 128), "grey"),
        ((192, 192, 192), "grey"),  # silver
        ((30, 30, 200), "red"),
        ((0, 0, 128), "red"),  # maroon
        ((0, 140, 255), "orange"),
        ((0, 220, 230), "yellow"),
        ((40, 160, 40), "green"),
        ((0, 100, 0), "green"),  # dark green
        ((200, 80, 20), "blue"),
        ((128, 0, 0), "blue"),  # navy
        ((140, 40, 120), "purple"),
        ((128, 0, 128), "purple"),
        ((180, 105, 255), "pink"),  # hot pink
        ((193, 182, 255), "pink"),  # light pink
        ((30, 70, 120), "brown"),
        ((19, 69, 139), "brown"),  # saddle brown
    ],
)
def test_solid_colours_are_named(bgr: tuple[int, int, int], name: str) -> None:
    assert dominant_colour(solid(bgr)) == name


@pytest.mark.parametrize("background", [(128, 128, 128), (40, 160, 40), (240, 240, 240)])
def test_object_in_the_middle_wins_over_background(background: tuple[int, int, int]) -> None:
    # A person box: the red coat fills the middle, the box's edges show the street.
    crop = solid(background)
    crop[24:104, 16:48] = (30, 30, 200)
    assert dominant_colour(crop) == "red"


def test_paint_wins_over_dark_glass_and_tyres() -> None:
    crop = solid((200, 80, 20))  # blue body...
    crop[30:60, 8:56] = (25, 25, 25)  # ...with a dark windscreen
    crop[100:128, :] = (15, 15, 15)  # ...and its shadow
    assert dominant_colour(crop) == "blue"


def test_noise_does_not_change_the_name() -> None:
    rng = np.random.default_rng(1)
    crop = solid((40, 160, 40)).astype(np.int16) + rng.integers(-25, 25, (128, 64, 3))
    assert dominant_colour(np.clip(crop, 0, 255).astype(np.uint8)) == "green"


def test_any_size_crop_is_named_from_the_palette() -> None:
    rng = np.random.default_rng(2)
    for shape in [(2, 2), (3, 500), (720, 1280)]:
        crop = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        assert dominant_colour(crop) in COLOURS


@pytest.mark.parametrize(
    "crop",
    [
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((64, 64), np.uint8),  # not a colour image
        np.zeros((64, 64, 3), np.float32),
    ],
)
def test_crops_that_cannot_tell_give_none(crop: npt.NDArray[np.uint8]) -> None:
    assert dominant_colour(crop) is None


def _video_frame(index: int) -> npt.NDArray[np.uint8]:
    import av

    with av.open(str(CARS_VIDEO)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
    raise AssertionError(f"{CARS_VIDEO} has no frame {index}")


@pytest.mark.skipif(not CARS_VIDEO.is_file(), reason="needs ../shared/media/intel-sample-videos")
def test_real_cars_seen_from_above() -> None:
    # Boxes read off the clip by eye (768x432): a red saloon, a white saloon, a silver estate.
    frame = _video_frame(216)
    assert dominant_colour(frame[30:270, 312:462]) == "red"
    assert dominant_colour(frame[201:432, 72:237]) in {"grey", "white"}
    assert dominant_colour(_video_frame(336)[132:432, 114:300]) == "white"


@pytest.mark.skipif(not ALPR.is_dir(), reason="needs ../shared/media/openalpr-eu")
@pytest.mark.parametrize(
    ("image", "name"),
    [("test_016.jpg", "blue"), ("eu11.jpg", "black"), ("eu1.jpg", "black"), ("eu9.jpg", "grey")],
)
def test_real_cars_seen_from_behind(image: str, name: str) -> None:
    crop = cv2.imread(str(ALPR / image))
    assert crop is not None
    assert dominant_colour(np.asarray(crop, np.uint8)) == name

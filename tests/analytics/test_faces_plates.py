"""Faces (dlib) and licence plates (PP-OCR): finding, describing, reading and matching.

Plates are also tested on drawn images, so these run without ../shared; the photographs of
../shared/media (face_recognition examples, OpenALPR EU plates) add real faces and plates.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.analytics.boxes import Box
from vigil.analytics.faces import (
    SAME_PERSON_DISTANCE,
    describe_face,
    face_distance,
    find_faces,
)
from vigil.analytics.plates import (
    find_and_read_plates,
    find_plates,
    normalise_plate,
    plate_like,
    plates_match,
    read_plate,
)

SHARED_MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
FACES = SHARED_MEDIA / "face_recognition-examples" / "examples"
PLATES = SHARED_MEDIA / "openalpr-eu" / "eu"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="needs ../shared/media")
needs_plates = pytest.mark.skipif(not PLATES.is_dir(), reason="needs ../shared/media")

PLATE_TEXT = "AB 123 CD"


def draw_plate(text: str = PLATE_TEXT) -> np.ndarray:
    """A white 170 x 40 plate with a black border and ``text``, like a European plate."""
    plate = np.full((40, 170, 3), 255, np.uint8)
    cv2.rectangle(plate, (0, 0), (169, 39), (0, 0, 0), 2)
    cv2.putText(plate, text, (8, 30), cv2.FONT_HERSHEY_DUPLEX, 0.95, (0, 0, 0), 2, cv2.LINE_AA)
    return plate


def street(seed: int = 1) -> np.ndarray:
    """A 640 x 360 frame of smooth noise (texture without text)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (45, 80, 3), dtype=np.uint8)
    return cv2.resize(noise, (640, 360), interpolation=cv2.INTER_CUBIC)


def frame_with_plate(x: int = 200, y: int = 220) -> tuple[np.ndarray, Box]:
    frame = street()
    plate = draw_plate()
    frame[y : y + plate.shape[0], x : x + plate.shape[1]] = plate
    return frame, Box(x, y, x + plate.shape[1], y + plate.shape[0])


# Matching and normalising -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("AB 123 CD", "ab-123-cd", True),
        ("AB123CD", "A8123CD", True),  # B read as 8
        ("BA302OZ", "BA3020Z", True),  # O read as 0
        ("RK101AI", "RK101A1", True),  # I read as 1
        ("AB123CD", "AB124CD", False),  # 3 and 4 are not confused
        ("AB123CD", "A8I23CD", False),  # two confusions
        ("AB123CD", "AB123C", False),  # a character missing
        ("", "", False),
    ],
)
def test_plates_match_tolerates_one_ocr_confusion(a: str, b: str, same: bool) -> None:
    assert plates_match(a, b) is same
    assert plates_match(b, a) is same


def test_normalise_and_plate_like() -> None:
    assert normalise_plate(" wa-566.60 ") == "WA56660"
    assert plate_like("WA56660") and plate_like("M5XSX")
    assert not plate_like("RENAULT"), "no digit: a badge, not a plate"
    assert plate_like("GWAGEN", on_vehicle=True), "on a vehicle a vanity plate counts"
    assert not plate_like("123"), "too short"
    assert not plate_like("12345678901"), "too long"


# Boxes --------------------------------------------------------------------------------------
def test_box_padding_overlap_and_interpolation() -> None:
    box = Box(10, 20, 50, 60)
    assert box.pad(0.5, 100, 100) == Box(0, 0, 70, 80)
    assert box.pad(0.25, 1000, 1000, top=0.5) == Box(0, 0, 60, 70)
    assert Box.around(0.4, 0.6, 9.2, 9.9, 8, 100) == Box(0, 0, 8, 10), "outwards, clipped"
    assert box.iou(box) == 1.0 and box.iou(Box(50, 60, 90, 90)) == 0.0
    assert box.lerp(Box(30, 20, 70, 60), 0.5, 100, 100) == Box(20, 20, 60, 60)
    assert Box(5, 5, 5, 9).empty and Box(0, 0, 4, 4).area == 16


# Plates on drawn images -----------------------------------------------------------------------
def test_a_drawn_plate_is_found_and_read() -> None:
    frame, truth = frame_with_plate()
    found = find_plates(frame)
    assert len(found) == 1, found
    assert found[0].iou(truth) > 0.5, (found, truth)
    assert read_plate(frame, found[0]) == "AB123CD"
    assert read_plate(frame, truth) == "AB123CD", "a drawn box reads as well"
    reads = find_and_read_plates(frame)
    assert [r.text for r in reads] == ["AB123CD"] and reads[0].score > 0.8


def test_plates_are_searched_only_in_the_vehicles_given() -> None:
    frame, truth = frame_with_plate(x=60, y=40)
    car = Box(truth.x1 - 40, truth.y1 - 30, truth.x2 + 40, truth.y2 + 20)
    assert find_plates(frame, []) == [], "no vehicle: nothing searched"
    elsewhere = find_plates(frame, [Box(400, 200, 600, 350)])
    assert elsewhere == []
    on_car = find_plates(frame, [car])
    assert len(on_car) == 1 and on_car[0].iou(truth) > 0.5


def test_a_clock_and_plain_words_are_not_plates() -> None:
    frame = street(2)
    cv2.putText(frame, "12:34:56", (20, 60), cv2.FONT_HERSHEY_DUPLEX, 1.2, (255, 255, 255), 2)
    cv2.putText(frame, "BAKERY", (300, 300), cv2.FONT_HERSHEY_DUPLEX, 1.2, (255, 255, 255), 2)
    assert find_plates(frame) == []
    assert read_plate(frame, Box(0, 0, 4, 3)) is None, "too small to hold anything"


def test_bad_frames_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        find_plates(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        find_faces(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="128 values"):
        face_distance(np.zeros(128), np.zeros(64))


# Real photographs ---------------------------------------------------------------------------
@needs_faces
@pytest.mark.parametrize(
    ("name", "faces"),
    [
        ("obama.jpg", 1),
        ("two_people.jpg", 2),
        ("knn_examples/test/kit_with_rose.jpg", 2),
        ("obama-240p.jpg", 1),
    ],
)
def test_faces_are_found_in_photographs(name: str, faces: int) -> None:
    image = cv2.imread(str(FACES / name))
    found = find_faces(image)
    assert len(found) == faces, found
    height, width = image.shape[:2]
    assert all(0 <= b.x1 < b.x2 <= width and 0 <= b.y1 < b.y2 <= height for b in found)


@needs_faces
def test_descriptors_tell_people_apart() -> None:
    def descriptor(name: str) -> np.ndarray:
        image = cv2.imread(str(FACES / name))
        (box,) = find_faces(image)
        vector = describe_face(image, box)
        assert vector.shape == (128,) and vector.dtype == np.float32
        return vector

    obama, obama2, biden = (
        descriptor("obama.jpg"),
        descriptor("obama2.jpg"),
        descriptor("biden.jpg"),
    )
    assert face_distance(obama, obama) == 0.0
    assert face_distance(obama, obama2) < SAME_PERSON_DISTANCE
    assert face_distance(obama, biden) > SAME_PERSON_DISTANCE
    with pytest.raises(ValueError, match="empty box"):
        describe_face(cv2.imread(str(FACES / "obama.jpg")), Box(5, 5, 5, 5))


def _alpr_truth(name: str) -> tuple[Box, str]:
    parts = (PLATES / f"{Path(name).stem}.txt").read_text().split()
    x, y, w, h = (int(v) for v in parts[1:5])
    return Box(x, y, x + w, y + h), parts[5]


@needs_plates
@pytest.mark.parametrize("name", ["eu1.jpg", "eu3.jpg", "test_067.jpg", "test_080.jpg"])
def test_plates_are_found_and_read_in_photographs(name: str) -> None:
    image = cv2.imread(str(PLATES / name))
    truth, text = _alpr_truth(name)
    found = find_plates(image)
    best = max(found, key=truth.iou, default=None)
    assert best is not None and best.iou(truth) > 0.4, (found, truth)
    reading = read_plate(image, best)
    assert reading is not None and plates_match(reading, text), (reading, text)

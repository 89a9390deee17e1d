"""``vigil plates read`` and ``vigil faces find/compare`` on image files: what scripts get with
``--json``, and a clear error for a file that is no image (the others are still done)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.analytics.test_faces_plates import (
    FACES,
    PLATES,
    frame_with_plate,
    needs_faces,
    needs_plates,
)
from vigil.cli import app

runner = CliRunner()


def vigil(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_plates_read_prints_each_image_s_plates_and_names_an_unreadable_one(
    tmp_path: Path,
) -> None:
    frame, truth = frame_with_plate()
    cv2.imwrite(str(tmp_path / "car.png"), frame)
    (tmp_path / "notes.jpg").write_text("not an image")
    code, out, err = vigil("plates", "read", "--json", str(tmp_path / "car.png"),
                           str(tmp_path / "notes.jpg"))  # fmt: skip
    assert code == 1, "one image failed"
    car, notes = json.loads(out)
    assert car["image"].endswith("car.png") and car["error"] is None
    (plate,) = car["plates"]
    assert plate["text"] == "AB123CD" and plate["confidence"] > 0.8
    x1, y1, x2, y2 = plate["box"]
    assert abs(x1 - truth.x1) < 12 and abs(y1 - truth.y1) < 12
    assert abs(x2 - truth.x2) < 12 and abs(y2 - truth.y2) < 12
    assert notes["plates"] == [] and "not an image OpenCV can read" in notes["error"]

    code, out, err = vigil("plates", "read", str(tmp_path / "car.png"), str(tmp_path / "gone.jpg"))
    assert code == 1
    assert "AB123CD" in out and "gone.jpg: no such file" in err


@needs_plates
def test_plates_read_on_a_real_photo() -> None:
    code, out, _ = vigil("plates", "read", "--json", str(PLATES / "eu1.jpg"))
    assert code == 0
    ((found,),) = [image["plates"] for image in json.loads(out)]
    assert found["text"] == (PLATES / "eu1.txt").read_text().split()[-1]


@needs_faces
@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("obama.jpg", "obama2.jpg", True), ("obama.jpg", "biden.jpg", False)],
)
def test_faces_compare_says_whether_two_images_show_one_person(a: str, b: str, same: bool) -> None:
    code, out, _ = vigil("faces", "compare", "--json", str(FACES / a), str(FACES / b))
    assert code == 0
    answer = json.loads(out)
    assert answer["same_person"] is same
    assert (answer["distance"] < answer["threshold"]) is same
    assert [i["faces"] for i in answer["images"]] == [1, 1]


@needs_faces
def test_faces_find_and_an_image_without_a_face(tmp_path: Path) -> None:
    code, out, _ = vigil("faces", "find", "--json", str(FACES / "two_people.jpg"))
    assert code == 0
    assert len(json.loads(out)[0]["faces"]) == 2
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((300, 300, 3), 200, np.uint8))
    code, _, err = vigil("faces", "compare", str(FACES / "obama.jpg"), str(tmp_path / "wall.png"))
    assert code == 1 and "wall.png: no face found" in err

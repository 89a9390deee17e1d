"""Generated footage for data-subject searches: testsrc2 with a drawn licence plate, or a
photo of a face pasted in, shown only between two moments of the clip."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

Image = npt.NDArray[np.uint8]
FPS = 25
SECONDS = 6
SHOWN = (2.0, 4.0)  # the subject is in the picture from 2 s to 4 s of the clip
PLATE = "KA 482 BX"
MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
FACES_DIR = MEDIA / "face_recognition-examples" / "examples"


def shared_face(name: str) -> Path:
    """A photo from ../shared/media; the test skips where it is absent (CI without shared/)."""
    path = FACES_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} not present (../shared/media is optional)")
    return path


def clip(path: Path, draw: Callable[[Image], None], *, shown: tuple[float, float] = SHOWN) -> Path:
    """A 6 s 640x360 H.264 clip of testsrc2 (a keyframe a second, no B-frames), with ``draw``
    applied to the frames between ``shown[0]`` and ``shown[1]`` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = f"testsrc2=size=640x360:rate={FPS}:duration={SECONDS}"
    with av.open(source, format="lavfi") as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"g": str(FPS), "keyint_min": str(FPS), "sc_threshold": "0"}
        stream.options |= {"bf": "0", "preset": "ultrafast"}
        for index, frame in enumerate(src.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            if shown[0] <= index / FPS < shown[1]:
                draw(image)
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts = index
            out.mux(stream.encode(picture))
        out.mux(stream.encode())
    return path


def draw_plate(text: str = PLATE) -> Callable[[Image], None]:
    """A white plate with black letters in the lower middle of the frame."""

    def draw(image: Image) -> None:
        x, y = 200, 220
        cv2.rectangle(image, (x, y), (x + 240, y + 56), (255, 255, 255), -1)
        cv2.rectangle(image, (x, y), (x + 240, y + 56), (0, 0, 0), 3)
        cv2.putText(image, text, (x + 14, y + 42), cv2.FONT_HERSHEY_DUPLEX, 1.3, (0, 0, 0), 3)

    return draw


def draw_photo(photo: Path, width: int = 200) -> Callable[[Image], None]:
    """A photo (a face), scaled to ``width`` pixels, pasted top right."""
    picture = cv2.imread(os.fspath(photo))
    assert picture is not None, photo
    height = round(width * picture.shape[0] / picture.shape[1])
    small = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)[:300]

    def draw(image: Image) -> None:
        image[40 : 40 + small.shape[0], 400 : 400 + width] = small

    return draw

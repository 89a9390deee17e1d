"""Licence plates: where they are in a frame, what they say, and whether two reads agree.

Offline, with the PP-OCRv4 text detector (DB) and recogniser that ``rapidocr-onnxruntime``
ships inside its wheel (onnxruntime, CPU). There is no plate-specific model: a plate is a text
line of plate-like shape whose reading looks like a registration (`plate_like`). Text lines
are searched in vehicle boxes from Vigil's object detector when given (each crop enlarged so
that a distant car's plate is tall enough to read), else in the whole frame.

Example:
    >>> frame = cv2.imread("car.jpg")
    >>> [(p.box, p.text) for p in find_and_read_plates(frame)]
    [(Box(x1=396, y1=338, x2=601, y2=388), 'M5XSX')]
    >>> plates_match("BA302OZ", "BA3020Z")
    True
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vigil.analytics.boxes import Box
from vigil.domain.plates import normalise_plate, plates_match

__all__ = [
    "Box",
    "PlateRead",
    "PlatesUnavailable",
    "find_and_read_plates",
    "find_plates",
    "normalise_plate",
    "plate_like",
    "plates_match",
    "read_plate",
]

Frame = npt.NDArray[np.uint8]

FRAME_MIN_SIDE = 480
"""A whole frame is searched with its short side enlarged to at least this (a 640 x 360
frame by 4/3). On the OpenALPR EU set 480 finds as many plates as the detector's own 736 in
a third of the time; small plates of distant cars are found in enlarged vehicle crops."""
MAX_SIDE = 2048
"""Larger images are searched shrunk to this long side (time grows with the area)."""
VEHICLE_MIN_WIDTH = 480
"""A vehicle crop is searched at least this wide (a plate is ~1/4 of a car's width)."""
VEHICLE_MAX_SCALE = 4.0
VEHICLE_PAD = 0.1
"""Share of a vehicle box added around it (plates sit at the box's edge)."""
READ_PAD = (0.08, 0.2)
"""Share of a plate box added left/right and top/bottom before reading it."""
MIN_TEXT_HEIGHT_PX = 6
ASPECT_RANGE = (1.2, 12.0)
"""Width / height of a plate's text line (two-line plates ~1.5, long EU plates ~5-11)."""
MIN_CHARS, MAX_CHARS = 4, 10
MIN_CHARS_ON_VEHICLE = 3
MIN_READ_SCORE = 0.5
"""The recogniser's mean confidence below which a reading is ignored."""
OCR_THREADS = 1
MAIN_LINE_SHARE = 0.6
"""Text lines of a plate at least this share of its tallest one's height are read."""


INSTALL_HINT = "install it with `pip install rapidocr-onnxruntime==1.4.4` (scripts/setup.sh)"
_CLOCK = re.compile(r"\d{1,2}\s*[:.]\s*\d{2}\s*[:.]\s*\d{2}")
"""A time of day (a camera's on-screen clock), which is not a plate however it reads."""


class PlatesUnavailable(RuntimeError):
    """The OCR package is not installed (the message says how to install it)."""


@dataclass(frozen=True)
class PlateRead:
    """A plate found in a frame and, when it could be read, its text (normalised)."""

    box: Box
    text: str | None
    score: float


class _Ocr:
    """rapidocr's text detector and recogniser (onnxruntime sessions: safe to run from several
    threads; the pre- and post-processing here keeps no state between calls)."""

    def __init__(self) -> None:
        try:
            # No type information in the package: imported by name, its objects are Any.
            main = importlib.import_module("rapidocr_onnxruntime.main")
            det = importlib.import_module("rapidocr_onnxruntime.ch_ppocr_det")
            rec = importlib.import_module("rapidocr_onnxruntime.ch_ppocr_rec")
        except ImportError as exc:
            raise PlatesUnavailable(
                f"plate reading needs rapidocr ({exc}); {INSTALL_HINT}"
            ) from exc
        config = main.update_model_path(main.read_yaml(main.DEFAULT_CFG_PATH))
        for part in ("Det", "Rec"):
            # One thread per call, as Vigil's detectors: parallel work runs side by side, and
            # onnxruntime's spinning worker threads collapse on a busy machine.
            config[part]["intra_op_num_threads"] = OCR_THREADS
            config[part]["inter_op_num_threads"] = 1
        self.det: Any = det.TextDetector(config["Det"])
        self.rec: Any = rec.TextRecognizer(config["Rec"])

    def text_lines(self, image: Frame, scale: float) -> list[npt.NDArray[np.float32]]:
        """Quadrilaterals (4 x 2, pixels of ``image``) of the text lines in ``image``, searched
        at ``scale`` times its size."""
        height, width = image.shape[:2]
        rh = max(32, round(height * scale / 32) * 32)
        rw = max(32, round(width * scale / 32) * 32)
        resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR)
        tensor = (resized.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        (probabilities,) = self.det.infer(np.ascontiguousarray(tensor))[:1]
        quads, _scores = self.det.postprocess_op(probabilities, (height, width))
        if len(quads) == 0:
            return []
        # Corners in clockwise order from the top-left, clipped to the image.
        quads = self.det.filter_tag_det_res(quads, (height, width))
        return [np.asarray(q, dtype=np.float32) for q in quads]

    def read(self, crops: list[Frame]) -> list[tuple[str, float]]:
        """Text and mean confidence of each crop (one text line each)."""
        if not crops:
            return []
        results, _elapsed = self.rec(crops)
        return [(str(text), float(score)) for text, score in results]


@cache
def _ocr() -> _Ocr:
    return _Ocr()


def plate_like(text: str, *, on_vehicle: bool = False) -> bool:
    """Whether a normalised reading looks like a registration: `MIN_CHARS`..`MAX_CHARS`
    letters and digits with at least one digit (on a vehicle, `MIN_CHARS_ON_VEHICLE` of any).
    """
    if on_vehicle and MIN_CHARS_ON_VEHICLE <= len(text) <= MAX_CHARS:
        return True
    return MIN_CHARS <= len(text) <= MAX_CHARS and any(c.isdigit() for c in text)


def _check(frame: Frame) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 BGR frame, got {frame.dtype} {frame.shape}")


def _frame_scale(width: int, height: int, min_side: int) -> float:
    scale = max(1.0, min_side / max(1, min(width, height)))
    return min(scale, MAX_SIDE / max(width, height))


def _line_height(quad: npt.NDArray[np.float32]) -> float:
    return float(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))


def _crop_line(image: Frame, quad: npt.NDArray[np.float32]) -> Frame:
    """The text line straightened (a perspective warp of its quadrilateral)."""
    w = max(1, round(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))))
    h = max(1, round(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    line = cv2.warpPerspective(image, warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(line, dtype=np.uint8)


def _lines_in(
    image: Frame, scale: float, on_vehicle: bool
) -> list[tuple[npt.NDArray[np.float32], str, float]]:
    """Plate-shaped text lines of ``image`` with their reading, plate-like ones only."""
    ocr = _ocr()
    shaped: list[npt.NDArray[np.float32]] = []
    for quad in ocr.text_lines(image, scale):
        xs, ys = quad[:, 0], quad[:, 1]
        w, h = float(xs.max() - xs.min()), float(ys.max() - ys.min())
        if (
            h >= MIN_TEXT_HEIGHT_PX / scale
            and ASPECT_RANGE[0] <= w / max(h, 1e-3) <= ASPECT_RANGE[1]
        ):
            shaped.append(quad)
    readings = ocr.read([_crop_line(image, q) for q in shaped])
    found = []
    for quad, (raw, score) in zip(shaped, readings, strict=True):
        text = normalise_plate(raw)
        if _CLOCK.search(raw):
            continue
        if score >= MIN_READ_SCORE and plate_like(text, on_vehicle=on_vehicle):
            found.append((quad, text, score))
    return found


def find_and_read_plates(
    frame_bgr: Frame, vehicles: list[Box] | None = None, *, min_side: int = FRAME_MIN_SIDE
) -> list[PlateRead]:
    """Find plates and read them in one pass (cheaper than `find_plates` + `read_plate`).

    Args:
        frame_bgr: H x W x 3 uint8 BGR image.
        vehicles: Vehicle boxes to search (from Vigil's detector); None: the whole frame;
            an empty list: nothing to search.
        min_side: A whole frame is searched enlarged until its short side is this long
            (smaller plates are found; the time grows with the area). Vehicle crops are
            enlarged by their own rule.

    Returns:
        Plates in pixels of the frame, with their normalised text, best first.

    Raises:
        PlatesUnavailable: rapidocr is not installed.
        ValueError: The frame is not an H x W x 3 uint8 image.
    """
    _check(frame_bgr)
    height, width = frame_bgr.shape[:2]
    if vehicles is None:
        regions = [(Box(0, 0, width, height), _frame_scale(width, height, min_side), False)]
    else:
        regions = []
        for vehicle in vehicles:
            region = Box(*vehicle).pad(VEHICLE_PAD, width, height)
            if region.width >= 8 and region.height >= 8:
                scale = min(VEHICLE_MAX_SCALE, max(1.0, VEHICLE_MIN_WIDTH / region.width))
                regions.append(
                    (region, min(scale, MAX_SIDE / max(region.width, region.height)), True)
                )
    found: list[PlateRead] = []
    for region, scale, on_vehicle in regions:
        crop = frame_bgr[region.y1 : region.y2, region.x1 : region.x2]
        for quad, text, score in _lines_in(crop, scale, on_vehicle):
            box = Box.around(
                float(quad[:, 0].min()) + region.x1,
                float(quad[:, 1].min()) + region.y1,
                float(quad[:, 0].max()) + region.x1 + 1,
                float(quad[:, 1].max()) + region.y1 + 1,
                width,
                height,
            )
            # Overlapping vehicle boxes find the same plate twice: keep the better reading.
            same = [i for i, p in enumerate(found) if p.box.iou(box) > 0.5]
            if same and found[same[0]].score >= score:
                continue
            if same:
                found.pop(same[0])
            found.append(PlateRead(box, text, score))
    return sorted(found, key=lambda p: -p.score)


def find_plates(frame_bgr: Frame, vehicles: list[Box] | None = None) -> list[Box]:
    """Find licence plates in a frame.

    Args:
        frame_bgr: H x W x 3 uint8 BGR image.
        vehicles: Vehicle boxes to search (from Vigil's detector); None: the whole frame.

    Returns:
        Plate boxes (the text line, tight) in pixels of the frame, best first.

    Raises:
        PlatesUnavailable: rapidocr is not installed.
        ValueError: The frame is not an H x W x 3 uint8 image.
    """
    return [p.box for p in find_and_read_plates(frame_bgr, vehicles)]


def read_plate(frame_bgr: Frame, box: Box) -> str | None:
    """Read the plate in ``box``.

    Args:
        frame_bgr: H x W x 3 uint8 BGR image.
        box: The plate's box in pixels of the frame (from `find_plates`, or drawn by a person).

    Returns:
        The normalised text (uppercase letters and digits), or None when nothing plate-like
        can be read there. Two-line plates read top line first.

    Raises:
        PlatesUnavailable: rapidocr is not installed.
        ValueError: The frame is not an H x W x 3 uint8 image.
    """
    _check(frame_bgr)
    height, width = frame_bgr.shape[:2]
    b = Box(*box)
    region = Box.around(
        b.x1 - b.width * READ_PAD[0],
        b.y1 - b.height * READ_PAD[1],
        b.x2 + b.width * READ_PAD[0],
        b.y2 + b.height * READ_PAD[1],
        width,
        height,
    )
    if region.width < 4 or region.height < 4:
        return None
    crop = frame_bgr[region.y1 : region.y2, region.x1 : region.x2]
    # Text lines inside the crop first (a loose box, a two-line plate), else the crop as one.
    scale = min(VEHICLE_MAX_SCALE, max(1.0, 96 / region.height))
    ocr = _ocr()
    quads = sorted(ocr.text_lines(crop, scale), key=lambda q: float(q[:, 1].min()))
    if quads:
        # The registration is the plate's tallest text: smaller lines are a country code,
        # a dealer's name or a sticker.
        tallest = max(_line_height(q) for q in quads)
        quads = [q for q in quads if _line_height(q) >= MAIN_LINE_SHARE * tallest]
    lines = [_crop_line(crop, q) for q in quads] or [np.ascontiguousarray(crop)]
    readings = [(normalise_plate(t), s) for t, s in ocr.read(lines) if s >= MIN_READ_SCORE]
    text = "".join(t for t, _ in readings)
    if plate_like(text, on_vehicle=True):
        return text
    return None

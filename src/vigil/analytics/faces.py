"""Faces: where they are in a frame and a 128-d descriptor to tell people apart.

Both come from dlib, offline: its HOG frontal face detector (built into dlib) and, from the
``face-recognition-models`` package, the 5-point landmark model and the ResNet face
descriptor (the 68-point model is trained on non-commercial data and is not used). The
descriptors of one person lie within `SAME_PERSON_DISTANCE` of each other (dlib's figure:
99.38 % on LFW).

HOG finds frontal and slightly turned faces of about 80 px and more in the image it is given;
frames up to `UPSAMPLE_MAX_PIXELS` are looked at twice as large, which brings that down to
about 40 px. Smaller faces need another cue (redaction blurs the heads of detected people).

Example:
    >>> frame = cv2.imread("obama.jpg")
    >>> boxes = find_faces(frame)
    >>> a = describe_face(frame, boxes[0])
    >>> face_distance(a, a)
    0.0
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vigil.analytics.boxes import Box

__all__ = [
    "DESCRIPTOR_SIZE",
    "SAME_PERSON_DISTANCE",
    "WATCHLIST_DISTANCE",
    "Box",
    "FacesUnavailable",
    "describe_face",
    "face_distance",
    "find_faces",
]

Frame = npt.NDArray[np.uint8]
Descriptor = npt.NDArray[np.float32]

DESCRIPTOR_SIZE = 128
SAME_PERSON_DISTANCE = 0.6
"""Descriptors closer than this are taken for the same person (dlib's threshold)."""
WATCHLIST_DISTANCE = 0.5
"""A face matches a watchlist entry closer than this: stricter than ``SAME_PERSON_DISTANCE``,
as an alarm about the wrong person is the failure that matters (chosen with bench/faces.py:
no false match on the shared examples, whose wrong people lie at 0.6 and more)."""
RECALL_THRESHOLD = -0.3
"""A detection score threshold that misses fewer faces (turned, blurred by motion) for the
price of a few false ones."""
UPSAMPLE_MAX_PIXELS = 1280 * 720
"""Frames up to this size are searched at twice their size (faces down to ~40 px)."""
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HINT = "install them with `pip install dlib-bin face-recognition-models` (scripts/setup.sh)"


class FacesUnavailable(RuntimeError):
    """dlib or its face models are not installed (the message says how to install them)."""


def _dlib() -> Any:
    try:
        # dlib ships no type information: imported by name, its objects are Any.
        return importlib.import_module("dlib")
    except ImportError as exc:
        raise FacesUnavailable(f"face detection needs dlib ({exc}); {INSTALL_HINT}") from exc


def _model_file(name: str) -> Path:
    # Found by location, not through the package's __init__, which imports pkg_resources
    # (gone from recent setuptools) only to compute these paths.
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise FacesUnavailable(f"dlib face model {name} is not installed; {INSTALL_HINT}")


# dlib's detectors keep scratch state per call: one per thread, not one behind a lock, so
# that several exports can look for faces at once.
_local = threading.local()


def _detector() -> Any:
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = _local.detector = _dlib().get_frontal_face_detector()
    return detector


class _Describer:
    """The landmark and descriptor models (~30 MB), loaded once, used under one lock (the
    descriptor network keeps per-call state)."""

    def __init__(self) -> None:
        dlib = _dlib()
        self.landmarks = dlib.shape_predictor(str(_model_file(LANDMARKS_FILE)))
        self.network = dlib.face_recognition_model_v1(str(_model_file(DESCRIPTOR_FILE)))
        self.rectangle = dlib.rectangle
        self.lock = threading.Lock()


@cache
def _describer() -> _Describer:
    return _Describer()


def _rgb(frame_bgr: Frame) -> Frame:
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError(
            f"expected an H x W x 3 uint8 BGR frame, got {frame_bgr.dtype} {frame_bgr.shape}"
        )
    return np.asarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def find_faces(
    frame_bgr: Frame, *, upsample: int | None = None, threshold: float = 0.0
) -> list[Box]:
    """Find faces in a frame.

    Args:
        frame_bgr: H x W x 3 uint8 BGR image.
        upsample: How many times to double the image first (None: once for frames up to
            `UPSAMPLE_MAX_PIXELS`, else not). Each doubling finds faces half as big and costs
            about four times as much.
        threshold: dlib's score a detection needs (0: its own default). Lower finds more
            faces, and more things that are not (redaction, where a miss costs more than a
            needless blur, uses `RECALL_THRESHOLD`).

    Returns:
        Face boxes in pixels of the frame (the HOG box: eyebrows to chin, ear to ear),
        best first.

    Raises:
        FacesUnavailable: dlib is not installed.
        ValueError: The frame is not an H x W x 3 uint8 image.
    """
    rgb = _rgb(frame_bgr)
    height, width = rgb.shape[:2]
    if upsample is None:
        upsample = 1 if width * height <= UPSAMPLE_MAX_PIXELS else 0
    rects, scores, _ = _detector().run(rgb, upsample, threshold)
    order = np.argsort(-np.asarray(scores, dtype=np.float64))
    found = [rects[i] for i in order]
    boxes = [
        Box.around(r.left(), r.top(), r.right() + 1, r.bottom() + 1, width, height) for r in found
    ]
    return [b for b in boxes if not b.empty]


def describe_face(frame_bgr: Frame, box: Box) -> Descriptor:
    """The 128-d descriptor of the face in ``box`` (from `find_faces`).

    Args:
        frame_bgr: H x W x 3 uint8 BGR image.
        box: The face's box in pixels of ``frame_bgr``.

    Returns:
        float32 vector of `DESCRIPTOR_SIZE`; compare two with `face_distance`.

    Raises:
        FacesUnavailable: dlib or its models are not installed.
        ValueError: The frame is not an image, or the box is empty.
    """
    if Box(*box).empty:
        raise ValueError(f"cannot describe a face in an empty box {tuple(box)}")
    rgb = _rgb(frame_bgr)
    model = _describer()
    x1, y1, x2, y2 = (int(v) for v in box)
    rect = model.rectangle(x1, y1, x2 - 1, y2 - 1)
    with model.lock:
        shape = model.landmarks(rgb, rect)
        vector = model.network.compute_face_descriptor(rgb, shape)
    return np.asarray(vector, dtype=np.float32).reshape(DESCRIPTOR_SIZE)


def face_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Euclidean distance of two face descriptors: below `SAME_PERSON_DISTANCE` means the
    same person.

    Raises:
        ValueError: The descriptors are not both of `DESCRIPTOR_SIZE`.
    """
    va = np.asarray(a, dtype=np.float64).reshape(-1)
    vb = np.asarray(b, dtype=np.float64).reshape(-1)
    if va.shape != (DESCRIPTOR_SIZE,) or vb.shape != (DESCRIPTOR_SIZE,):
        raise ValueError(
            f"face descriptors have {DESCRIPTOR_SIZE} values, got {va.size} and {vb.size}"
        )
    return float(np.linalg.norm(va - vb))

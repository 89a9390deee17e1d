"""NanoDet COCO-80 detector through onnxruntime.

The model file declares [1, 3, 416, 416] BGR input normalised by NanoDet's per-channel mean and
std, and returns two tensors per stride (8, 16, 32): class scores [1, cells, 80] (sigmoid
applied) and box distributions [1, cells, 44] = 4 sides (left, top, right, bottom) x 11 bins
(generalised focal loss). A side's distance is the expectation of its softmaxed bins times the
stride, measured from the cell's centre. Cells are row-major.

The network is fully convolutional, so it is run at the image's own aspect rather than on a
square: a 640 x 360 frame becomes 416 x 224 (each side a multiple of the largest stride), which
costs about half the CPU of 416 x 416 and does not squash the objects.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar, Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from vigil.analytics.detections import make_detections
from vigil.analytics.detectors.base import DetectorContext, Frame, register_detector
from vigil.analytics.detectors.onnx_model import (
    OnnxDetector,
    OnnxDetectorConfig,
    Raw,
    Signature,
)

INPUT_SIZE = 416
"""The input size the model file declares (its heads' shapes are read at this size)."""
DEFAULT_INPUT_SIZE = 352
"""The input's longer side by default, chosen on MOT15 TUD at 5 fps through the live
pipeline (bench/analytics.py; TUD's people are as near as a street camera's): MOTA/IDF1
288: 0.575/0.723, 320: 0.575/0.711, 352: 0.666/0.788, 384: 0.532/0.673, 416: 0.539/0.663,
448: 0.490/0.653. Distant vehicles lose: NGSIM whole-frame recall 0.57 -> 0.49 at the same
precision class (0.83 -> 0.78); a distant traffic view wants tiles or a larger input."""
"""The side of the square input the model declares (and was trained at)."""
STRIDES = (8, 16, 32)
REG_BINS = 11
NUM_CLASSES = 80
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
_NORMALISED = ((np.arange(256, dtype=np.float32)[:, None] - MEAN_BGR) / STD_BGR).T.copy()
"""[3, 256]: each channel's uint8 value, normalised."""
PRE_NMS_MIN_SCORE = 0.05
"""Cells weaker than this are not decoded at all (most of them, cheaply)."""


class NanoDetConfig(OnnxDetectorConfig):
    """Options of the NanoDet detector."""

    type: Literal["nanodet"] = "nanodet"
    model: str = "nanodet.onnx"
    score_threshold: float = Field(
        0.35, ge=0.0, le=1.0, title="Minimum score", description="drop weaker detections"
    )
    # Chosen on the shared sequences (bench/analytics.py): people at 0.35 (MOT15 TUD through
    # the live pipeline: MOTA 0.510, lower thresholds lose MOTA), vehicles at 0.25 (NGSIM
    # US-101, whole frame: recall 0.57 at precision 0.83, against 0.21 at 0.91 at 0.35).
    class_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(("car", "truck", "bus", "motorcycle"), 0.25),
        title="Minimum score by class",
        description="the minimum score for these classes instead (one 'class: score' a line)",
    )
    int8: bool = Field(
        True,
        title="int8 model",
        description="run the int8-quantised model (built from the float32 one on first load; "
        "about 2x less CPU per frame)",
    )
    input_size: int = Field(
        DEFAULT_INPUT_SIZE,
        ge=STRIDES[-1] * 4,
        le=STRIDES[-1] * 40,
        multiple_of=STRIDES[-1],
        title="Input size (px)",
        description="the model input's longer side in pixels (the shorter follows the image's "
        "aspect); smaller is faster but misses small objects",
    )


@register_detector
class NanoDetDetector(OnnxDetector):
    """NanoDet on the whole frame (or tiles), resized to `input_size` on its longer side."""

    key: ClassVar[str] = "nanodet"
    config_model: ClassVar[type[NanoDetConfig]] = NanoDetConfig
    signature: ClassVar[Signature] = Signature(
        inputs=[[1, 3, INPUT_SIZE, INPUT_SIZE]],
        outputs=[
            [1, (INPUT_SIZE // s) ** 2, k] for s in STRIDES for k in (NUM_CLASSES, 4 * REG_BINS)
        ],
        any_size=True,
    )

    def __init__(self, config: NanoDetConfig, context: DetectorContext) -> None:
        super().__init__(config, context)
        self.config: NanoDetConfig = config
        self._input = self.session.get_inputs()[0].name
        # Pair each stride's score and box outputs by the shapes the file declares (at
        # 416 x 416; the session's own are free).
        by_shape = {tuple(shape[1:]): name for name, shape in self.declared_outputs.items()}
        self._heads = [
            (by_shape[(cells, NUM_CLASSES)], by_shape[(cells, 4 * REG_BINS)], s)
            for s in STRIDES
            for cells in [(INPUT_SIZE // s) ** 2]
        ]
        # Weaker cells are dropped later anyway: not decoding them keeps NMS small.
        self._min_score = max(PRE_NMS_MIN_SCORE, config.min_score())

    def _infer(self, image: Frame) -> Raw:
        height, width = image.shape[:2]
        in_w, in_h = input_shape(width, height, self.config.input_size)
        names = [name for head in self._heads for name in head[:2]]
        feed = {self._input: preprocess(image, (in_w, in_h))}
        outputs = dict(zip(names, self.session.run(names, feed), strict=True))
        boxes, scores, classes = [], [], []
        for score_name, box_name, stride in self._heads:
            cell_scores = np.asarray(outputs[score_name])[0]
            cls = cell_scores.argmax(1)
            best = cell_scores[np.arange(len(cls)), cls]
            cells = np.flatnonzero(best >= self._min_score)
            dist = _expected_distance(np.asarray(outputs[box_name])[0, cells]) * stride
            centre = _cell_centres(in_w // stride, in_h // stride, stride)[cells]
            boxes.append(np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1))
            scores.append(best[cells])
            classes.append(cls[cells])
        scale = np.array([width / in_w, height / in_h] * 2, dtype=np.float32)
        found = make_detections(
            np.clip(np.concatenate(boxes) * scale, 0, [width, height, width, height]),
            np.concatenate(scores),
            np.concatenate(classes),
        )
        # Neighbouring cells find the same object: NanoDet needs NMS (per class, as trained).
        found = found.with_nms(self.config.nms_iou, class_agnostic=False)
        assert found.confidence is not None and found.class_id is not None
        return found.xyxy.astype(np.float32), found.confidence, found.class_id.astype(np.int64)


def input_shape(width: int, height: int, long_side: int = INPUT_SIZE) -> tuple[int, int]:
    """The model input (width, height) for an image: its longer side ``long_side``, the other
    scaled alike, each rounded to a multiple of the largest stride (at least one cell).

    Example:
        >>> input_shape(640, 360), input_shape(366, 274), input_shape(360, 640, 320)
        ((416, 224), (416, 320), (192, 320))
    """
    step = STRIDES[-1]
    scale = long_side / max(width, height)

    def side(size: int) -> int:
        return max(step, round(size * scale / step) * step)

    return side(width), side(height)


def preprocess(
    image: Frame, size: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)
) -> npt.NDArray[np.float32]:
    """A BGR frame as the model's input: [1, 3, height, width] of ``size`` (width, height),
    normalised per channel.

    A lookup table per channel (uint8 -> normalised float): about 6x faster than the same
    arithmetic in numpy on the whole image, and the same values.
    """
    width, height = size
    resized = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), np.uint8)
    tensor = np.empty((1, 3, height, width), dtype=np.float32)
    for c in range(3):
        np.take(_NORMALISED[c], resized[:, :, c], out=tensor[0, c])
    return tensor


@cache
def _cell_centres(columns: int, rows: int, stride: int) -> npt.NDArray[np.float32]:
    """Centres (x, y) of a stride's cells in input pixels, row-major (cached per size)."""
    ys, xs = np.mgrid[0:rows, 0:columns]
    return ((np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride).astype(np.float32)


def _expected_distance(dist: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Expectation over the softmaxed bins of each side: [N, 44] -> [N, 4] in strides."""
    logits = dist.reshape(-1, 4, REG_BINS)
    exp = np.exp(logits - logits.max(axis=2, keepdims=True))
    prob = exp / exp.sum(axis=2, keepdims=True)
    return np.asarray(prob @ np.arange(REG_BINS, dtype=np.float32), dtype=np.float32)

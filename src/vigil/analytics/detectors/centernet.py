"""CenterNet (MobileNetV3) COCO-80 detector through onnxruntime.

The model takes [1, 512, 512, 3] RGB 0-255 and returns its 100 best peaks as
[1, 100, 6] = x1, y1, x2, y2 (input pixels), score, class index: decoding is done in the graph.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import cv2
import numpy as np

from vigil.analytics.detectors.base import DetectorContext, Frame, register_detector
from vigil.analytics.detectors.onnx_model import (
    OnnxDetector,
    OnnxDetectorConfig,
    Raw,
    Signature,
)

INPUT_SIZE = 512
DETECTIONS_OUTPUT = "tower_0/detections"


class CenterNetConfig(OnnxDetectorConfig):
    """Options of the CenterNet detector."""

    type: Literal["centernet"] = "centernet"
    model: str = "centernet.onnx"


@register_detector
class CenterNetDetector(OnnxDetector):
    """CenterNet on the whole frame (or tiles), resized to 512 x 512."""

    key: ClassVar[str] = "centernet"
    config_model: ClassVar[type[CenterNetConfig]] = CenterNetConfig
    # Its detections output holds pixel positions of the 512 x 512 input: it stays square.
    signature: ClassVar[Signature] = Signature(
        inputs=[[1, INPUT_SIZE, INPUT_SIZE, 3]],
        outputs=[[1, 128, 128, 4], [1, 128, 128, 80], [1, 100, 6]],
    )

    def __init__(self, config: CenterNetConfig, context: DetectorContext) -> None:
        super().__init__(config, context)
        self._input = self.session.get_inputs()[0].name

    def _infer(self, image: Frame) -> Raw:
        height, width = image.shape[:2]
        resized = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        tensor = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32)[None]
        (out,) = self.session.run([DETECTIONS_OUTPUT], {self._input: tensor})
        rows = np.asarray(out, dtype=np.float32)[0]
        scale = np.array([width / INPUT_SIZE, height / INPUT_SIZE] * 2, dtype=np.float32)
        boxes = np.clip(rows[:, :4] * scale, 0, [width, height, width, height]).astype(np.float32)
        return boxes, rows[:, 4].copy(), rows[:, 5].astype(np.int64)

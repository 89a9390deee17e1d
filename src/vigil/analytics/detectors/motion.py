"""Classical fallback detector with no model: moving blobs from background subtraction.

Why this and not OpenCV's HOG people detector: HOG finds only upright people taller than ~100 px
(it misses the small people and all the vehicles of a surveillance view) and costs ~100 ms per
640 x 480 frame on this CPU, while MOG2 background subtraction finds anything that moves for a
few ms. Its blobs are reported as class ``object`` (class id -1): the tracker and the zone, line
and dwell behaviours work on them; class-specific behaviours need a model.

The detector keeps a background model, so it is stateful: one instance per camera, fed the
camera's frames in order.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field

from vigil.analytics.detections import Detections, make_detections
from vigil.analytics.detectors.base import (
    DetectorConfig,
    DetectorContext,
    Frame,
    register_detector,
)

OBJECT_CLASS_ID = -1
"""Class id of a blob: not a COCO class (``data["class_name"]`` is ``"object"``)."""
SHADOW = 127
"""MOG2 marks shadow pixels with this value; foreground is 255."""


class MotionConfig(DetectorConfig):
    """Options of the background-subtraction detector."""

    type: Literal["motion"] = "motion"
    score_threshold: float = Field(
        0.3, ge=0.0, le=1.0, title="Minimum score", description="min foreground fill of a box"
    )
    classes: list[str] = Field(default_factory=list, description="unused: blobs have no class")
    history: int = Field(
        300,
        ge=10,
        le=10_000,
        title="Background memory (frames)",
        description="frames the background remembers",
    )
    var_threshold: float = Field(
        25.0, gt=0, title="Foreground distance (MOG2)", description="MOG2 foreground distance"
    )
    min_area: float = Field(
        0.0005,
        gt=0,
        lt=1,
        title="Smallest blob",
        description="smallest blob, share of the frame's area",
    )
    work_width: int = Field(
        320,
        ge=64,
        le=1920,
        title="Working width (px)",
        description="frames are shrunk to this width",
    )


@register_detector
class MotionDetector:
    """Moving blobs (MOG2 background subtraction, shadows ignored) as class ``object``."""

    key: ClassVar[str] = "motion"
    config_model: ClassVar[type[MotionConfig]] = MotionConfig

    def __init__(self, config: MotionConfig, context: DetectorContext) -> None:
        del context  # needs no model
        self.config = config
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=config.history, varThreshold=config.var_threshold, detectShadows=True
        )
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def detect(self, frame: Frame) -> Detections:
        """Detect moving blobs; see `Detector.detect`. The first frames only learn."""
        width = frame.shape[1]
        scale = min(1.0, self.config.work_width / width)
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        mask = self._subtractor.apply(small)
        mask = np.where(mask > SHADOW, 255, 0).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.dilate(mask, self._kernel, iterations=2)  # join a body's broken pieces
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_area = self.config.min_area * mask.shape[0] * mask.shape[1]
        rows = stats[1:count]  # label 0 is the background
        rows = rows[rows[:, cv2.CC_STAT_AREA] >= min_area]
        x, y = rows[:, cv2.CC_STAT_LEFT], rows[:, cv2.CC_STAT_TOP]
        w, h = rows[:, cv2.CC_STAT_WIDTH], rows[:, cv2.CC_STAT_HEIGHT]
        fill = rows[:, cv2.CC_STAT_AREA] / np.maximum(w * h, 1)
        boxes = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32) / scale
        keep = fill >= self.config.score_threshold
        return make_detections(boxes[keep], fill[keep], np.full(int(keep.sum()), OBJECT_CLASS_ID))

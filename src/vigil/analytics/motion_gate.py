"""The motion gate: a cheap look at each sampled frame before the detector's expensive one.

The frame is shrunk to a small grayscale image (by swscale, straight from the decoder's YUV:
no colour conversion) and compared with a running background; the share of pixels that
changed decides. A frame without motion skips detection, so a quiet camera costs next to
nothing. Slow light changes are absorbed by the background.

Example:
    >>> import numpy as np
    >>> gate = MotionGate(min_changed=0.01)
    >>> still = np.zeros((90, 160), np.uint8)
    >>> gate.update(still), gate.update(still)
    (0.0, 0.0)
    >>> moved = still.copy(); moved[30:60, 60:100] = 200
    >>> round(gate.update(moved), 3), gate.moving
    (0.093, True)
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
from av.video.frame import VideoFrame

GATE_WIDTH = 160
"""Frames are compared at this width (height by the frame's aspect)."""
PIXEL_THRESHOLD = 20
"""Grey levels a pixel must differ from the background by to count as changed."""
BACKGROUND_RATE = 0.5
"""How fast the background follows the scene, per sampled frame: fast, so that where an
object was (or stopped) stops counting as motion within a few frames; a stopped object is
followed by the keepalive detections instead."""

Gray = npt.NDArray[np.uint8]


def small_gray(frame: VideoFrame, width: int = GATE_WIDTH) -> Gray:
    """A small grayscale copy of a decoded frame (swscale does both at once)."""
    height = max(2, round(width * frame.height / max(frame.width, 1)))
    small = frame.reformat(width=width, height=height, format="gray")
    return cast(Gray, small.to_ndarray())


class MotionGate:
    """Decides, frame by frame, whether anything moved.

    Args:
        min_changed: Share of changed pixels (0..1) that counts as motion.
    """

    def __init__(self, min_changed: float) -> None:
        self.min_changed = min_changed
        self._background: npt.NDArray[np.float32] | None = None
        self._changed: npt.NDArray[np.bool_] | None = None
        self.moving = False
        """Whether the latest frame had motion."""

    def update(self, gray: Gray) -> float:
        """Take one small grayscale frame; returns the share of pixels that changed."""
        blurred = cv2.GaussianBlur(gray, (5, 5), 0)
        if self._background is None or self._background.shape != blurred.shape:
            # A new view (the first frame, a new resolution): nothing is known of what is in
            # it, so it is looked at, as if everything in it had just moved.
            self._background = blurred.astype(np.float32)
            self._changed = None
            self.moving = True
            return 1.0
        diff = cv2.absdiff(blurred, cv2.convertScaleAbs(self._background))
        self._changed = diff > PIXEL_THRESHOLD
        changed = float(np.count_nonzero(self._changed)) / diff.size
        cv2.accumulateWeighted(blurred, self._background, BACKGROUND_RATE)
        self.moving = changed >= self.min_changed and changed > 0
        return changed

    def moving_outside(self, areas: npt.NDArray[np.float32]) -> bool:
        """Whether the latest frame's motion reaches beyond ``areas`` (boxes x1, y1, x2, y2
        as fractions of the frame): whether something moved that they do not explain.

        Example:
            >>> gate = MotionGate(min_changed=0.01)
            >>> still = np.zeros((90, 160), np.uint8); moved = still.copy()
            >>> moved[30:60, 60:100] = 200
            >>> _ = gate.update(still), gate.update(moved)
            >>> box = np.array([[0.3, 0.2, 0.7, 0.8]], np.float32)
            >>> gate.moving_outside(box), gate.moving_outside(box[:, [2, 1, 2, 3]])
            (False, True)
        """
        if self._changed is None or not self.moving:
            return False
        height, width = self._changed.shape
        outside = self._changed.copy()
        scaled = np.rint(areas * np.array([width, height, width, height], np.float32))
        for x1, y1, x2, y2 in scaled.astype(np.int64).clip(0, [width, height, width, height]):
            outside[y1:y2, x1:x2] = False
        return float(np.count_nonzero(outside)) / outside.size >= self.min_changed

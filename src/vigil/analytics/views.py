"""How good a view of an object is, for keeping an object's best few views (plates, faces)."""

from __future__ import annotations

import cv2

from vigil.analytics.boxes import Box
from vigil.analytics.snapshots import Image

__all__ = ["SHARP_VARIANCE", "quality"]

SHARP_VARIANCE = 150.0
"""Variance of the Laplacian (grey levels) from which a view counts as fully sharp; blurrier
views count less in proportion."""
SHARPNESS_WIDTH = 160
"""Views are measured for sharpness at this width (the measure is cheap at any size)."""


def quality(image: Image, box: Box) -> float:
    """Size times sharpness of a view: its area in pixels, scaled down by how blurred
    it is (variance of the Laplacian under :data:`SHARP_VARIANCE`)."""
    piece = image[box.y1 : box.y2, box.x1 : box.x2]
    if piece.size == 0:
        return 0.0
    scale = min(1.0, SHARPNESS_WIDTH / piece.shape[1])
    small = cv2.resize(piece, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return float(box.area) * min(1.0, sharpness / SHARP_VARIANCE)

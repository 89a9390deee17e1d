"""Things set down in a scene, found without a detector that knows them (a static-foreground
model).

Detectors miss what they were not trained on, or what is small: a bag at the far side of a
square, a box of rubbish. What a left bag does for sure is appear and then stay. Two
backgrounds of the motion gate's small grayscale frames show that (the dual-background idea of
Porikli et al., 2008): a long one that takes minutes to absorb a change, and a short one that
takes about a second. A pixel that differs from the long background but no longer from the
short one belongs to something new that has stopped moving. Where such pixels have held for
``settle_s`` they form regions; each region large enough is an *item*: a box of unknown kind
that the pipeline hands to the tracker beside the detector's boxes (never where the detector
already has a box: a standing person is not an item), so that ``left_object`` and
``illegal_dumping`` see it.

It runs only on cameras with one of those behaviours, on the frames the motion gate shrinks
anyway (about 0.1 ms a frame at 160 pixels wide).

Example:
    >>> import numpy as np
    >>> model = StaticObjects(settle_s=1.0)
    >>> scene = np.full((90, 160), 100, np.uint8)
    >>> for i in range(50):
    ...     model.update(scene, i / 5)
    >>> scene[60:80, 40:60] = 200  # a box set down
    >>> for i in range(50, 70):
    ...     model.update(scene, i / 5)
    >>> [round(float(v), 2) for v in model.boxes[0]]  # grown a little by the blur
    [0.24, 0.66, 0.38, 0.9]
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vigil.analytics.classes import ITEM_CLASS
from vigil.analytics.detections import CLASS_NAME, Detections, make_detections

Gray = npt.NDArray[np.uint8]
Boxes = npt.NDArray[np.float32]

ITEM_SCORE = 0.6
"""The confidence given to an item (enough for the tracker to start a track on it)."""
PIXEL_THRESHOLD = 25
"""Grey levels a pixel must differ from a background by to count as different."""
SHORT_S = 1.0
"""Time constant of the short background: what stopped moving this long ago is in it."""
ABSORB_S = 600.0
"""Time constant of the long background: a change is absorbed over about this long, so an
item stays found for minutes, and a person who stood somewhere for a minute leaves no
"ghost" behind (the long background took in too little of them)."""
MIN_AREA = 0.002
"""The smallest item, as a share of the frame (a bag 20 m away in a 1080p view, roughly)."""
MAX_AREA = 0.25
"""A larger region is a change of the whole scene (a light switched on, the camera moved)."""
SCENE_CHANGE = 0.5
"""When this share of the frame differs from the long background, the scene itself changed
(lights, the camera moved or refocused): the long background starts again from it."""
COVERED = 0.5
"""An item this much inside a detector's box is that box's (a person standing still, a bag
the detector knows, or one at its owner's feet): only the rest are added."""


class StaticObjects:
    """Finds the regions that appeared in a scene and have stayed still since.

    Args:
        settle_s: How long a region must have stayed before it is reported.
        absorb_s: Time constant of the long background (see ``ABSORB_S``).
    """

    def __init__(self, *, settle_s: float = 2.0, absorb_s: float = ABSORB_S) -> None:
        self.settle_s = settle_s
        self.absorb_s = absorb_s
        self._long: npt.NDArray[np.float32] | None = None
        self._short: npt.NDArray[np.float32] | None = None
        # Seconds since the epoch: float64 (a float32 of today's time is 128 s coarse).
        self._static_since: npt.NDArray[np.float64] | None = None
        self._t = 0.0
        self.boxes: Boxes = np.empty((0, 4), np.float32)
        """The items now, x1, y1, x2, y2 as fractions of the frame (replaced, never changed:
        another thread may read it)."""

    def update(self, gray: Gray, t: float) -> None:
        """Take one small grayscale frame taken at ``t`` (seconds, increasing)."""
        frame = cv2.GaussianBlur(gray, (5, 5), 0).astype(np.float32)
        if self._long is None or self._long.shape != frame.shape:
            self._long, self._short = frame.copy(), frame.copy()
            self._static_since = np.full(frame.shape, np.inf, np.float64)
            self._t = t
            self.boxes = np.empty((0, 4), np.float32)
            return
        assert self._short is not None and self._static_since is not None
        dt = min(max(t - self._t, 0.0), 5.0)  # a long pause is not a long learning step
        self._t = t
        new = np.abs(frame - self._long) > PIXEL_THRESHOLD
        if np.count_nonzero(new) > SCENE_CHANGE * new.size:
            self._long = frame.copy()
            self._static_since.fill(np.inf)
            self.boxes = np.empty((0, 4), np.float32)
            return
        moving = np.abs(frame - self._short) > PIXEL_THRESHOLD
        static = new & ~moving
        self._static_since[~static] = np.inf
        self._static_since[static] = np.minimum(self._static_since[static], t)
        cv2.accumulateWeighted(frame, self._short, min(1.0, dt / SHORT_S))
        # What moves is not learnt into the long background: a crowd passing by for minutes
        # must not become the background that the empty scene is then compared with.
        cv2.accumulateWeighted(
            frame, self._long, min(1.0, dt / self.absorb_s), mask=(~moving).astype(np.uint8)
        )
        settled = (t - self._static_since >= self.settle_s).astype(np.uint8)
        self.boxes = _regions(settled)


def _regions(mask: npt.NDArray[np.uint8]) -> Boxes:
    """Boxes (fractions) of the mask's connected regions within the size limits."""
    h, w = mask.shape
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    boxes = []
    for x, y, bw, bh, area in stats[1:count]:
        share = area / (w * h)
        if MIN_AREA <= share <= MAX_AREA:
            boxes.append((x / w, y / h, (x + bw) / w, (y + bh) / h))
    return np.array(boxes, np.float32).reshape(-1, 4)


def with_items(detections: Detections, items: Boxes, size: tuple[int, int]) -> Detections:
    """The detections and, as ``ITEM_CLASS`` boxes in pixels, the items (fractions of a
    frame of ``size``) that no detection covers."""
    if len(items) == 0:
        return detections
    w, h = size
    boxes = items.astype(np.float64) * np.array([w, h, w, h])
    keep = [not _covered(box, detections.xyxy) for box in boxes]
    if not any(keep):
        return detections
    found = make_detections(boxes[keep], np.full(sum(keep), ITEM_SCORE), np.full(sum(keep), -1))
    found.data[CLASS_NAME] = np.full(len(found), ITEM_CLASS)
    merged = Detections.merge([detections, found])
    assert isinstance(merged, Detections)
    return merged


def _covered(box: npt.NDArray[np.float64], others: npt.NDArray[Any]) -> bool:
    """Whether ``COVERED`` of the box's area lies inside one of the other boxes."""
    if len(others) == 0:
        return False
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inside = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    return bool((inside / area >= COVERED).any())

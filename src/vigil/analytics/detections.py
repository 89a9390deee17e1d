"""The one detections type that flows from detector to tracker to behaviours.

Vigil uses `supervision.Detections` (parallel numpy arrays: ``xyxy`` float32 [N, 4] in pixels of
the frame given to the detector, ``confidence`` float32 [N], ``class_id`` int [N], optional
``tracker_id`` [N], and per-detection ``data``). Roboflow's ``trackers`` (ByteTrack) takes and
returns it, so no conversion sits between detector and tracker. Filtering is indexing
(``detections[detections.confidence > 0.5]``).

Vigil's conventions on top of it:

- ``class_id`` is the COCO-80 index (``vigil.analytics.classes.COCO_CLASSES``);
- ``data["class_name"]`` holds the class name of each detection (supervision's own key);
- coordinates are always pixels of the original frame, never model-input or normalised ones.

Example:
    >>> import numpy as np
    >>> d = make_detections(np.array([[10, 20, 50, 80]]), np.array([0.9]), np.array([2]))
    >>> d.data["class_name"].tolist(), len(d)
    (['car'], 1)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from supervision import Detections

from vigil.analytics.classes import COCO_CLASSES, OBJECT_CLASS

__all__ = ["CLASS_NAME", "Detections", "empty_detections", "make_detections"]

CLASS_NAME = "class_name"
"""Key of ``Detections.data`` holding each detection's class name."""


def make_detections(
    xyxy: npt.ArrayLike,
    confidence: npt.ArrayLike,
    class_id: npt.ArrayLike,
    *,
    names: tuple[str, ...] = COCO_CLASSES,
) -> Detections:
    """Build detections from parallel arrays, in Vigil's conventions.

    Args:
        xyxy: Boxes [N, 4] as x1, y1, x2, y2 in pixels of the frame.
        confidence: Scores [N] in 0..1.
        class_id: Class indices [N] into ``names``.
        names: Class names by index (COCO-80 by default).

    Returns:
        Detections with float32 boxes and scores, int class ids and ``data["class_name"]``.
    """
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    ids = np.asarray(class_id, dtype=np.int64).reshape(-1)
    # Ids outside ``names`` (the classical detector's -1) are objects of unknown kind.
    class_names = np.array(
        [names[i] if 0 <= i < len(names) else OBJECT_CLASS for i in ids], dtype=str
    )
    return Detections(
        xyxy=boxes,
        confidence=np.asarray(confidence, dtype=np.float32).reshape(-1),
        class_id=ids,
        data={CLASS_NAME: class_names},
    )


def empty_detections() -> Detections:
    """Detections with no rows but all of Vigil's fields present (so merging works)."""
    return make_detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

"""Object classes: the COCO-80 names the detectors emit and the ones Vigil cares about."""

from __future__ import annotations

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

CLASSES_OF_INTEREST: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "bus", "truck", "backpack", "handbag", "suitcase",
)  # fmt: skip
"""What Vigil's detectors report by default: people, vehicles and carried or left objects."""

VEHICLE_CLASSES: frozenset[str] = frozenset({"car", "motorcycle", "bus", "truck"})
BAG_CLASSES: frozenset[str] = frozenset({"backpack", "handbag", "suitcase"})

OBJECT_CLASS = "object"
"""Class name of a detection whose kind is unknown (the classical motion detector's)."""
ITEM_CLASS = "item"
"""Class name of something set down in a scene, of unknown kind (the static-foreground
model's, ``analytics.static_objects``)."""


def class_ids(names: tuple[str, ...] | list[str]) -> list[int]:
    """COCO-80 indices of class names.

    Args:
        names: Class names, each one of ``COCO_CLASSES``.

    Returns:
        Their indices, in the same order.

    Raises:
        ValueError: A name is not a COCO class (the message lists the known ones).
    """
    unknown = [n for n in names if n not in COCO_CLASSES]
    if unknown:
        raise ValueError(f"unknown class(es) {unknown}; known: {', '.join(COCO_CLASSES)}")
    return [COCO_CLASSES.index(n) for n in names]

"""Privacy mask geometry: what a mask may be, and the messages that say what to fix."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from vigil.domain.privacy import MAX_MASKS, PrivacyMask, dump_masks, parse_masks

SQUARE = [(0.1, 0.1), (0.3, 0.1), (0.3, 0.3), (0.1, 0.3)]


@pytest.mark.parametrize(
    ("mask", "says"),
    [
        ({"name": "x", "points": [(0.1, 0.1), (1.2, 0.1), (0.5, 0.5)]}, "point 2 is (1.2, 0.1)"),
        ({"name": "x", "points": [(-0.1, 0.1), (0.2, 0.1), (0.5, 0.5)]}, "inside the frame"),
        ({"name": "x", "points": [(0.1, 0.1), (math.nan, 0.1), (0.5, 0.5)]}, "inside the frame"),
        ({"name": "x", "points": [(0.1, 0.1), (0.2, 0.2)]}, "at least 3 items"),
        ({"name": "x", "points": [(0.1, 0.1), (0.1, 0.1), (0.5, 0.5)]}, "3 distinct points, got 2"),
        ({"name": "x", "points": [(0, 0), (1, 1), (1, 0), (0, 1)]}, "crosses itself"),
        ({"name": "x", "points": [(0, 0), (0.5, 0.5), (1, 1)]}, "no area"),
        ({"name": "x", "points": [(i / 100, (i % 2) / 2) for i in range(65)]}, "at most 64"),
        ({"name": "", "points": SQUARE}, "at least 1 character"),
        ({"name": "  ", "points": SQUARE}, "only spaces"),
        ({"name": "n" * 81, "points": SQUARE}, "at most 80 characters"),
        ({"name": "x", "points": SQUARE, "blur": 3}, "Extra inputs are not permitted"),
    ],
    ids=[
        "outside", "negative", "nan", "two-points", "repeated-points", "bow-tie", "on-a-line",
        "65-points", "no-name", "blank-name", "long-name", "unknown-field",
    ],
)  # fmt: skip
def test_a_mask_is_a_named_simple_polygon_inside_the_frame(mask: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        PrivacyMask.model_validate(mask)


@pytest.mark.parametrize(
    "points",
    [
        [(0, 0), (1, 0), (1, 1), (0, 1)],  # the whole frame, edges included
        [(0.5, 0.1), (0.9, 0.9), (0.1, 0.9)],
        [(0.1, 0.1), (0.5, 0.3), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)],  # concave
    ],
    ids=["whole-frame", "triangle", "concave"],
)
def test_valid_masks_keep_their_points(points: list[tuple[float, float]]) -> None:
    mask = PrivacyMask(name=" Window ", points=points)
    assert mask.name == "Window" and mask.points == [tuple(map(float, p)) for p in points]
    assert 0 < mask.area <= 1


def test_a_camera_has_at_most_32_masks_with_distinct_names() -> None:
    many = [{"name": f"m{i}", "points": SQUARE} for i in range(MAX_MASKS)]
    assert len(parse_masks(many)) == MAX_MASKS
    with pytest.raises(ValidationError, match="at most 32"):
        parse_masks([*many, {"name": "one more", "points": SQUARE}])
    with pytest.raises(ValidationError, match="masks 0 and 1 are both named 'door'"):
        parse_masks([{"name": "Door", "points": SQUARE}, {"name": "door", "points": SQUARE}])
    assert parse_masks(None) == []
    masks = parse_masks(many[:2])
    assert parse_masks(dump_masks(masks)) == masks

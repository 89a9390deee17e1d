"""Privacy masks: areas of a camera's image that people without the ``unmask`` permission
never see, in live view, playback or exports, and that analytics never looks at.

A mask is a named polygon in normalised image coordinates (x and y from 0 to 1 across the
image's width and height, y downwards), as zones are, so it survives a change of stream
resolution. It is validated here once (a simple polygon with an area, inside the frame);
drawing it onto pixels is ``media/privacy.py``'s business.

Example:
    >>> mask = PrivacyMask(name="Window", points=[(0.1, 0.1), (0.4, 0.1), (0.4, 0.5)])
    >>> round(mask.area, 3)
    0.06
    >>> [m.name for m in parse_masks([{"name": "Door", "points": [[0, 0], [1, 0], [1, 1]]}])]
    ['Door']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

import shapely
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from shapely.validation import explain_validity

__all__ = [
    "MAX_MASKS",
    "MAX_MASK_POINTS",
    "MIN_MASK_POINTS",
    "PrivacyMask",
    "PrivacyMasks",
    "dump_masks",
    "parse_masks",
]

MIN_MASK_POINTS = 3
MAX_MASK_POINTS = 64
MAX_MASKS = 32
MAX_NAME_LENGTH = 80

MaskPoint = tuple[float, float]
"""(x, y) in normalised image coordinates: 0,0 is the top left corner, 1,1 the bottom right."""


class PrivacyMask(BaseModel):
    """One privacy mask: a named simple polygon on the camera's image.

    Attributes:
        name: What it hides ("Neighbour's window"), 1 to 80 characters.
        points: Corners in drawing order (3 to 64), normalised; the polygon closes by itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    points: list[MaskPoint] = Field(min_length=MIN_MASK_POINTS, max_length=MAX_MASK_POINTS)

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("a mask needs a name that is not only spaces")
        return name.strip()

    @field_validator("points")
    @classmethod
    def _simple_polygon(cls, points: list[MaskPoint]) -> list[MaskPoint]:
        for index, (x, y) in enumerate(points):
            if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(
                    f"point {index + 1} is ({x}, {y}): a mask must lie inside the frame; points "
                    "are normalised image coordinates within 0..1 (0,0 top left, 1,1 bottom right)"
                )
        distinct = list(dict.fromkeys(points))
        if len(distinct) < MIN_MASK_POINTS:
            raise ValueError(
                f"a mask needs at least {MIN_MASK_POINTS} distinct points, got {len(distinct)}"
            )
        polygon = shapely.Polygon(points)
        # A bow-tie's signed areas cancel out, so "no area" is judged on the convex hull.
        if polygon.convex_hull.area == 0:
            raise ValueError("the mask has no area: its points lie on one line")
        if not polygon.is_valid:
            raise ValueError(
                f"the mask's outline crosses itself ({explain_validity(polygon)}); "
                "draw its points in order around the area to hide"
            )
        return points

    @property
    def area(self) -> float:
        """The share of the image the mask covers (0..1)."""
        return float(shapely.Polygon(self.points).area)


def _unique_names(masks: list[PrivacyMask]) -> list[PrivacyMask]:
    seen: dict[str, int] = {}
    for index, mask in enumerate(masks):
        key = mask.name.casefold()
        if key in seen:
            raise ValueError(
                f"masks {seen[key]} and {index} are both named {mask.name!r}: give each its own "
                "name"
            )
        seen[key] = index
    return masks


PrivacyMasks = Annotated[
    list[PrivacyMask], Field(max_length=MAX_MASKS), AfterValidator(_unique_names)
]
"""A camera's masks: at most 32, names unique (case-insensitive)."""

_ADAPTER: TypeAdapter[list[PrivacyMask]] = TypeAdapter(PrivacyMasks)


def parse_masks(raw: Sequence[Any] | None) -> list[PrivacyMask]:
    """Validate stored or submitted masks (None: no masks).

    Raises:
        pydantic.ValidationError: What is wrong, with the failing mask and field.
    """
    return _ADAPTER.validate_python(list(raw or []))


def dump_masks(masks: Sequence[PrivacyMask]) -> list[dict[str, Any]]:
    """Masks as stored (JSON-ready)."""
    return [mask.model_dump(mode="json") for mask in masks]

"""`Box`: one axis-aligned region of a frame in whole pixels (faces, plates, heads).

A `Box` is a named tuple ``(x1, y1, x2, y2)`` with ``x2``/``y2`` exclusive, so
``frame[b.y1:b.y2, b.x1:b.x2]`` is its crop. Being a tuple of four numbers it is also an
`vigil.analytics.snapshots.Box`, so the snapshot helpers (crop, draw) take it as it is.

Example:
    >>> b = Box(10, 20, 50, 60)
    >>> b.width, b.height, b.pad(0.5, 100, 100)
    (40, 40, Box(x1=0, y1=0, x2=70, y2=80))
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Box(NamedTuple):
    """A region in pixels of one frame: top-left inclusive, bottom-right exclusive."""

    x1: int
    y1: int
    x2: int
    y2: int

    @classmethod
    def around(cls, x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> Box:
        """The smallest whole-pixel box holding a float box, clipped to a ``width x height``
        frame (rounding outwards: a redaction box never loses a partial pixel)."""
        return cls(
            max(0, math.floor(x1)),
            max(0, math.floor(y1)),
            min(width, math.ceil(x2)),
            min(height, math.ceil(y2)),
        )

    @property
    def width(self) -> int:
        """Width in pixels (0 for an empty box)."""
        return max(0, self.x2 - self.x1)

    @property
    def height(self) -> int:
        """Height in pixels (0 for an empty box)."""
        return max(0, self.y2 - self.y1)

    @property
    def area(self) -> int:
        """Area in pixels."""
        return self.width * self.height

    @property
    def empty(self) -> bool:
        """True when the box holds no pixel."""
        return self.area == 0

    def pad(self, fraction: float, width: int, height: int, *, top: float | None = None) -> Box:
        """The box grown by ``fraction`` of its size on every side (``top``: another share for
        the top edge), clipped to a ``width x height`` frame."""
        dx, dy = self.width * fraction, self.height * fraction
        dtop = self.height * (fraction if top is None else top)
        return Box.around(self.x1 - dx, self.y1 - dtop, self.x2 + dx, self.y2 + dy, width, height)

    def intersection(self, other: Box) -> int:
        """The area this box shares with ``other``."""
        return Box(
            max(self.x1, other.x1),
            max(self.y1, other.y1),
            min(self.x2, other.x2),
            min(self.y2, other.y2),
        ).area

    def iou(self, other: Box) -> float:
        """Intersection over union with another box (0 when either is empty)."""
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def overlap(self, other: Box) -> float:
        """Share of this box covered by ``other`` (0..1)."""
        return self.intersection(other) / self.area if self.area > 0 else 0.0

    def lerp(self, other: Box, t: float, width: int, height: int) -> Box:
        """The box ``t`` (0..1) of the way from this one to ``other``, rounded outwards."""
        return Box.around(
            self.x1 + (other.x1 - self.x1) * t,
            self.y1 + (other.y1 - self.y1) * t,
            self.x2 + (other.x2 - self.x2) * t,
            self.y2 + (other.y2 - self.y2) * t,
            width,
            height,
        )

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(
            min(self.x1, other.x1),
            min(self.y1, other.y1),
            max(self.x2, other.x2),
            max(self.y2, other.y2),
        )

"""Face matching: the faces of people on this camera looked up in the person registers.

Off unless an administrator adds it to a camera, with the ``purpose`` it serves (shown with
every hit and in the audit trail). Like plate reading it needs the pixels, so the camera's
pipeline does the work (``analytics.person_faces``): in ``people`` mode each person track's
best views of the head are searched for a face; in ``frame`` mode the whole frame is, a few
times a second, and the faces of one person (near descriptors) form a passage. Each face is
described, and one ``FaceSighting`` per passage sent to the server, which matches it
against the lists only and keeps nothing of a face on none (``registers/faces.py``). This
rule reports nothing itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import DoneElsewhere
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    ZoneRef,
    register_behaviour,
)
from vigil.domain.events import WATCHLIST_HIT

__all__ = ["FaceMatching"]


class FaceMatching(BehaviourOptions):
    """Look the faces of people up in the person registers (a hit is a watchlist.hit)."""

    model_config = ConfigDict(extra="forbid", title="Face matching")
    type: Literal["face_matching"] = "face_matching"
    purpose: str = Field(
        min_length=10,
        max_length=500,
        title="Purpose",
        description="why faces are matched at this camera (shown with each hit, audited)",
    )
    mode: Literal["people", "frame"] = Field(
        "people",
        title="Mode",
        description="people: the followed people's best views; frame: the whole frame "
        "searched a few times a second (close views, where people are not detected whole)",
    )
    zone: ZoneRef | None = Field(None, description="only people seen in this zone")
    views: int = Field(3, ge=1, le=8, title="Views looked at per person")
    min_face_px: int = Field(40, ge=20, le=1000, title="Smallest face (pixels wide)")
    read_after_s: float = Field(5.0, gt=0, le=3600, title="Look at one still in view after (s)")
    frame_looks_per_s: float = Field(1.0, gt=0, le=10, title="Frame mode: looks a second")
    gap_s: float = Field(3.0, gt=0, le=60, title="Frame mode: a passage ends after (s)")


KIND = register_behaviour(
    BehaviourKind(FaceMatching, lambda b, zones, lines: DoneElsewhere(), events=(WATCHLIST_HIT,))
)

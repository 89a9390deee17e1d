"""Plate reading: one ``plate.read`` event per vehicle passage, with the plate's text.

Reading needs the pixels, which behaviours do not see: this module declares the options and
the event (for the editor, the configuration's checks and the rules); the camera's pipeline
reads the plates (``analytics.plate_reading``). Its rule reports nothing itself.

Two modes:

- ``vehicles`` (a general view): the detector's vehicle tracks; each one's sharpest, largest
  views are read when it leaves (or has stayed ``read_after_s``) and the readings voted on;
- ``frame`` (a plate camera: a narrow view of a lane or a gate): the whole frame is read
  ``frame_reads_per_s`` times a second, and the readings of one plate form one passage that
  ends when it has not been read for ``gap_s``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from vigil.analytics.behaviours.base import DoneElsewhere
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    ZoneRef,
    register_behaviour,
)
from vigil.analytics.plate_formats import FORMATS, known_countries
from vigil.domain.events import PLATE_READ

__all__ = ["PLATE_READ", "PlateReading"]


class PlateReading(BehaviourOptions):
    """Read licence plates: one event per vehicle passage with the plate's text."""

    model_config = ConfigDict(extra="forbid", title="Plate reading")
    type: Literal["plate_reading"] = "plate_reading"
    zone: ZoneRef | None = Field(None, description="only vehicles seen in this zone")
    mode: Literal["vehicles", "frame"] = Field(
        "vehicles",
        title="Mode",
        description="vehicles: the tracked vehicles' best views; frame: a plate camera, "
        "the whole frame read several times a second",
    )
    countries: list[str] = Field(
        default_factory=list,
        title="Plate formats",
        description="country codes (BG, IT, US-CA...) whose formats correct the reading "
        "by position (O/0, I/1, B/8); empty: read as seen",
    )
    region: Literal["EU", "US"] = Field(
        "EU",
        title="Plate region",
        description="without countries, a reading that fits no series of this region is "
        "corrected when its formats agree (PP587A0 -> PP587AO)",
    )
    views: int = Field(3, ge=1, le=8, title="Views read per vehicle")
    read_after_s: float = Field(10.0, gt=0, le=3600, title="Read a vehicle still in view after (s)")
    min_width_px: int = Field(80, ge=16, le=4000, title="Smallest vehicle read (pixels wide)")
    repeat_s: float = Field(
        30.0, ge=0, le=3600, title="The same plate again within (s) is the same passage"
    )
    frame_reads_per_s: float = Field(2.0, gt=0, le=25, title="Frame mode: reads a second")
    gap_s: float = Field(2.0, gt=0, le=60, title="Frame mode: a passage ends after (s)")

    @field_validator("countries")
    @classmethod
    def _known(cls, countries: list[str]) -> list[str]:
        unknown = [c for c in countries if c not in FORMATS]
        if unknown:
            raise ValueError(f"no plate formats for {unknown}; known: {known_countries()}")
        return countries


KIND = register_behaviour(
    BehaviourKind(PlateReading, lambda b, zones, lines: DoneElsewhere(), events=(PLATE_READ,))
)

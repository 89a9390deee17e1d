"""A camera's analytics configuration: what the recorder's pipeline runs for it.

Stored per camera (``camera_analytics`` table) as the JSON of :class:`CameraAnalyticsConfig`
and edited in the web client, where zones and lines are drawn on a live snapshot.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny, model_validator

from vigil.analytics.behaviours.registry import (
    BEHAVIOURS,
    NAME_PATTERN,
    BehaviourOptions,
    ZoneName,
    behaviour_label,
)
from vigil.analytics.geometry import CrossingLine, ZonePolygon

Strict = ConfigDict(extra="forbid")
DEFAULT_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
DEFAULT_ANALYSIS_FPS = 5.0


class Zone(ZonePolygon):
    """A named zone (polygon) on the camera's image."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: ZoneName


class Line(CrossingLine):
    """A named counting line with a direction (see ``analytics/geometry.py``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: ZoneName


class MotionGate(BaseModel):
    """The cheap check before the detector: a frame with no motion skips detection."""

    model_config = Strict
    enabled: bool = Field(
        True, title="Motion gate", description="frames without motion skip the detector"
    )
    min_changed: float = Field(
        0.002,
        ge=0,
        le=1,
        title="Changed share that is motion",
        description="share of changed pixels that counts as motion",
    )
    # While objects are being followed, keep detecting now and then so tracks do not go
    # stale on a still scene (a parked car, a left bag).
    keepalive_s: float = Field(
        2.0,
        ge=0,
        le=600,
        title="Detect at least every (s) while following",
        description="keeps still objects (a parked car, a left bag) followed",
    )
    # While detection finds nothing new (every confident box is a confirmed track, none was
    # lost), moving frames may be analysed at this lower rate and the tracker carries the
    # tracks in between; anything new brings back the full rate. At or above ``fps``: always
    # full, the default: the lower rate saves CPU on busy scenes but costs tracking accuracy
    # (MOT15 TUD at 5 fps, bench/analytics.py: MOTA 0.666 -> 0.584, IDF1 0.788 -> 0.743 at
    # 1.5), so it is an option.
    tracked_fps: float = Field(
        DEFAULT_ANALYSIS_FPS,
        gt=0,
        le=30,
        title="Detections a second while nothing is new",
        description="while every object is already followed, the tracker carries them in between",
    )
    # Motion only around the followed objects (each box grown by this share of its longer
    # side) is theirs: detect at tracked_fps. Saves about half the detector's time on busy
    # scenes, but the boxes between detections are older: off (0) by default.
    follow_margin: float = Field(
        0.0,
        ge=0,
        le=3,
        title="Follow margin (0: off)",
        description="0: off; else motion within this share of a followed "
        "object's size counts as its own (fewer detections, coarser tracks)",
    )


# ----- behaviours ---------------------------------------------------------------------------
# Each behaviour's options are declared in its own module (vigil.analytics.behaviours.*) and
# registered there; a configuration's behaviours are validated with the model their type names.

Behaviour = Annotated[SerializeAsAny[BehaviourOptions], BeforeValidator(BEHAVIOURS.parse)]
"""One configured behaviour: validated with the options model its ``type`` names."""


class CameraAnalyticsConfig(BaseModel):
    """Everything the pipeline runs for one camera."""

    model_config = Strict
    enabled: bool = False
    stream: Literal["sub", "main"] = Field(
        "sub", description="the sub-stream when the camera has one, else the main stream"
    )
    fps: float = Field(DEFAULT_ANALYSIS_FPS, gt=0, le=30)
    detector: dict[str, Any] = Field(
        default_factory=lambda: {"type": "nanodet"},
        description="a detector plugin's configuration, chosen by its type",
    )
    tracker: dict[str, Any] = Field(default_factory=lambda: {"type": "bytetrack"})
    motion: MotionGate = Field(default_factory=MotionGate)
    zones: list[Zone] = Field(default_factory=list, max_length=32)
    lines: list[Line] = Field(default_factory=list, max_length=32)
    behaviours: list[Behaviour] = Field(default_factory=list, max_length=64)
    # For a camera in recording_mode "events": footage kept around each analytics event.
    record_pre_s: float = Field(10.0, ge=0, le=3600, description="kept before an event")
    record_post_s: float = Field(30.0, ge=0, le=3600, description="kept after an event")
    privacy_excluded: bool = Field(
        False, description="reserved: masked areas excluded from analytics (issue 5)"
    )

    @model_validator(mode="after")
    def _references(self) -> CameraAnalyticsConfig:
        zones = [z.name for z in self.zones]
        lines = [ln.name for ln in self.lines]
        for kind, names in (("zone", zones), ("line", lines)):
            if len(set(names)) != len(names):
                raise ValueError(f"two {kind}s have the same name; give each its own")
        drawn = {"zone": zones, "line": lines}
        for i, b in enumerate(self.behaviours):
            for kind, name in b.references():
                if name not in drawn[kind]:
                    raise ValueError(
                        f"behaviours.{i} ({b.type}) names {kind} {name!r}, which is not drawn; "
                        f"{kind}s: {', '.join(drawn[kind]) or 'none'}"
                    )
        return self


__all__ = [
    "NAME_PATTERN",
    "Behaviour",
    "CameraAnalyticsConfig",
    "Line",
    "MotionGate",
    "Zone",
    "ZoneName",
    "behaviour_label",
]

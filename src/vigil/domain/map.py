"""Where a camera is and what it looks at: on the street map (latitude and longitude) and
on a site plan (an uploaded image, by fractions of its width and height), with the
direction it faces and its field of view, so that a map can draw its pin and its cone."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CameraPosition(BaseModel):
    """A camera's place on the street map, on a site plan, or both."""

    model_config = ConfigDict(extra="forbid")

    latitude: float | None = Field(None, ge=-90, le=90, description="WGS 84 degrees")
    longitude: float | None = Field(None, ge=-180, le=180, description="WGS 84 degrees")
    plan_id: int | None = Field(None, description="the site plan it stands on")
    x: float | None = Field(None, ge=0, le=1, description="across the plan: 0 left, 1 right")
    y: float | None = Field(None, ge=0, le=1, description="down the plan: 0 top, 1 bottom")
    heading: float | None = Field(
        None, ge=0, lt=360, description="degrees clockwise from north (on a plan: from up)"
    )
    fov: float | None = Field(None, gt=0, le=360, description="field of view, degrees")
    range_m: float | None = Field(
        None, gt=0, le=5000, description="how far it sees, metres (the cone on the street map)"
    )

    @model_validator(mode="after")
    def _whole(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together")
        placed = (self.plan_id, self.x, self.y)
        if any(v is not None for v in placed) and any(v is None for v in placed):
            raise ValueError("a place on a plan needs plan_id, x and y")
        if self.latitude is None and self.plan_id is None:
            raise ValueError("give latitude and longitude, or plan_id with x and y")
        return self

    def off_plan(self, plan_id: int) -> CameraPosition | None:
        """This position without its place on a removed plan (None: nothing left)."""
        if self.plan_id != plan_id:
            return self
        if self.latitude is None:
            return None
        return self.model_copy(update={"plan_id": None, "x": None, "y": None})

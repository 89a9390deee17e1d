"""Tampering: a camera covered, defocused, turned away or too dark (``camera.tampering``).

Needs every sampled frame's pixels, so the camera's pipeline watches them
(``analytics.tampering``); this module declares the options and the event. One event when a
kind of tampering has held for ``hold_s``, with ``kind`` (covered, defocused, moved, dark) and
the figures that decided it; none again until the view has been normal for ``hold_s``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from vigil.analytics.behaviours.base import DoneElsewhere
from vigil.analytics.behaviours.registry import BehaviourKind, BehaviourOptions, register_behaviour
from vigil.domain.events import CAMERA_TAMPERING

__all__ = ["Tampering"]

Kind = Literal["covered", "defocused", "moved", "dark"]
ALL_KINDS: tuple[Kind, ...] = ("covered", "defocused", "moved", "dark")


class Tampering(BehaviourOptions):
    """A camera covered, defocused, turned away or too dark."""

    model_config = ConfigDict(extra="forbid", title="Tampering")
    type: Literal["tampering"] = "tampering"
    kinds: list[Kind] = Field(default_factory=lambda: list(ALL_KINDS), title="Report")
    hold_s: float = Field(2.0, gt=0, le=600, title="Held for (s)")
    learn_s: float = Field(5.0, gt=0, le=600, title="Learn the normal view for (s)")
    relearn_s: float = Field(
        300.0, gt=0, le=86400, title="A turned camera's new view is normal after (s)"
    )


KIND = register_behaviour(
    BehaviourKind(Tampering, lambda b, zones, lines: DoneElsewhere(), events=(CAMERA_TAMPERING,))
)

"""Events: immutable facts (a line crossed, a camera lost, a sensor's alarm, a door forced).

Every source (analytics, camera health, MQTT sensors, webhooks, access control, an operator's
manual trigger) speaks the same :class:`Event`, so rules and the event store need one path.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from vigil.domain.messages import BusMessage

# Types that Vigil itself emits. Analytics plugins may add others; a type is a dotted name.
CAMERA_STATUS_PREFIX = "camera."  # camera.offline, camera.online, camera.storage_full...
CAMERA_TAMPERING = "camera.tampering"
INPUT_MQTT = "input.mqtt"
INPUT_WEBHOOK = "input.webhook"
ACCESS_PREFIX = "access."  # access.door_forced, access.door_held_open, access.denied...
MANUAL = "manual"

EVENT_TYPE_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"


def new_event_id() -> str:
    """A unique event id (events can be made on any node)."""
    return uuid.uuid4().hex


class ObjectRef(BaseModel):
    """The object an event is about, as the detector and tracker saw it."""

    class_name: str = Field(description="person, car, bicycle, suitcase...")
    track_id: int | None = None
    confidence: float | None = None
    box: tuple[float, float, float, float] | None = Field(
        None, description="x1, y1, x2, y2 as fractions of the image"
    )
    colour: str | None = None


class Event(BusMessage):
    """One fact. ``attributes`` carries what is particular to its type (an MQTT payload,
    a crossing direction, a dwell time...)."""

    kind: ClassVar[str] = "event"

    id: str = Field(default_factory=new_event_id)
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=100)
    at: datetime
    camera_id: int | None = None
    zone: str | None = Field(None, description="the zone or line it happened in")
    object: ObjectRef | None = None
    count: int | None = Field(None, description="objects counted (crowding, occupancy)")
    attributes: dict[str, Any] = Field(default_factory=dict)
    snapshot: str | None = Field(None, description="path of the snapshot, under the data dir")
    track: list[tuple[float, float, float]] = Field(
        default_factory=list, description="the track's path: (seconds, x, y) in image fractions"
    )
    source: str = Field("vigil", description="what produced it: a node, a bridge, a user")

    def subject(self) -> str:
        """Bus subject: ``events.<camera id or _>.<type>``."""
        return f"events.{self.camera_id if self.camera_id is not None else '_'}.{self.type}"

    SUBJECTS: ClassVar[str] = "events.>"


def camera_status_event_type(status: str) -> str:
    """The event type for a camera entering a status (``camera.offline``...)."""
    return f"{CAMERA_STATUS_PREFIX}{status}"

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
from vigil.domain.plates import normalise_plate

# Types that Vigil itself emits. Analytics plugins may add others; a type is a dotted name.
CAMERA_STATUS_PREFIX = "camera."  # camera.offline, camera.online, camera.storage_full...
CAMERA_TAMPERING = "camera.tampering"
INPUT_MQTT = "input.mqtt"
INPUT_WEBHOOK = "input.webhook"
ACCESS_PREFIX = "access."  # access.door_forced, access.door_held_open, access.denied...
MANUAL = "manual"
PLATE_READ = "plate.read"  # one vehicle passage's plate (analytics, plate_reading)
WATCHLIST_HIT = "watchlist.hit"  # a reading found on a register (registers/hits.py)

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
    site: str | None = Field(None, description="the installation it happened at")

    def subject(self) -> str:
        """Bus subject: ``events.<camera id or _>.<type>``."""
        return f"events.{self.camera_id if self.camera_id is not None else '_'}.{self.type}"

    SUBJECTS: ClassVar[str] = "events.>"


def camera_status_event_type(status: str) -> str:
    """The event type for a camera entering a status (``camera.offline``...)."""
    return f"{CAMERA_STATUS_PREFIX}{status}"


# How people read a camera status, in "Camera Gate offline" or "camera back online at ...".
# Statuses not named here read as their code with spaces.
CAMERA_STATUS_LABELS = {
    "online": "back online",
    "storage_full": "storage full",
    "tampering": "tampered with",
}

# Vigil's own event types whose code says little to an operator.
_TYPE_LABELS = {INPUT_MQTT: "MQTT message", INPUT_WEBHOOK: "webhook call", MANUAL: "manual trigger"}


def camera_status_label(event_type: str) -> str | None:
    """The status a camera status event reports, as people read it; None for other events.

    >>> camera_status_label("camera.storage_full"), camera_status_label("intrusion")
    ('storage full', None)
    """
    if not event_type.startswith(CAMERA_STATUS_PREFIX):
        return None
    status = event_type.removeprefix(CAMERA_STATUS_PREFIX)
    return CAMERA_STATUS_LABELS.get(status, status.replace("_", " "))


def event_label(event_type: str) -> str:
    """An event type as people read it.

    >>> event_label("line_crossing"), event_label("camera.online"), event_label("access.denied")
    ('line crossing', 'camera back online', 'access denied')
    """
    if (status := camera_status_label(event_type)) is not None:
        return f"camera {status}"
    return _TYPE_LABELS.get(event_type) or event_type.replace(".", " ").replace("_", " ")


def event_plate(event: Event) -> str | None:
    """The licence plate an event is about, normalised: a plate reading's or an overstay's
    reading; for a register hit, the entry's plate (the vehicle wanted, whichever way this
    reading spelt it). None for other events."""
    attributes = event.attributes
    plate = attributes.get("plate")
    if event.type == WATCHLIST_HIT:
        entry = attributes.get("entry")
        plate = entry.get("plate", plate) if isinstance(entry, dict) else plate
    elif event.type not in (PLATE_READ, "parked_vehicle"):
        return None
    return (normalise_plate(plate) or None) if isinstance(plate, str) else None


def event_register(event: Event) -> int | None:
    """The register a watchlist hit was found on (its id), else None."""
    return hit_register(event.type, event.attributes)


def hit_register(type_: object, attributes: object) -> int | None:
    """:func:`event_register` of an event's type and attributes as they travel (JSON)."""
    if type_ != WATCHLIST_HIT or not isinstance(attributes, dict):
        return None
    listed = attributes.get("list")
    found = listed.get("id") if isinstance(listed, dict) else None
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def event_reason(event: Event) -> str:
    """Why it happened, where the source said (a camera's last error); empty otherwise."""
    error = event.attributes.get("error")
    return error.strip() if isinstance(error, str) else ""


class TrackEnded(BusMessage):
    """An object left the view (its track ended): stored for forensic search and heatmaps."""

    kind: ClassVar[str] = "track.ended"

    # Unique across nodes and sites (track_id is only the tracker's number on one camera).
    uid: str = Field(default_factory=new_event_id)
    site: str | None = None
    camera_id: int
    track_id: int
    class_name: str
    colour: str | None = None
    first_at: datetime
    last_at: datetime
    path: list[tuple[float, float, float]] = Field(
        default_factory=list, description="(seconds since first_at, x, y) in image fractions"
    )
    box: tuple[float, float, float, float] | None = None
    zones: list[str] = Field(default_factory=list)
    thumbnail: str | None = Field(None, description="path of a crop, under the data dir")
    node: str = ""

    def subject(self) -> str:
        """Bus subject: ``analytics.<camera>.tracks``."""
        return f"analytics.{self.camera_id}.tracks"


class FaceSighting(BusMessage):
    """A face seen on a camera whose face matching an administrator switched on, for the
    server to look up in the person registers. Not an event: it is never stored; a face on
    no list is dropped there, and only a match becomes a ``watchlist.hit`` event (with the
    face's picture, which travels in the message so that no picture of a passer-by is
    written anywhere)."""

    kind: ClassVar[str] = "face.sighting"

    id: str = Field(default_factory=new_event_id)
    camera_id: int
    at: datetime
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = Field(
        None, description="the person, x1, y1, x2, y2 as fractions of the image"
    )
    descriptors: list[list[float]] = Field(description="one per view of the face (128 each)")
    face_jpeg: str = Field(description="the best view of the face, JPEG in base64")
    purpose: str = Field(description="why face matching is on at this camera")
    behaviour: str = ""
    node: str = ""

    def subject(self) -> str:
        """Bus subject: ``analytics.<camera>.faces``."""
        return f"analytics.{self.camera_id}.faces"


class AnalyticsFrame(BusMessage):
    """What the analytics saw on one analysed frame, for the boxes over the live view."""

    kind: ClassVar[str] = "analytics.frame"

    camera_id: int
    at: datetime
    objects: list[ObjectRef] = Field(default_factory=list)

    def subject(self) -> str:
        """Bus subject: ``analytics.<camera>.frame``."""
        return f"analytics.{self.camera_id}.frame"


class AnalyticsStatus(BusMessage):
    """How a camera's analytics is doing: running, disabled, or why it cannot run."""

    kind: ClassVar[str] = "analytics.status"

    camera_id: int
    state: str  # "running" | "disabled" | "unavailable" | "error"
    detector: str | None = None
    error: str | None = None
    frames_in: float = Field(0.0, description="decoded frames per second")
    frames_analysed: float = Field(0.0, description="frames per second through the detector")
    frames_dropped: float = Field(0.0, description="analysis frames dropped per second (busy)")
    motion_ratio: float = Field(0.0, description="share of sampled frames with motion")
    detector_ms: float = Field(0.0, description="mean detector time per analysed frame")
    at: datetime

    def subject(self) -> str:
        """Bus subject: ``analytics.<camera>.status``."""
        return f"analytics.{self.camera_id}.status"

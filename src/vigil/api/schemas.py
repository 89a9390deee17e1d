"""API schemas, one per direction: Create, Update (all optional), Public (no secrets)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from vigil.domain.cameras import NAME_MAX, CameraProblem, RecordingMode, check_stream_url
from vigil.domain.map import CameraPosition

StreamUrl = Annotated[str, Field(max_length=2000), AfterValidator(check_stream_url)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=r"^[^\x00-\x1f]+$")]
NodeName = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f]+$")]


class CameraCreate(BaseModel):
    """A camera to add."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    main_url: StreamUrl
    sub_url: StreamUrl | None = None
    username: str | None = Field(None, max_length=200)
    password: SecretStr | None = Field(None, max_length=200)
    location: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=5000)
    enabled: bool = True
    retention_days: float | None = Field(None, gt=0, le=3650)
    recording_mode: RecordingMode = Field(
        RecordingMode.CONTINUOUS, description="continuous, or only around events"
    )
    event_retention_days: float | None = Field(
        None, gt=0, le=3650, description="keep footage around events this long"
    )
    pinned_node: NodeName | None = Field(
        None, description="record on this recorder node while it is alive"
    )
    position: CameraPosition | None = Field(
        None, description="on the map; later changed with PUT /api/cameras/{id}/position"
    )


class CameraUpdate(BaseModel):
    """Fields of a camera to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    main_url: StreamUrl | None = None
    sub_url: StreamUrl | None = None
    username: str | None = Field(None, max_length=200)
    password: SecretStr | None = Field(None, max_length=200)
    location: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=5000)
    enabled: bool | None = None
    retention_days: float | None = Field(None, gt=0, le=3650)
    recording_mode: RecordingMode | None = None
    event_retention_days: float | None = Field(None, gt=0, le=3650)
    pinned_node: NodeName | None = Field(None, description="null: placed by capacity")


class HealthPublic(BaseModel):
    """A camera's ingest health as its recorder last reported it."""

    model_config = ConfigDict(from_attributes=True)

    status: str
    node: str | None = None
    fps: float = 0.0
    bitrate_bps: float = 0.0
    last_frame_at: datetime | None = None
    last_error: str | None = None
    problem: CameraProblem | None = Field(
        None,
        description="why it is not online: unreachable, wrong_credentials or unsupported",
    )
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    updated_at: datetime | None = None


class CameraPublic(BaseModel):
    """A camera as the API shows it: never its password."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    main_url: str
    sub_url: str | None
    username: str | None
    has_password: bool
    location: str | None
    notes: str | None
    enabled: bool
    retention_days: float | None
    recording_mode: RecordingMode
    event_retention_days: float | None
    pinned_node: str | None = None
    position: CameraPosition | None = Field(None, description="where it is on the map")
    node: str | None = Field(None, description="the recorder node recording it now")
    site: str = Field("local", description="the installation it belongs to")
    uid: str = Field(description="its id across federated sites")
    created_at: datetime
    updated_at: datetime
    health: HealthPublic


class SpanPublic(BaseModel):
    """An interval of wall-clock time."""

    start: datetime
    end: datetime


class GapPublic(SpanPublic):
    """A time without recording, and why when it is known."""

    reason: str | None = None


class TimelinePublic(BaseModel):
    """A camera's recorded ranges and gaps within a window."""

    camera_id: int
    start: datetime
    end: datetime
    ranges: list[SpanPublic]
    gaps: list[GapPublic]
    recording: bool = Field(description="a segment is being written now")


class NodePublic(BaseModel):
    """A recorder node."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    media_url: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool
    capacity: int = Field(0, description="cameras it may record at most")
    cpu_count: int = 0
    free_disk_bytes: int = 0
    draining: bool = Field(False, description="its cameras are being moved off")
    cameras: list[int] = Field(default_factory=list, description="ids of the cameras it records")


class NodeUpdate(BaseModel):
    """An administrator's change to a node."""

    model_config = ConfigDict(extra="forbid")

    draining: bool = Field(description="move its cameras to other nodes and give it no more")

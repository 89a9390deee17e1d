"""API schemas of rules, time profiles, camera groups, alarms, actions, events, bookmarks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.domain.alarms import AlarmState
from vigil.domain.events import Event
from vigil.domain.rules import Conditions, Trigger
from vigil.domain.schedules import TimeProfileSpec

Operator = Annotated[str, Field(min_length=1, max_length=120)]


ActionPublic = Annotated[
    dict[str, Any],
    Field(
        description="an action, as its type's schema says (GET /api/rules/actions/schema); "
        "each secret (writeOnly) is null, with has_<field> saying whether one is set"
    ),
]


class RulePublic(BaseModel):
    """A rule as the API shows it (no secrets)."""

    id: int
    name: str
    enabled: bool
    trigger: Trigger
    conditions: Conditions
    actions: list[ActionPublic]
    created_at: datetime
    updated_at: datetime


class ManualTriggerRequest(BaseModel):
    """An operator firing a manual rule."""

    model_config = ConfigDict(extra="forbid")
    camera_id: int | None = None
    note: str | None = Field(None, max_length=2000)


class TriggerResult(BaseModel):
    """What a manual trigger made."""

    event_id: str
    alarm_id: int | None


class TimeProfilePublic(TimeProfileSpec):
    """A time profile and whether it is armed now."""

    id: int
    active_now: bool


class CameraGroupBody(BaseModel):
    """A camera group to create or replace."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    camera_ids: list[int] = Field(default_factory=list, max_length=10_000)


class CameraGroupPublic(CameraGroupBody):
    """A camera group."""

    id: int


class EventPublic(Event):
    """A stored event and where its snapshot can be fetched."""

    snapshot_url: str | None = None


class SopItem(BaseModel):
    """One item of an alarm's checklist."""

    text: str
    done: bool = False
    by: str | None = None
    at: datetime | None = None


class AlarmPublic(BaseModel):
    """An alarm in the queue."""

    id: int
    rule_id: int | None
    rule_name: str
    event_id: str | None
    event_type: str | None
    camera_id: int | None
    camera_name: str | None
    title: str
    category: str
    priority: int
    priority_name: str
    state: AlarmState
    owner: str | None
    sop: list[SopItem]
    occurrences: int
    first_at: datetime
    last_at: datetime
    snapshot_url: str | None
    escalate_after_min: float | None
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    closing_reason: str | None
    condition_cleared_at: datetime | None = Field(
        None, description="when what it reports ended (camera back online) while it stays open"
    )
    created_at: datetime
    updated_at: datetime
    failed_actions: int
    site: str = Field("local", description="the site it was raised at (federation)")
    uid: str | None = Field(None, description="its id, unique across sites")


class AlarmPage(BaseModel):
    """One page of the queue and how many alarms match in all."""

    total: int
    items: list[AlarmPublic]


class NotePublic(BaseModel):
    """One entry of an alarm's history."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    author: str | None
    kind: str
    text: str


class RunSummary(BaseModel):
    """An action run as an alarm's detail shows it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    type: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    done_at: datetime | None


class VideoLink(BaseModel):
    """The footage around the alarm's event (play with the camera's playback endpoint)."""

    camera_id: int
    start: datetime
    end: datetime


class AlarmDetail(AlarmPublic):
    """An alarm with its history, actions, event and video."""

    notes: list[NotePublic]
    actions: list[RunSummary]
    event: EventPublic | None
    video: VideoLink | None


class TransitionRequest(BaseModel):
    """Move an alarm to another state."""

    model_config = ConfigDict(extra="forbid")
    state: AlarmState
    reason: str | None = Field(None, max_length=5000)


class AssignRequest(BaseModel):
    """Give an alarm to someone (null: nobody)."""

    model_config = ConfigDict(extra="forbid")
    owner: str | None = Field(max_length=120)


class CommentRequest(BaseModel):
    """A comment on an alarm."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10_000)


class SopRequest(BaseModel):
    """Tick or untick a checklist item."""

    model_config = ConfigDict(extra="forbid")
    done: bool


class KeyCount(BaseModel):
    """A count per key."""

    key: str
    count: int


class ResponseTimes(BaseModel):
    """How fast alarms were acknowledged and closed."""

    acknowledged: int
    acknowledge_median_s: float | None
    acknowledge_p90_s: float | None
    close_median_s: float | None


class AlarmStats(BaseModel):
    """Alarm statistics over a period."""

    total: int
    open: int
    by_category: list[KeyCount]
    by_area: list[KeyCount]
    by_priority: list[KeyCount]
    response: ResponseTimes


class ActionRunPublic(BaseModel):
    """One action of one rule firing, and how it went."""

    id: int
    rule_id: int | None
    rule_name: str
    alarm_id: int | None
    event_id: str | None
    type: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    done_at: datetime | None


class BookmarkCreate(BaseModel):
    """A bookmark to add."""

    model_config = ConfigDict(extra="forbid")
    camera_id: int
    at: datetime
    end: datetime | None = None
    label: str = Field(min_length=1, max_length=500)


class BookmarkPublic(BaseModel):
    """A bookmark."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    camera_id: int
    at: datetime
    end: datetime | None
    label: str
    alarm_id: int | None
    created_by: str | None
    created_at: datetime


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as JSON-able data."""
    return model.model_dump(mode="json")

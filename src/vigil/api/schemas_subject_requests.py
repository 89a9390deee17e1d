"""API schemas of data-subject requests (``/api/privacy/requests``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from vigil.domain.subject_requests import (
    DEFAULT_PAD_S,
    MAX_PAD_S,
    MAX_SEARCH_SPAN,
    RequestKind,
    RequestStatus,
    SearchCriteria,
)

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Short = Annotated[str, Field(min_length=1, max_length=500)]
Pad = Annotated[
    float, Field(DEFAULT_PAD_S, ge=0, le=MAX_PAD_S, description="seconds kept around each hit")
]


class SubjectRequestCreate(BaseModel):
    """A new request. With a reference face, send it as multipart: this object as JSON in
    the ``request`` field and the photo (JPEG or PNG, at most 5 MB) in ``face``."""

    kind: RequestKind
    subject: Text = Field(description="who or what: the person, the vehicle")
    legal_reference: Short = Field(description="the legal basis or case number")
    requester_contact: Short = Field(description="how to reach the requester")
    criteria: SearchCriteria


class JobPublic(BaseModel):
    """The request's latest search or export; ``interrupted`` when its server stopped."""

    kind: Literal["search", "export"]
    state: Literal["running", "done", "cancelled", "failed", "interrupted"]
    progress: float
    detail: dict[str, Any]
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class SubjectRequestPublic(BaseModel):
    """A request as listed."""

    id: int
    kind: RequestKind
    status: RequestStatus
    subject: str
    legal_reference: str
    requester_contact: str
    criteria: SearchCriteria
    has_face: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    close_note: str | None
    job: JobPublic | None
    hits: int
    export_ready: bool


class EntryPublic(BaseModel):
    """One line of a request's record."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    username: str | None
    action: str
    outcome: str
    details: dict[str, Any]


class SubjectRequestDetail(SubjectRequestPublic):
    """A request with its record (who did what when)."""

    record: list[EntryPublic]


class HitPublic(BaseModel):
    """Where the search found the subject."""

    id: int
    camera_id: int
    kind: Literal["plate", "face"]
    first_at: datetime
    last_at: datetime
    at: datetime
    box: list[float]
    score: float
    text: str | None
    sightings: int
    selected: bool
    thumbnail_url: str | None


class HitUpdate(BaseModel):
    """Confirm a hit as the subject, or set it aside as a false match."""

    selected: bool


class RangeIn(BaseModel):
    """Footage of one camera."""

    camera_id: int
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _order(self) -> RangeIn:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        if self.end - self.start > MAX_SEARCH_SPAN:
            raise ValueError(f"a range spans at most {MAX_SEARCH_SPAN.days} days")
        return self


class ExportCreate(BaseModel):
    """A redacted export of an access request's hits (default: the confirmed ones)."""

    pad_s: Pad = DEFAULT_PAD_S
    hit_ids: list[int] | None = Field(None, max_length=10_000)


class ErasureCreate(BaseModel):
    """Erase footage of an erasure request: its hits (default: the confirmed ones, each with
    ``pad_s`` either side) and/or whole ``ranges``. Irreversible: ``confirm`` must be
    ``ERASE``."""

    confirm: str = Field(max_length=20, description='type "ERASE" to confirm')
    reason: Text
    pad_s: Pad = DEFAULT_PAD_S
    hit_ids: list[int] | None = Field(None, max_length=10_000)
    ranges: list[RangeIn] = Field(default_factory=list, max_length=1000)
    include_hits: bool = Field(True, description="false: erase only the given ranges")


class ErasurePublic(BaseModel):
    """What an erasure did: ``complete`` is false when some file could not be deleted (the
    request then stays in review; the record says which)."""

    complete: bool
    record: dict[str, Any]
    request: SubjectRequestPublic


class CloseBody(BaseModel):
    """Complete a request, saying what was done."""

    note: Text


class RejectBody(BaseModel):
    """Refuse a request, saying why (unfounded, identity not proven...)."""

    reason: Text

"""API schemas of evidence: locks and export packages (integrity reports are
``evidence/chain.py`` ``ChainReport``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Person = Annotated[str, Field(min_length=1, max_length=120, description="who (name or id)")]
Why = Annotated[str, Field(min_length=1, max_length=2000, description="why (case, request)")]


class EvidenceLockCreate(BaseModel):
    """Protect a camera's footage from every deletion."""

    camera_id: int
    start: AwareDatetime
    end: AwareDatetime
    reason: Why
    until: AwareDatetime | None = Field(None, description="null: until released")


class EvidenceLockRelease(BaseModel):
    """End a lock: its footage falls back under retention."""

    reason: Why


class EvidenceLockPublic(BaseModel):
    """An evidence lock; ``active`` while it protects its footage."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    camera_id: int
    start: datetime
    end: datetime
    created_by: str
    reason: str
    until: datetime | None
    created_at: datetime
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None
    active: bool = False


class EvidenceExportCreate(BaseModel):
    """An export package of [start, end] of a camera: signed video and metadata."""

    start: AwareDatetime
    end: AwareDatetime
    reason: Why
    requested_by: Person

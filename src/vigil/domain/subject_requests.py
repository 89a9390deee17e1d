"""Data-subject requests: a person asks for the footage of themselves (access) or for its
erasure, under a legal basis. The data protection officer describes the subject, searches
the chosen cameras and period for their plate or face, reviews the hits, and then exports
the footage redacted (access) or erases it (erasure). Everything done is recorded.

Lifecycle::

    open -> searching -> review -> completed
      |        |  ^        |  \\
      |        v  |        |   -> searching (search again)
      '--------'--'--------'--> rejected

A search that ends (done, cancelled or failed) leaves the request in review, with what it
found so far. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from vigil.domain.errors import Conflict

MAX_SEARCH_SPAN = timedelta(days=31)
MAX_CAMERAS = 100
DEFAULT_FACE_TOLERANCE = 0.6  # dlib descriptors: the same person lies below 0.6
DEFAULT_PAD_S = 5.0  # footage kept around a hit when exporting or erasing it
MAX_PAD_S = 600.0
PLATE_CHARS = re.compile(r"[^0-9A-Z]")
ERASE_CONFIRMATION = "ERASE"


class RequestKind(StrEnum):
    """What the subject asked for."""

    ACCESS = "access"  # a copy of the footage of them (others redacted)
    ERASURE = "erasure"  # the footage of them deleted


class RequestStatus(StrEnum):
    """Where a request stands."""

    OPEN = "open"
    SEARCHING = "searching"
    REVIEW = "review"
    COMPLETED = "completed"
    REJECTED = "rejected"


TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.OPEN: frozenset({RequestStatus.SEARCHING, RequestStatus.REJECTED}),
    RequestStatus.SEARCHING: frozenset({RequestStatus.REVIEW}),
    RequestStatus.REVIEW: frozenset(
        {RequestStatus.SEARCHING, RequestStatus.COMPLETED, RequestStatus.REJECTED}
    ),
    RequestStatus.COMPLETED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
}
CLOSED_STATUSES = frozenset({RequestStatus.COMPLETED, RequestStatus.REJECTED})


class InvalidRequestTransition(Conflict):
    """The request cannot move from its status to the one asked for."""


def check_transition(current: RequestStatus, target: RequestStatus) -> None:
    """Raise :class:`InvalidRequestTransition` with a message a DPO understands."""
    if target in TRANSITIONS[current]:
        return
    allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing (closed)"
    hint = " (cancel the search first)" if current is RequestStatus.SEARCHING else ""
    raise InvalidRequestTransition(
        f"a request that is {current.value} can move to {allowed}, not {target.value}{hint}"
    )


class HitKind(StrEnum):
    """What matched."""

    PLATE = "plate"
    FACE = "face"


def normalise_plate(text: str) -> str:
    """A plate as compared: upper case, letters and digits only ("ab-12 c" -> "AB12C")."""
    return PLATE_CHARS.sub("", text.upper())


class SearchCriteria(BaseModel):
    """Where and when to look, and for what: a plate, a face (a reference image given
    apart, as a file), or both."""

    camera_ids: list[int] = Field(min_length=1, max_length=MAX_CAMERAS)
    start: AwareDatetime
    end: AwareDatetime
    plate: str | None = Field(None, max_length=20, description="the subject's plate text")
    face_tolerance: float = Field(
        DEFAULT_FACE_TOLERANCE, gt=0, le=1.0, description="face distance below which it matches"
    )

    @field_validator("camera_ids")
    @classmethod
    def _distinct(cls, ids: list[int]) -> list[int]:
        return sorted(set(ids))

    @field_validator("plate")
    @classmethod
    def _plate(cls, plate: str | None) -> str | None:
        if plate is None or not plate.strip():
            return None
        if len(normalise_plate(plate)) < 2:
            raise ValueError("a plate needs at least two letters or digits")
        return plate.strip().upper()

    @model_validator(mode="after")
    def _range(self) -> SearchCriteria:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        if self.end - self.start > MAX_SEARCH_SPAN:
            raise ValueError(f"a search spans at most {MAX_SEARCH_SPAN.days} days")
        return self


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Footage of one camera, [start, end]."""

    camera_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Appearance:
    """When the subject was seen on a camera: first and last sighting of one hit."""

    camera_id: int
    first_at: datetime
    last_at: datetime


def merge_ranges(ranges: Iterable[TimeRange]) -> list[TimeRange]:
    """Overlapping or touching ranges of the same camera become one; sorted by camera, start."""
    merged: list[TimeRange] = []
    for r in sorted(ranges, key=lambda r: (r.camera_id, r.start)):
        last = merged[-1] if merged else None
        if last is not None and last.camera_id == r.camera_id and r.start <= last.end:
            merged[-1] = TimeRange(r.camera_id, last.start, max(last.end, r.end))
        else:
            merged.append(r)
    return merged


def appearance_ranges(appearances: Iterable[Appearance], pad_s: float) -> list[TimeRange]:
    """The footage to export or erase for some hits: each sighting with ``pad_s`` seconds
    either side, merged per camera."""
    pad = timedelta(seconds=pad_s)
    return merge_ranges(
        TimeRange(a.camera_id, a.first_at - pad, a.last_at + pad) for a in appearances
    )


def confirmation_ok(confirm: str | None) -> bool:
    """Erasure is irreversible: the caller must type the confirmation word."""
    return confirm is not None and confirm.strip() == ERASE_CONFIRMATION

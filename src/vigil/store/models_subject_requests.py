"""Tables of data-subject requests (``domain/subject_requests.py``; migration 0008).

No foreign key to cameras: a request, its hits and its record outlive the cameras they name,
like the audit trail. Requests are never deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.models import Base
from vigil.store.types import UTCDateTime, utcnow


class SubjectRequest(Base):
    """A request of a data subject: who they are, what they asked for, on what legal basis,
    where to look for them, and how far the work has got."""

    __tablename__ = "subject_requests"
    __table_args__ = (Index("ix_subject_requests_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # access | erasure
    status: Mapped[str] = mapped_column(String(16), default="open")
    subject: Mapped[str] = mapped_column(Text)  # description of the person or vehicle
    legal_reference: Mapped[str] = mapped_column(String(500))
    requester_contact: Mapped[str] = mapped_column(String(500))
    # domain/subject_requests.py SearchCriteria as JSON.
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The reference face: an image under the data directory and its descriptor; both are
    # removed when the request is closed (the record keeps that there was one).
    face_image: Mapped[str | None] = mapped_column(String(1000))
    face_descriptor: Mapped[list[float] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(120))
    close_note: Mapped[str | None] = mapped_column(Text)
    # The request's long work (a search, an export) run in the background: one at a time.
    job_kind: Mapped[str | None] = mapped_column(String(16))  # search | export
    job_state: Mapped[str | None] = mapped_column(String(16))  # running|done|cancelled|failed
    job_progress: Mapped[float] = mapped_column(Float, default=0.0)
    job_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_error: Mapped[str | None] = mapped_column(Text)
    job_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    job_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written with the progress: a running job without a recent beat was interrupted.
    job_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    job_cancel: Mapped[bool] = mapped_column(Boolean, default=False)
    export_file: Mapped[str | None] = mapped_column(String(1000))  # the latest access export


class SubjectRequestHit(Base):
    """Where a search found the subject: one appearance on one camera (consecutive sightings
    merged), with the best sighting's box, score and thumbnail."""

    __tablename__ = "subject_request_hits"
    __table_args__ = (Index("ix_subject_request_hits_request", "request_id", "camera_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # plate | face
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    at: Mapped[datetime] = mapped_column(UTCDateTime)  # the best sighting
    box: Mapped[list[float]] = mapped_column(JSON)  # pixels x1, y1, x2, y2 in that frame
    score: Mapped[float] = mapped_column(Float)  # 0..1, higher is surer
    text: Mapped[str | None] = mapped_column(String(40))  # the plate as read
    sightings: Mapped[int] = mapped_column(Integer, default=1)
    thumbnail: Mapped[str | None] = mapped_column(String(1000))  # under the data directory
    # The DPO confirms the subject (true) or sets a false match aside (false).
    selected: Mapped[bool] = mapped_column(Boolean, default=True)


class SubjectRequestEntry(Base):
    """The request's record: who did what when (created, searched, exported, erased, closed),
    with the facts of it (ranges, files, reasons). Never changed or deleted."""

    __tablename__ = "subject_request_entries"
    __table_args__ = (Index("ix_subject_request_entries_request", "request_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

"""Tables of registers: lists of vehicles (stolen, wanted, permits...) whose plates are looked
for in every reading, and of persons whose faces are looked for where an administrator
switched face matching on (``store/registers.py``; migrations 0012 and 0013)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.models import Base
from vigil.store.types import UTCDateTime, utcnow


class Register(Base):
    """A list of vehicles, as a national register or the city keeps it."""

    __tablename__ = "registers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # vehicles | persons
    category: Mapped[str] = mapped_column(String(32))  # stolen, wanted, permit, blocked...
    description: Mapped[str | None] = mapped_column(Text)
    # A reading one OCR confusion away from an entry matches it (with a lower score).
    fuzzy: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who sees it, edits its entries and is alerted by its hits (domain.registers.Access).
    access: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Kept in step with a file at a URL (the national register's export): "full" (the file
    # is the register: what it lacks is removed) or "delta" (rows add or replace; a row with
    # action "delete" removes), fetched every sync_every_s with ETag / Last-Modified.
    sync_url: Mapped[str | None] = mapped_column(String(1000))
    sync_mode: Mapped[str] = mapped_column(String(8), default="full")
    sync_every_s: Mapped[int] = mapped_column(Integer, default=3600)
    sync_etag: Mapped[str | None] = mapped_column(String(200))
    sync_modified: Mapped[str | None] = mapped_column(String(100))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sync_error: Mapped[str | None] = mapped_column(Text)


class RegisterEntry(Base):
    """One vehicle on a register, valid from ``valid_from`` until ``valid_until`` (either
    open): outside that it is kept but matches nothing."""

    __tablename__ = "register_entries"
    __table_args__ = (
        UniqueConstraint("register_id", "key", name="uq_register_entries_key"),
        Index("ix_register_entries_key", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    register_id: Mapped[int] = mapped_column(ForeignKey("registers.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(32))  # the plate, normalised; a person: an id
    label: Mapped[str | None] = mapped_column(String(200))  # make, model...; a person's name
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A person's face as enrolled (a crop under the data directory), shown beside a hit.
    photo: Mapped[str | None] = mapped_column(String(1000))


class RegisterFace(Base):
    """One enrolment photo's face descriptor of a person on a register (the photo itself is
    not kept beyond the entry's one crop)."""

    __tablename__ = "register_faces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("register_entries.id", ondelete="CASCADE"), index=True
    )
    descriptor: Mapped[list[float]] = mapped_column(JSON)

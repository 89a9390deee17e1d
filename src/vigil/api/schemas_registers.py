"""Request and response bodies of the registers API (``/api/registers``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from vigil.domain.registers import Category, EntryData, RegisterAccess


class RegisterCreate(BaseModel):
    """A new register of vehicles."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=120)
    kind: Literal["vehicles", "persons"] = Field(
        "vehicles", description="vehicles (by plate) or persons (by face)"
    )
    category: Category = Field(description="stolen, wanted, blocked, permit or watch")
    description: str | None = Field(None, max_length=2000)
    fuzzy: bool = Field(True, description="a reading one OCR confusion away matches (0.9)")
    sync_url: AnyHttpUrl | None = Field(
        None, description="a CSV file kept in step with (the register's export)"
    )
    sync_mode: Literal["full", "delta"] = Field(
        "full", description="full: the file is the register; delta: rows add, replace, delete"
    )
    sync_every_s: int = Field(3600, ge=60, le=7 * 86400)
    access: RegisterAccess = Field(
        default_factory=RegisterAccess,
        description="who sees it, edits its entries and is alerted by its hits (role names)",
    )


class RegisterPublic(BaseModel):
    """A register and how many entries it holds (and of those, valid now)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: str
    category: str
    description: str | None
    fuzzy: bool
    created_by: str | None
    created_at: datetime
    sync_url: str | None
    sync_mode: str
    sync_every_s: int
    synced_at: datetime | None
    sync_error: str | None
    entries: int = 0
    active: int = 0
    access: RegisterAccess = Field(default_factory=RegisterAccess)
    editable: bool = Field(False, description="whether the caller may change its entries")


class EntryPublic(BaseModel):
    """One vehicle on a register; ``active``: valid now."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    plate: str = Field(validation_alias="key")
    label: str | None
    reason: str | None
    source: str | None
    owner: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    created_by: str | None
    updated_at: datetime
    active: bool = False
    photo_url: str | None = Field(None, description="a person's enrolled face")


class EntriesPut(BaseModel):
    """Entries to add (an entry of the same plate is replaced)."""

    model_config = ConfigDict(extra="forbid")
    entries: list[EntryData] = Field(min_length=1, max_length=10_000)


class ImportResult(BaseModel):
    """What an import or a sync did: entries added, replaced and removed, and the rows it
    could not read (``changed`` false: the synced file had not changed)."""

    added: int
    updated: int
    removed: int = 0
    errors: list[str]
    changed: bool = True

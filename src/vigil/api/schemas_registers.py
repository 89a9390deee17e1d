"""Request and response bodies of the registers API (``/api/registers``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.domain.registers import Category, EntryData


class RegisterCreate(BaseModel):
    """A new register of vehicles."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=120)
    category: Category = Field(description="stolen, wanted, blocked, permit or watch")
    description: str | None = Field(None, max_length=2000)
    fuzzy: bool = Field(True, description="a reading one OCR confusion away matches (0.9)")


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
    entries: int = 0
    active: int = 0


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


class EntriesPut(BaseModel):
    """Entries to add (an entry of the same plate is replaced)."""

    model_config = ConfigDict(extra="forbid")
    entries: list[EntryData] = Field(min_length=1, max_length=10_000)


class ImportResult(BaseModel):
    """What an import did: entries added and replaced, and the rows it could not read."""

    added: int
    updated: int
    errors: list[str]

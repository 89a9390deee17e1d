"""Registers of vehicles (stolen, wanted, permits, blocked): what an entry holds, how a CSV
file of them is read, and how a reading matches one (pure; stored by ``store/registers.py``).

A CSV file has a header row; ``plate`` is required, ``label``, ``reason``, ``source``,
``owner``, ``valid_from`` and ``valid_until`` (ISO 8601; a date alone is midnight UTC) are
optional, and ``action`` ``delete`` on a row takes its plate off the register (a delta file);
other columns are ignored. Rows that cannot be read are named with their line and the others
still imported.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigil.domain.plates import normalise_plate

__all__ = [
    "CATEGORIES",
    "EXACT_SCORE",
    "FUZZY_SCORE",
    "EntryData",
    "ParsedEntries",
    "RegisterAccess",
    "parse_entries_csv",
]

CATEGORIES = ("stolen", "wanted", "blocked", "permit", "watch")
"""What a register is for: the first three are looked for, a permit list says who may park
or pass (a rule alarms on a vehicle *not* on it), a watch list is for attention only."""
Category = Literal["stolen", "wanted", "blocked", "permit", "watch"]
EXACT_SCORE = 1.0
FUZZY_SCORE = 0.9
"""Match score of a reading one OCR confusion away from an entry (on a fuzzy register)."""
MAX_CSV_ROWS = 200_000


class RegisterAccess(BaseModel):
    """Who may do what with one register, by role name; an empty list keeps the default.

    * ``see``: list it and read its entries. Default: whoever searches or works alarms.
    * ``edit``: add, change, import and remove entries. Default: administrators only.
    * ``alert``: be shown its hits (events, alarms, live messages, pushes). Default: whoever
      sees the camera's alarms.

    Administrators (``manage``) always see and edit a register (they set its access, which
    is audited) but are alerted only as ``alert`` says: a watchlist of persons can be kept
    to the few officers who work it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    see: list[str] = Field(default_factory=list, max_length=50)
    edit: list[str] = Field(default_factory=list, max_length=50)
    alert: list[str] = Field(default_factory=list, max_length=50)

    def roles(self) -> set[str]:
        """Every role the access names."""
        return {*self.see, *self.edit, *self.alert}

    def sees(self, roles: set[str], *, manager: bool, reader: bool) -> bool:
        """Whether a user holding ``roles`` may see the register (``reader``: the user
        searches or works alarms somewhere). Those who edit it see it."""
        if manager or not roles.isdisjoint(self.edit):
            return True
        return not roles.isdisjoint(self.see) if self.see else reader

    def edits(self, roles: set[str], *, manager: bool) -> bool:
        """Whether a user holding ``roles`` may change its entries."""
        return manager or not roles.isdisjoint(self.edit)

    def alerts(self, roles: set[str]) -> bool:
        """Whether a user holding ``roles`` is shown its hits."""
        return not self.alert or not roles.isdisjoint(self.alert)


class EntryData(BaseModel):
    """One vehicle on a register."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    plate: str = Field(min_length=1, max_length=32)
    label: str | None = Field(None, max_length=200, description="make, model, colour")
    reason: str | None = Field(None, max_length=2000)
    source: str | None = Field(None, max_length=200, description="who listed it")
    owner: str | None = Field(None, max_length=200)
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @field_validator("plate")
    @classmethod
    def _normalised(cls, plate: str) -> str:
        key = normalise_plate(plate)
        if not 2 <= len(key) <= 12:
            raise ValueError(f"{plate!r} is not a plate (2-12 letters and digits)")
        return key

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @field_validator("label", "reason", "source", "owner")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def active(self, at: datetime) -> bool:
        """Whether the entry is valid at ``at``."""
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )


@dataclass(slots=True)
class ParsedEntries:
    """What a CSV file says: entries to add or replace, plates to remove, unreadable rows."""

    entries: list[EntryData] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_entries_csv(text: str) -> ParsedEntries:
    """The entries of a CSV file and, for each row that cannot be read, why ("line 7:
    plate: ..."). Raises ValueError when the file has no ``plate`` column or too many rows."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    if "plate" not in columns:
        raise ValueError("the CSV file needs a header row with a 'plate' column")
    fields = [f for f in EntryData.model_fields if f in columns]
    parsed = ParsedEntries()
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_CSV_ROWS:
            raise ValueError(f"more than {MAX_CSV_ROWS} rows: split the file")
        values = {f: (row.get(columns[f]) or "").strip() or None for f in fields}
        action = (row.get(columns["action"]) or "").strip().lower() if "action" in columns else ""
        if not any(values.values()):
            continue  # a blank line
        try:
            entry = EntryData.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            parsed.errors.append(f"line {number}: {where}: {first['msg']}")
            continue
        if action in ("", "add", "upsert", "update"):
            parsed.entries.append(entry)
        elif action in ("delete", "remove"):
            parsed.removed.append(entry.plate)
        else:
            parsed.errors.append(f"line {number}: action: {action!r} is not add or delete")
    return parsed

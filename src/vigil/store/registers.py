"""Registers of vehicles and their entries; looking a plate reading up in all of them."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from vigil.domain.errors import Conflict
from vigil.domain.plates import confusable_variants, normalise_plate
from vigil.domain.registers import EXACT_SCORE, FUZZY_SCORE, EntryData, RegisterAccess
from vigil.store.db import Database
from vigil.store.models_registers import Register, RegisterEntry, RegisterFace
from vigil.store.types import utcnow

__all__ = [
    "SYNC_RETRY_S",
    "RegisterMatch",
    "claim_due_syncs",
    "create_register",
    "delete_entry",
    "delete_register",
    "get_entry",
    "get_register",
    "list_entries",
    "list_registers",
    "lookup_plate",
    "put_entries",
    "record_sync",
    "remove_entries",
    "replace_entries",
]


@dataclass(frozen=True, slots=True)
class RegisterMatch:
    """A reading found on a register."""

    register_id: int
    register: str
    category: str
    entry_id: int
    plate: str
    label: str | None
    reason: str | None
    source: str | None
    owner: str | None
    valid_until: datetime | None
    score: float


SYNC_RETRY_S = 300
"""A sync that failed is tried again this long after (or at its interval, when shorter)."""


def create_register(
    db: Database,
    *,
    name: str,
    category: str,
    kind: str = "vehicles",
    description: str | None = None,
    fuzzy: bool = True,
    sync_url: str | None = None,
    sync_mode: str = "full",
    sync_every_s: int = 3600,
    access: dict[str, list[str]] | None = None,
    created_by: str | None = None,
) -> Register:
    """Add a register of vehicles; :class:`Conflict` when the name is taken."""
    try:
        with db.session() as s:
            register = Register(
                name=name,
                kind=kind,
                category=category,
                description=description,
                access=access or {},
                fuzzy=fuzzy,
                sync_url=sync_url,
                sync_mode=sync_mode,
                sync_every_s=sync_every_s,
                created_by=created_by,
            )
            s.add(register)
            s.flush()
            return register
    except IntegrityError:
        raise Conflict(f"a register named {name!r} exists already") from None


def list_registers(db: Database, at: datetime | None = None) -> list[tuple[Register, int, int]]:
    """Every register with its number of entries and of those active at ``at`` (now)."""
    now = at or utcnow()
    active = (RegisterEntry.valid_from.is_(None) | (RegisterEntry.valid_from <= now)) & (
        RegisterEntry.valid_until.is_(None) | (RegisterEntry.valid_until > now)
    )
    counts = (
        select(
            RegisterEntry.register_id,
            func.count().label("entries"),
            func.count().filter(active).label("active"),
        )
        .group_by(RegisterEntry.register_id)
        .subquery()
    )
    query = (
        select(Register, counts.c.entries, counts.c.active)
        .outerjoin(counts, counts.c.register_id == Register.id)
        .order_by(Register.name)
    )
    with db.session() as s:
        return [(r, entries or 0, live or 0) for r, entries, live in s.execute(query).all()]


def get_register(db: Database, register_id: int) -> Register | None:
    """One register, or None."""
    with db.session() as s:
        return s.get(Register, register_id)


def access_of(register: Register) -> RegisterAccess:
    """Who may see, edit and be alerted by a register."""
    return RegisterAccess.model_validate(register.access or {})


def set_access(db: Database, register_id: int, access: RegisterAccess) -> Register | None:
    """Replace a register's access; None when the register does not exist."""
    with db.session() as s:
        register = s.get(Register, register_id)
        if register is not None:
            register.access = access.model_dump()
        return register


def hidden_registers(db: Database, roles: set[str]) -> frozenset[int]:
    """The registers whose hits a user holding ``roles`` is not shown (their ``alert``
    names only other roles)."""
    with db.session() as s:
        rows = s.execute(select(Register.id, Register.access)).all()
    return frozenset(
        i for i, access in rows if not RegisterAccess.model_validate(access or {}).alerts(roles)
    )


def not_hidden(
    column: InstrumentedAttribute[int | None], hidden: Collection[int]
) -> ColumnElement[bool]:
    """A condition on a register id column (events', alarms'): not a hit on ``hidden``."""
    return or_(column.is_(None), column.not_in(hidden)) if hidden else true()


def delete_register(db: Database, register_id: int) -> bool:
    """Remove a register and its entries; False when it did not exist."""
    with db.session() as s:
        register = s.get(Register, register_id)
        if register is None:
            return False
        s.delete(register)
        return True


def put_entries(
    db: Database, register_id: int, entries: Sequence[EntryData], *, by: str | None = None
) -> tuple[int, int]:
    """Add entries, replacing those of the same plate (a register's file sent again updates
    it); returns (added, updated). The last of several rows for one plate wins."""
    latest = {e.plate: e for e in entries}
    added = updated = 0
    with db.session() as s:
        existing = {
            e.key: e
            for e in s.scalars(
                select(RegisterEntry).where(
                    RegisterEntry.register_id == register_id,
                    RegisterEntry.key.in_(list(latest)),
                )
            )
        }
        for plate, data in latest.items():
            values = data.model_dump(exclude={"plate"})
            row = existing.get(plate)
            if row is None:
                s.add(RegisterEntry(register_id=register_id, key=plate, created_by=by, **values))
                added += 1
            else:
                for field, value in values.items():
                    setattr(row, field, value)
                row.created_by = by
                updated += 1
    return added, updated


def remove_entries(db: Database, register_id: int, plates: Sequence[str]) -> int:
    """Take plates off a register; returns how many were on it."""
    if not plates:
        return 0
    with db.session() as s:
        result = s.execute(
            delete(RegisterEntry).where(
                RegisterEntry.register_id == register_id, RegisterEntry.key.in_(list(plates))
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def replace_entries(
    db: Database, register_id: int, entries: Sequence[EntryData], *, by: str | None = None
) -> tuple[int, int, int]:
    """Make the register hold exactly these entries (a full file of the register): returns
    (added, updated, removed)."""
    keep = {e.plate for e in entries}
    with db.session() as s:
        listed = set(
            s.scalars(select(RegisterEntry.key).where(RegisterEntry.register_id == register_id))
        )
    removed = remove_entries(db, register_id, sorted(listed - keep))
    added, updated = put_entries(db, register_id, entries, by=by)
    return added, updated, removed


def claim_due_syncs(db: Database, now: datetime) -> list[int]:
    """The registers whose sync is due, each claimed for this caller (its ``synced_at`` moved
    to ``now`` only if no other server moved it first)."""
    with db.session() as s:
        candidates = s.execute(
            select(Register.id, Register.synced_at, Register.sync_every_s).where(
                Register.sync_url.is_not(None)
            )
        ).all()
    claimed: list[int] = []
    for register_id, synced_at, every_s in candidates:
        if synced_at is not None and synced_at + timedelta(seconds=every_s) > now:
            continue
        with db.session() as s:
            result = s.execute(
                update(Register)
                .where(
                    Register.id == register_id,
                    Register.synced_at.is_(None)
                    if synced_at is None
                    else Register.synced_at == synced_at,
                )
                .values(synced_at=now)
            )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(register_id)
    return claimed


def record_sync(
    db: Database,
    register_id: int,
    *,
    at: datetime,
    error: str | None = None,
    etag: str | None = None,
    modified: str | None = None,
) -> None:
    """Note a sync's outcome: the validators of the file on success; on failure the error,
    and the next try in ``SYNC_RETRY_S`` (or the interval, when shorter)."""
    with db.session() as s:
        register = s.get(Register, register_id)
        if register is None:
            return
        register.sync_error = error
        if error is None:
            register.synced_at = at
            register.sync_etag, register.sync_modified = etag, modified
        else:
            early = max(0, register.sync_every_s - SYNC_RETRY_S)
            register.synced_at = at - timedelta(seconds=early)


def list_entries(
    db: Database,
    register_id: int,
    *,
    plate: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> Sequence[RegisterEntry]:
    """A register's entries by plate; ``plate`` narrows to plates starting with it."""
    query = select(RegisterEntry).where(RegisterEntry.register_id == register_id)
    if plate:
        query = query.where(RegisterEntry.key.startswith(normalise_plate(plate)))
    with db.session() as s:
        return s.scalars(query.order_by(RegisterEntry.key).limit(limit).offset(offset)).all()


def get_entry(db: Database, register_id: int, entry_id: int) -> RegisterEntry | None:
    """One entry of a register, or None."""
    with db.session() as s:
        entry = s.get(RegisterEntry, entry_id)
        return entry if entry is not None and entry.register_id == register_id else None


def delete_entry(db: Database, register_id: int, entry_id: int) -> RegisterEntry | None:
    """Remove one entry; returns it (None when it was not on that register)."""
    with db.session() as s:
        entry = s.get(RegisterEntry, entry_id)
        if entry is None or entry.register_id != register_id:
            return None
        s.delete(entry)
        return entry


def lookup_plate(db: Database, plate: str, at: datetime) -> list[RegisterMatch]:
    """The entries valid at ``at`` that a reading matches: its plate exactly, or on a fuzzy
    register one OCR confusion away (``plates_match``), best first."""
    key = normalise_plate(plate)
    if not key:
        return []
    query = (
        select(RegisterEntry, Register)
        .join(Register, Register.id == RegisterEntry.register_id)
        .where(Register.kind == "vehicles")
        .where(RegisterEntry.key.in_(sorted(confusable_variants(key))))
    )
    found: list[RegisterMatch] = []
    with db.session() as s:
        for entry, register in s.execute(query).all():
            exact = entry.key == key
            if not (exact or register.fuzzy):
                continue
            if entry.valid_from is not None and entry.valid_from > at:
                continue
            if entry.valid_until is not None and entry.valid_until <= at:
                continue
            found.append(
                RegisterMatch(
                    register_id=register.id,
                    register=register.name,
                    category=register.category,
                    entry_id=entry.id,
                    plate=entry.key,
                    label=entry.label,
                    reason=entry.reason,
                    source=entry.source,
                    owner=entry.owner,
                    valid_until=entry.valid_until,
                    score=EXACT_SCORE if exact else FUZZY_SCORE,
                )
            )
    return sorted(found, key=lambda m: (-m.score, m.register, m.plate))


@dataclass(frozen=True, slots=True)
class ListedFace:
    """A person on a register valid now, with the descriptors of their enrolment photos."""

    match: RegisterMatch
    descriptors: list[list[float]]
    photo: str | None


def add_person(
    db: Database,
    register_id: int,
    *,
    name: str,
    descriptors: Sequence[Sequence[float]],
    photo: str | None,
    reason: str | None = None,
    source: str | None = None,
    valid_until: datetime | None = None,
    by: str | None = None,
) -> RegisterEntry:
    """Put a person on a register with their faces (one descriptor per enrolment photo)."""
    with db.session() as s:
        entry = RegisterEntry(
            register_id=register_id,
            key=uuid.uuid4().hex,
            label=name,
            reason=reason,
            source=source,
            valid_until=valid_until,
            photo=photo,
            created_by=by,
        )
        s.add(entry)
        s.flush()
        s.add_all(
            RegisterFace(entry_id=entry.id, descriptor=[float(v) for v in d]) for d in descriptors
        )
        return entry


def face_gallery(db: Database, at: datetime) -> list[ListedFace]:
    """Every person on a register valid at ``at``, with their faces."""
    query = (
        select(RegisterEntry, Register, RegisterFace.descriptor)
        .join(Register, Register.id == RegisterEntry.register_id)
        .join(RegisterFace, RegisterFace.entry_id == RegisterEntry.id)
        .where(Register.kind == "persons")
        .where(RegisterEntry.valid_from.is_(None) | (RegisterEntry.valid_from <= at))
        .where(RegisterEntry.valid_until.is_(None) | (RegisterEntry.valid_until > at))
    )
    listed: dict[int, ListedFace] = {}
    with db.session() as s:
        for entry, register, descriptor in s.execute(query).all():
            face = listed.get(entry.id)
            if face is None:
                match = RegisterMatch(
                    register_id=register.id,
                    register=register.name,
                    category=register.category,
                    entry_id=entry.id,
                    plate=entry.label or entry.key,
                    label=entry.label,
                    reason=entry.reason,
                    source=entry.source,
                    owner=entry.owner,
                    valid_until=entry.valid_until,
                    score=0.0,
                )
                face = listed[entry.id] = ListedFace(match, [], entry.photo)
            face.descriptors.append(list(descriptor))
    return list(listed.values())

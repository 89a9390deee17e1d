"""Registers of vehicles (stolen, wanted, blocked, permits): lists, entries, CSV import.

Reading them is for those who search (investigators, operators of the alarm queue); changing
them is an administrator's, and every change is audited with who, from where and how many.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from vigil.api.auth import ManageUser, Principal, client_address, require
from vigil.api.deps import ContextDep
from vigil.api.schemas_registers import (
    EntriesPut,
    EntryPublic,
    ImportResult,
    RegisterCreate,
    RegisterPublic,
)
from vigil.domain.permissions import Permission
from vigil.domain.registers import parse_entries_csv
from vigil.registers.sync import SyncFailed
from vigil.security import audit
from vigil.store import registers as register_store
from vigil.store.models_registers import Register, RegisterEntry
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/registers", tags=["registers"])

Reader = Annotated[Principal, Depends(require(Permission.SEARCH, Permission.ALARMS))]
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def _found(ctx: ContextDep, register_id: int) -> Register:
    register = register_store.get_register(ctx.db, register_id)
    if register is None:
        raise HTTPException(404, f"register {register_id} not found")
    return register


def _entry(entry: RegisterEntry) -> EntryPublic:
    public = EntryPublic.model_validate(entry)
    now = utcnow()
    public.active = (entry.valid_from is None or entry.valid_from <= now) and (
        entry.valid_until is None or now < entry.valid_until
    )
    return public


def _audit(
    ctx: ContextDep,
    request: Request,
    user: Principal,
    action: str,
    register: Register,
    **details: object,
) -> None:
    audit.record(
        ctx.db,
        action=f"register.{action}",
        username=user.username,
        target=f"register:{register.id}",
        address=client_address(request),
        details={"register": register.name, **details},
    )


@router.get("", response_model=list[RegisterPublic])
def list_registers(_: Reader, ctx: ContextDep) -> list[RegisterPublic]:
    """Every register with its number of entries and of those valid now."""
    return [
        RegisterPublic.model_validate(r).model_copy(update={"entries": n, "active": live})
        for r, n, live in register_store.list_registers(ctx.db)
    ]


@router.post("", response_model=RegisterPublic, status_code=status.HTTP_201_CREATED)
def create_register(
    body: RegisterCreate, request: Request, user: ManageUser, ctx: ContextDep
) -> RegisterPublic:
    """Add a register (409 when the name is taken)."""
    values = body.model_dump()
    values["sync_url"] = str(body.sync_url) if body.sync_url else None
    register = register_store.create_register(ctx.db, **values, created_by=user.username)
    _audit(ctx, request, user, "create", register, category=register.category)
    return RegisterPublic.model_validate(register)


@router.delete("/{register_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_register(
    register_id: int, request: Request, user: ManageUser, ctx: ContextDep
) -> Response:
    """Remove a register and its entries."""
    register = _found(ctx, register_id)
    register_store.delete_register(ctx.db, register_id)
    _audit(ctx, request, user, "delete", register)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{register_id}/entries", response_model=list[EntryPublic])
def list_entries(
    register_id: int,
    _: Reader,
    ctx: ContextDep,
    plate: Annotated[str | None, Query(max_length=32, description="plates starting so")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EntryPublic]:
    """A register's entries by plate."""
    _found(ctx, register_id)
    found = register_store.list_entries(
        ctx.db, register_id, plate=plate, limit=limit, offset=offset
    )
    return [_entry(e) for e in found]


@router.post("/{register_id}/entries", response_model=ImportResult)
def put_entries(
    register_id: int, body: EntriesPut, request: Request, user: ManageUser, ctx: ContextDep
) -> ImportResult:
    """Add entries; one of a plate already listed replaces it."""
    register = _found(ctx, register_id)
    added, updated = register_store.put_entries(ctx.db, register_id, body.entries, by=user.username)
    plates = [e.plate for e in body.entries][:20]
    _audit(ctx, request, user, "entries", register, added=added, updated=updated, plates=plates)
    return ImportResult(added=added, updated=updated, errors=[])


@router.delete("/{register_id}/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_entry(
    register_id: int, entry_id: int, request: Request, user: ManageUser, ctx: ContextDep
) -> Response:
    """Take a vehicle off a register."""
    register = _found(ctx, register_id)
    entry = register_store.delete_entry(ctx.db, register_id, entry_id)
    if entry is None:
        raise HTTPException(404, f"entry {entry_id} is not on register {register_id}")
    _audit(ctx, request, user, "entry_delete", register, plate=entry.key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{register_id}/import",
    response_model=ImportResult,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_csv(
    register_id: int, request: Request, user: ManageUser, ctx: ContextDep
) -> ImportResult:
    """Import a CSV file (the body, ``text/csv``): a header row with ``plate`` and optionally
    ``label``, ``reason``, ``source``, ``owner``, ``valid_from``, ``valid_until``, ``action``
    (``delete`` takes the plate off). Rows that cannot be read are listed by line; the others
    are imported."""
    register = _found(ctx, register_id)
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"a CSV file of at most {MAX_IMPORT_BYTES // 2**20} MB")
    try:
        parsed = parse_entries_csv(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise HTTPException(422, "the CSV file is not UTF-8 text") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    added, updated = register_store.put_entries(
        ctx.db, register_id, parsed.entries, by=user.username
    )
    removed = register_store.remove_entries(ctx.db, register_id, parsed.removed)
    counts = {"added": added, "updated": updated, "removed": removed}
    _audit(ctx, request, user, "import", register, **counts, errors=len(parsed.errors))
    return ImportResult(**counts, errors=parsed.errors[:100])


@router.post("/{register_id}/sync", response_model=ImportResult)
async def sync_register(
    register_id: int, request: Request, user: ManageUser, ctx: ContextDep
) -> ImportResult:
    """Fetch the register's file now (it has a ``sync_url``); 502 when it cannot be fetched
    or read, with the reason (also kept on the register)."""
    _found(ctx, register_id)
    try:
        result = await ctx.register_sync.sync(register_id, by=user.username)
    except SyncFailed as exc:
        raise HTTPException(502, str(exc)) from None
    return ImportResult(
        added=result.added,
        updated=result.updated,
        removed=result.removed,
        errors=list(result.errors[:100]),
        changed=result.changed,
    )

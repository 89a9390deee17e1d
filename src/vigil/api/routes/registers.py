"""Registers of vehicles (stolen, wanted, blocked, permits): lists, entries, CSV import.

Reading them is for those who search (investigators, operators of the alarm queue); changing
them is an administrator's, and every change is audited with who, from where and how many.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from vigil.api.auth import ManageUser, Principal, client_address, require
from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.routes.events import snapshot_file
from vigil.api.schemas_registers import (
    EntriesPut,
    EntryPublic,
    ImportResult,
    RegisterCreate,
    RegisterPublic,
)
from vigil.domain.permissions import Permission
from vigil.domain.registers import parse_entries_csv
from vigil.privacy.files import PRIVACY_DIR, write_atomic
from vigil.privacy.reference import (
    MAX_REFERENCE_BYTES,
    ReferenceImageError,
    image_type,
    one_face,
)
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
    if entry.photo:
        public.photo_url = f"/api/registers/{entry.register_id}/entries/{entry.id}/photo"
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


MAX_PHOTOS = 10


@router.post(
    "/{register_id}/persons",
    response_model=EntryPublic,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["name", "photos"],
                        "properties": {
                            "name": {"type": "string", "maxLength": 200},
                            "reason": {"type": "string", "maxLength": 2000},
                            "source": {"type": "string", "maxLength": 200},
                            "valid_until": {"type": "string", "format": "date-time"},
                            "photos": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": f"1 to {MAX_PHOTOS} photos, one face each",
                            },
                        },
                    }
                }
            }
        }
    },
)
async def enrol_person(
    register_id: int, request: Request, user: ManageUser, ctx: ContextDep
) -> EntryPublic:
    """Put a person on a register of persons: a name, why, and 1 to 10 photos (JPEG or PNG,
    each showing the person's face alone; several photos, from different days and angles,
    match better). A photo with no face or several is refused, naming it; only each face's
    descriptor is kept, and the first face as the entry's picture."""
    register = _found(ctx, register_id)
    if register.kind != "persons":
        raise HTTPException(422, f"register {register.name} lists vehicles, not persons")
    async with request.form(max_files=MAX_PHOTOS, max_fields=8) as form:
        name = form.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise FieldError("name", "give the person's name (1-200 characters)")
        texts = {k: form.get(k) for k in ("reason", "source", "valid_until")}
        uploads = form.getlist("photos")
        if not uploads or not all(isinstance(u, UploadFile) for u in uploads):
            raise FieldError("photos", f"give 1 to {MAX_PHOTOS} photos of the person as files")
        photos = [
            (u.filename or f"photo {i + 1}", await u.read(MAX_REFERENCE_BYTES + 1), u.content_type)
            for i, u in enumerate(uploads)
            if isinstance(u, UploadFile)
        ]
    until = texts["valid_until"]
    try:
        valid_until = datetime.fromisoformat(until) if isinstance(until, str) and until else None
    except ValueError:
        raise FieldError("valid_until", "an ISO 8601 date and time") from None
    if valid_until is not None and valid_until.tzinfo is None:
        valid_until = valid_until.replace(tzinfo=UTC)
    descriptors: list[list[float]] = []
    first_face = b""
    for filename, data, declared in photos:
        try:
            image_type(data, declared)
            descriptor, face = await asyncio.to_thread(one_face, data, f"photo {filename!r}")
        except ReferenceImageError as exc:
            raise FieldError("photos", str(exc)) from None
        except RuntimeError as exc:  # dlib or its models missing: the server's problem
            raise HTTPException(503, f"faces cannot be enrolled on this server: {exc}") from None
        descriptors.append(descriptor)
        first_face = first_face or face
    photo = None
    if first_face:
        relative = Path(PRIVACY_DIR) / "registers" / f"{uuid.uuid4().hex}.jpg"
        write_atomic(ctx.settings.data_dir / relative, first_face)
        photo = relative.as_posix()
    entry = register_store.add_person(
        ctx.db,
        register_id,
        name=name.strip(),
        descriptors=descriptors,
        photo=photo,
        reason=texts["reason"] if isinstance(texts["reason"], str) else None,
        source=texts["source"] if isinstance(texts["source"], str) else None,
        valid_until=valid_until,
        by=user.username,
    )
    _audit(ctx, request, user, "person", register, entry=entry.id, photos=len(descriptors))
    return _entry(entry)


@router.get("/{register_id}/entries/{entry_id}/photo", response_class=FileResponse)
def entry_photo(register_id: int, entry_id: int, _: Reader, ctx: ContextDep) -> FileResponse:
    """A person's enrolled face."""
    entry = register_store.get_entry(ctx.db, register_id, entry_id)
    if entry is None or not entry.photo:
        raise HTTPException(404, f"entry {entry_id} of register {register_id} has no photo")
    return snapshot_file(ctx, entry.photo)

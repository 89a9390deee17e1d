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

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from vigil.api.auth import CurrentUser, ManageUser, Principal, client_address
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
from vigil.domain.registers import RegisterAccess, parse_entries_csv
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
from vigil.store import users as user_store
from vigil.store.models_registers import Register, RegisterEntry
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/registers", tags=["registers"])

MAX_IMPORT_BYTES = 20 * 1024 * 1024
READING = frozenset({Permission.SEARCH, Permission.ALARMS})


def _manager(user: Principal) -> bool:
    return Permission.MANAGE in user.global_permissions()


def _sees(user: Principal, register: Register) -> bool:
    reader = not READING.isdisjoint(user.permissions_anywhere())
    access = register_store.access_of(register)
    return access.sees(user.role_names, manager=_manager(user), reader=reader)


def _found(ctx: ContextDep, register_id: int, user: Principal) -> Register:
    """The register, if the caller may see it; 404 otherwise, as for one that is not
    there (a restricted list's existence is not everybody's to know)."""
    register = register_store.get_register(ctx.db, register_id)
    if register is None or not _sees(user, register):
        raise HTTPException(404, f"register {register_id} not found")
    return register


def _editable(ctx: ContextDep, request: Request, register_id: int, user: Principal) -> Register:
    """The register, if the caller may change its entries: an administrator or a holder
    of a role its access lets edit; 403 naming those roles otherwise (audited)."""
    register = _found(ctx, register_id, user)
    access = register_store.access_of(register)
    if not access.edits(user.role_names, manager=_manager(user)):
        _audit(ctx, request, user, "denied", register)
        roles = ", ".join(access.edit) or "none"
        raise HTTPException(
            403, f"editing register {register.name} needs manage or one of these roles: {roles}"
        )
    return register


def _public(
    register: Register, user: Principal, entries: int = 0, active: int = 0
) -> RegisterPublic:
    access = register_store.access_of(register)
    return RegisterPublic.model_validate(register).model_copy(
        update={
            "entries": entries,
            "active": active,
            "access": access,
            "editable": access.edits(user.role_names, manager=_manager(user)),
        }
    )


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
def list_registers(user: CurrentUser, ctx: ContextDep) -> list[RegisterPublic]:
    """The registers the caller may see, each with its number of entries and of those
    valid now, its access and whether the caller may edit its entries."""
    return [
        _public(r, user, n, live)
        for r, n, live in register_store.list_registers(ctx.db)
        if _sees(user, r)
    ]


@router.post("", response_model=RegisterPublic, status_code=status.HTTP_201_CREATED)
def create_register(
    body: RegisterCreate, request: Request, user: ManageUser, ctx: ContextDep
) -> RegisterPublic:
    """Add a register (409 when the name is taken)."""
    values = body.model_dump()
    values["sync_url"] = str(body.sync_url) if body.sync_url else None
    values["access"] = _known_roles(ctx, body.access).model_dump()
    register = register_store.create_register(ctx.db, **values, created_by=user.username)
    _audit(ctx, request, user, "create", register, category=register.category, **values["access"])
    return _public(register, user)


def _known_roles(ctx: ContextDep, access: RegisterAccess) -> RegisterAccess:
    """The access, when every role it names exists; 422 naming those that do not."""
    known = {info.role.name for info in user_store.list_roles(ctx.db)}
    unknown = sorted(access.roles() - known)
    if unknown:
        raise FieldError("access", f"no role named {', '.join(unknown)}")
    return access


@router.put("/{register_id}/access", response_model=RegisterPublic)
def set_access(
    register_id: int, body: RegisterAccess, request: Request, user: ManageUser, ctx: ContextDep
) -> RegisterPublic:
    """Who sees the register, edits its entries and is alerted by its hits, by role name
    (an empty list keeps the default: readers see, administrators edit, all are alerted)."""
    before = register_store.access_of(_found(ctx, register_id, user))
    register = register_store.set_access(ctx.db, register_id, _known_roles(ctx, body))
    if register is None:
        raise HTTPException(404, f"register {register_id} not found")
    _audit(ctx, request, user, "access", register, before=before.model_dump(), **body.model_dump())
    return _public(register, user)


@router.delete("/{register_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_register(
    register_id: int, request: Request, user: ManageUser, ctx: ContextDep
) -> Response:
    """Remove a register and its entries."""
    register = _found(ctx, register_id, user)
    register_store.delete_register(ctx.db, register_id)
    _audit(ctx, request, user, "delete", register)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{register_id}/entries", response_model=list[EntryPublic])
def list_entries(
    register_id: int,
    user: CurrentUser,
    ctx: ContextDep,
    plate: Annotated[str | None, Query(max_length=32, description="plates starting so")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[EntryPublic]:
    """A register's entries by plate."""
    _found(ctx, register_id, user)
    found = register_store.list_entries(
        ctx.db, register_id, plate=plate, limit=limit, offset=offset
    )
    return [_entry(e) for e in found]


@router.post("/{register_id}/entries", response_model=ImportResult)
def put_entries(
    register_id: int, body: EntriesPut, request: Request, user: CurrentUser, ctx: ContextDep
) -> ImportResult:
    """Add entries; one of a plate already listed replaces it."""
    register = _editable(ctx, request, register_id, user)
    added, updated = register_store.put_entries(ctx.db, register_id, body.entries, by=user.username)
    plates = [e.plate for e in body.entries][:20]
    _audit(ctx, request, user, "entries", register, added=added, updated=updated, plates=plates)
    return ImportResult(added=added, updated=updated, errors=[])


@router.delete("/{register_id}/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_entry(
    register_id: int, entry_id: int, request: Request, user: CurrentUser, ctx: ContextDep
) -> Response:
    """Take a vehicle off a register."""
    register = _editable(ctx, request, register_id, user)
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
    register_id: int, request: Request, user: CurrentUser, ctx: ContextDep
) -> ImportResult:
    """Import a CSV file (the body, ``text/csv``): a header row with ``plate`` and optionally
    ``label``, ``reason``, ``source``, ``owner``, ``valid_from``, ``valid_until``, ``action``
    (``delete`` takes the plate off). Rows that cannot be read are listed by line; the others
    are imported."""
    register = await asyncio.to_thread(_editable, ctx, request, register_id, user)
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
    register_id: int, request: Request, user: CurrentUser, ctx: ContextDep
) -> ImportResult:
    """Fetch the register's file now (it has a ``sync_url``); 502 when it cannot be fetched
    or read, with the reason (also kept on the register)."""
    await asyncio.to_thread(_editable, ctx, request, register_id, user)
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
    register_id: int, request: Request, user: CurrentUser, ctx: ContextDep
) -> EntryPublic:
    """Put a person on a register of persons: a name, why, and 1 to 10 photos (JPEG or PNG,
    each showing the person's face alone; several photos, from different days and angles,
    match better). A photo with no face or several is refused, naming it; only each face's
    descriptor is kept, and the first face as the entry's picture."""
    register = await asyncio.to_thread(_editable, ctx, request, register_id, user)
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
def entry_photo(
    register_id: int, entry_id: int, user: CurrentUser, ctx: ContextDep
) -> FileResponse:
    """A person's enrolled face."""
    _found(ctx, register_id, user)
    entry = register_store.get_entry(ctx.db, register_id, entry_id)
    if entry is None or not entry.photo:
        raise HTTPException(404, f"entry {entry_id} of register {register_id} has no photo")
    return snapshot_file(ctx, entry.photo)

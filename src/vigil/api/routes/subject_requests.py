"""Data-subject requests (``/api/privacy/requests``): open one (with a reference face),
search the recordings for the subject, review the hits, export them redacted (access) or
erase them (erasure), close or reject. A data protection officer is an administrator here
(permission ``manage``); every action is audited and kept in the request's record."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from vigil.api.auth import ManageUser, Principal, client_address
from vigil.api.deps import ContextDep, ServerContext
from vigil.api.errors import FieldError
from vigil.api.routes.events import snapshot_file
from vigil.api.schemas_subject_requests import (
    CloseBody,
    EntryPublic,
    ErasureCreate,
    ErasurePublic,
    ExportCreate,
    HitPublic,
    HitUpdate,
    JobPublic,
    RejectBody,
    SubjectRequestCreate,
    SubjectRequestDetail,
    SubjectRequestPublic,
)
from vigil.domain.errors import Conflict
from vigil.domain.subject_requests import (
    ERASE_CONFIRMATION,
    RequestStatus,
    TimeRange,
    appearance_ranges,
    confirmation_ok,
)
from vigil.privacy import access_export, erasure, subject_search
from vigil.privacy.files import remove_files
from vigil.privacy.reference import (
    MAX_REFERENCE_BYTES,
    ReferenceImageError,
    face_descriptor,
    image_type,
    save_reference,
)
from vigil.security import audit
from vigil.store import subject_requests as store
from vigil.store.groups import missing_ids
from vigil.store.models_subject_requests import SubjectRequest, SubjectRequestHit

router = APIRouter(prefix="/api/privacy/requests", tags=["privacy"])

RequestId = Annotated[int, Path(description="the data-subject request")]
MAX_JSON_BYTES = 64 * 1024
MAX_FORM_BYTES = MAX_REFERENCE_BYTES + MAX_JSON_BYTES
_FORM_SCHEMA = {
    "requestBody": {
        "content": {
            # Inline (with its own $defs): no route takes the model as a plain body.
            "application/json": {"schema": SubjectRequestCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["request"],
                    "properties": {
                        "request": {
                            "type": "string",
                            "description": "SubjectRequestCreate as JSON",
                        },
                        "face": {
                            "type": "string",
                            "format": "binary",
                            "description": "reference photo of the subject: JPEG or PNG, "
                            "at most 5 MB, exactly one face",
                        },
                    },
                }
            },
        },
        "required": True,
    }
}


def _job(row: SubjectRequest) -> JobPublic | None:
    if row.job_kind is None or row.job_state is None:
        return None
    state = row.job_state
    if state == store.JOB_RUNNING and not store.job_running(row):
        state = "interrupted"
    return JobPublic(
        kind=row.job_kind,
        state=state,
        progress=row.job_progress,
        detail=row.job_detail or {},
        error=row.job_error,
        started_at=row.job_started_at,
        finished_at=row.job_finished_at,
    )


def _public(row: SubjectRequest, hits: int) -> SubjectRequestPublic:
    return SubjectRequestPublic.model_validate(
        {
            **{c: getattr(row, c) for c in SubjectRequestPublic.model_fields if hasattr(row, c)},
            "has_face": row.face_descriptor is not None,
            "job": _job(row),
            "hits": hits,
            "export_ready": row.export_file is not None,
        }
    )


def _detail(ctx: ServerContext, request_id: int) -> SubjectRequestDetail:
    row = store.get_request(ctx.db, request_id)
    hits = store.hit_counts(ctx.db).get(request_id, 0)
    record = [EntryPublic.model_validate(e) for e in store.entries(ctx.db, request_id)]
    return SubjectRequestDetail(**_public(row, hits).model_dump(), record=record)


def _hit(hit: SubjectRequestHit) -> HitPublic:
    return HitPublic(
        id=hit.id,
        camera_id=hit.camera_id,
        kind=hit.kind,
        first_at=hit.first_at,
        last_at=hit.last_at,
        at=hit.at,
        box=hit.box,
        score=hit.score,
        text=hit.text,
        sightings=hit.sightings,
        selected=hit.selected,
        thumbnail_url=(
            f"{router.prefix}/{hit.request_id}/hits/{hit.id}/thumbnail.jpg"
            if hit.thumbnail
            else None
        ),
    )


def _audit(
    ctx: ServerContext,
    request: Request,
    user: Principal,
    action: str,
    request_id: int,
    **details: object,
) -> None:
    """Audit what the DPO did to a request, with their name and address."""
    audit.record(
        ctx.db,
        action=f"privacy.request.{action}",
        username=user.username,
        target=f"subject_request:{request_id}",
        address=client_address(request),
        details=details,
    )


def _invalid(exc: ValidationError) -> RequestValidationError:
    """Pydantic's errors as the 422 every route answers (field path and message)."""
    return RequestValidationError(
        [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_context=False)]
    )


async def _read_create(request: Request) -> tuple[SubjectRequestCreate, bytes | None, str | None]:
    """The new request, and the reference photo with its declared type when one was sent."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length")
    if length is None:
        raise HTTPException(411, "send the request with a Content-Length")
    if not length.isdigit():
        raise HTTPException(400, "Content-Length is not a number")
    limit = MAX_FORM_BYTES if kind == "multipart/form-data" else MAX_JSON_BYTES
    if int(length) > limit:
        raise HTTPException(
            413,
            f"the request is larger than {limit // 1024} KiB"
            + (": send a smaller photo" if kind == "multipart/form-data" else ""),
        )
    face: bytes | None = None
    declared: str | None = None
    if kind == "application/json":
        raw: Any = await request.body()
    elif kind == "multipart/form-data":
        # The form's spooled file goes when the block ends.
        async with request.form(max_files=1, max_fields=4, max_part_size=MAX_JSON_BYTES) as form:
            raw, upload = form.get("request"), form.get("face")
            if not isinstance(raw, str):
                raise FieldError("request", "send the request as JSON in the form field 'request'")
            if upload is not None and not isinstance(upload, UploadFile):
                raise FieldError("face", "'face' must be a file (a JPEG or PNG photo)")
            if upload is not None:
                face, declared = await upload.read(MAX_REFERENCE_BYTES + 1), upload.content_type
    else:
        raise HTTPException(
            415, "send the request as application/json, or as multipart/form-data with a face"
        )
    try:
        return SubjectRequestCreate.model_validate_json(raw), face, declared
    except ValidationError as exc:
        raise _invalid(exc) from None


@router.get("", response_model=list[SubjectRequestPublic])
def list_requests(
    ctx: ContextDep, user: ManageUser, status: RequestStatus | None = None
) -> list[SubjectRequestPublic]:
    """Requests, newest first (of one status when given)."""
    counts = store.hit_counts(ctx.db)
    rows = store.list_requests(ctx.db, status=status)
    return [_public(row, counts.get(row.id, 0)) for row in rows]


@router.post(
    "",
    response_model=SubjectRequestDetail,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_FORM_SCHEMA,
)
async def create_request(
    request: Request, ctx: ContextDep, user: ManageUser
) -> SubjectRequestDetail:
    """Open a request: JSON, or multipart with the JSON in ``request`` and a reference
    photo of the subject in ``face``. The photo must show exactly one face."""
    body, face, declared = await _read_create(request)
    missing = missing_ids(ctx.db, cameras=body.criteria.camera_ids)[0]
    if missing:
        raise FieldError("criteria.camera_ids", f"cameras {missing} do not exist")
    image: str | None = None
    descriptor: list[float] | None = None
    if face is not None:
        try:
            extension = image_type(face, declared)
            descriptor = await asyncio.to_thread(face_descriptor, face)
        except ReferenceImageError as exc:
            raise FieldError("face", str(exc)) from None
        except RuntimeError as exc:  # dlib or its models missing: the server's problem
            raise HTTPException(503, f"faces cannot be searched on this server: {exc}") from None
        image = save_reference(ctx.settings.data_dir, face, extension)
    elif not body.criteria.plate:
        raise FieldError("criteria.plate", "give the subject's plate, a face photo, or both")
    row = store.create_request(
        ctx.db,
        kind=body.kind,
        subject=body.subject,
        legal_reference=body.legal_reference,
        requester_contact=body.requester_contact,
        criteria=body.criteria,
        created_by=user.username,
        face_image=image,
        face_descriptor=descriptor,
    )
    _audit(
        ctx, request, user, "create", row.id, kind=str(body.kind), reference=body.legal_reference
    )
    return _detail(ctx, row.id)


@router.get("/{request_id}", response_model=SubjectRequestDetail)
def get_request(request_id: RequestId, ctx: ContextDep, user: ManageUser) -> SubjectRequestDetail:
    """A request, its job's progress and its record."""
    return _detail(ctx, request_id)


@router.post(
    "/{request_id}/search",
    response_model=SubjectRequestDetail,
    status_code=status.HTTP_202_ACCEPTED,
)
def start_search(
    request_id: RequestId, request: Request, ctx: ContextDep, user: ManageUser
) -> SubjectRequestDetail:
    """Search the recordings for the subject in the background (hits of an earlier search
    are replaced); follow ``job`` on the request."""
    subject_search.start_search(
        ctx.db,
        data_dir=ctx.settings.data_dir,
        recordings_dir=ctx.settings.recordings_dir,
        request_id=request_id,
        username=user.username,
    )
    _audit(ctx, request, user, "search", request_id)
    return _detail(ctx, request_id)


@router.post("/{request_id}/cancel", response_model=SubjectRequestDetail)
def cancel_job(
    request_id: RequestId, request: Request, ctx: ContextDep, user: ManageUser
) -> SubjectRequestDetail:
    """Stop the running search or export (within a segment or a clip)."""
    row = store.request_cancel(ctx.db, request_id, username=user.username)
    _audit(ctx, request, user, "cancel", request_id, job=row.job_kind)
    return _detail(ctx, request_id)


@router.get("/{request_id}/hits", response_model=list[HitPublic])
def list_hits(
    request_id: RequestId, request: Request, ctx: ContextDep, user: ManageUser
) -> list[HitPublic]:
    """Where the subject was found, by camera and time."""
    store.get_request(ctx.db, request_id)
    hits = store.list_hits(ctx.db, request_id)
    _audit(ctx, request, user, "hits", request_id, hits=len(hits))
    return [_hit(h) for h in hits]


@router.patch("/{request_id}/hits/{hit_id}", response_model=HitPublic)
def update_hit(
    request_id: RequestId,
    hit_id: int,
    body: HitUpdate,
    request: Request,
    ctx: ContextDep,
    user: ManageUser,
) -> HitPublic:
    """Confirm a hit as the subject, or set it aside as a false match."""
    row = store.get_request(ctx.db, request_id)
    if row.status != RequestStatus.REVIEW:
        raise Conflict(f"request {request_id} is {row.status}: hits are chosen during review")
    hit = store.select_hit(
        ctx.db, request_id, hit_id, selected=body.selected, username=user.username
    )
    _audit(ctx, request, user, "hit", request_id, hit_id=hit_id, selected=body.selected)
    return _hit(hit)


@router.get("/{request_id}/hits/{hit_id}/thumbnail.jpg", response_class=FileResponse)
def hit_thumbnail(
    request_id: RequestId, hit_id: int, ctx: ContextDep, user: ManageUser
) -> FileResponse:
    """The frame the subject was best seen in, their box drawn (until the request closes)."""
    hit = store.get_hit(ctx.db, request_id, hit_id)
    if not hit.thumbnail:
        raise HTTPException(404, f"hit {hit_id}'s thumbnail was removed when the request closed")
    return snapshot_file(ctx, hit.thumbnail)


@router.get("/{request_id}/face", response_class=FileResponse)
def reference_face(
    request_id: RequestId, request: Request, ctx: ContextDep, user: ManageUser
) -> FileResponse:
    """The reference photo of the subject (until the request closes)."""
    row = store.get_request(ctx.db, request_id)
    if not row.face_image:
        raise HTTPException(404, f"request {request_id} has no reference photo (any more)")
    _audit(ctx, request, user, "face", request_id)
    return snapshot_file(ctx, row.face_image)


@router.post(
    "/{request_id}/export",
    response_model=SubjectRequestDetail,
    status_code=status.HTTP_202_ACCEPTED,
)
def start_export(
    request_id: RequestId,
    body: ExportCreate,
    request: Request,
    ctx: ContextDep,
    user: ManageUser,
) -> SubjectRequestDetail:
    """Export the hits' footage redacted (faces and plates blurred, privacy masks filled)
    into one signed ZIP, in the background; download it from ``export.zip`` when done."""
    try:
        access_export.start_export(
            ctx.db,
            data_dir=ctx.settings.data_dir,
            recordings_dir=ctx.settings.recordings_dir,
            request_id=request_id,
            username=user.username,
            pad_s=body.pad_s,
            hit_ids=body.hit_ids,
            models_dir=ctx.settings.models_dir,
        )
    except ValueError as exc:
        if isinstance(exc, Conflict):
            raise
        raise FieldError("hit_ids", str(exc)) from None
    _audit(ctx, request, user, "export_start", request_id, pad_s=body.pad_s, hit_ids=body.hit_ids)
    return _detail(ctx, request_id)


@router.get("/{request_id}/export.zip", response_class=FileResponse)
def download_export(
    request_id: RequestId, request: Request, ctx: ContextDep, user: ManageUser
) -> FileResponse:
    """The latest redacted export, a signed ZIP (check it with ``vigil verify``)."""
    row = store.get_request(ctx.db, request_id)
    if not row.export_file:
        raise HTTPException(404, f"request {request_id} has no finished export: export first")
    _audit(ctx, request, user, "download", request_id, file=row.export_file)
    response = snapshot_file(ctx, row.export_file)  # a .zip: served as application/zip
    response.headers["content-disposition"] = (
        f'attachment; filename="subject-access-{request_id}.zip"'
    )
    return response


@router.post("/{request_id}/erase", response_model=ErasurePublic)
async def erase(
    request_id: RequestId,
    body: ErasureCreate,
    request: Request,
    ctx: ContextDep,
    user: ManageUser,
) -> ErasurePublic:
    """Erase footage of an erasure request for good: the hits' ranges (default: confirmed
    hits, ``pad_s`` either side) and/or whole ``ranges``. Footage under an evidence lock or
    still being recorded is refused (409, nothing erased). Completes the request."""
    row = store.get_request(ctx.db, request_id)
    if not confirmation_ok(body.confirm):
        raise FieldError("confirm", f'erasure cannot be undone: type "{ERASE_CONFIRMATION}"')
    searched = set(row.criteria["camera_ids"])
    if outside := sorted({r.camera_id for r in body.ranges} - searched):
        raise FieldError("ranges", f"cameras {outside} are not among the request's cameras")
    ranges = [TimeRange(r.camera_id, r.start, r.end) for r in body.ranges]
    if body.include_hits:
        appearances = store.hit_appearances(ctx.db, request_id, body.hit_ids)
        ranges += appearance_ranges(appearances, body.pad_s)
    if not ranges:
        raise FieldError("hit_ids", "nothing to erase: confirm hits or give ranges")
    result = await asyncio.to_thread(
        erasure.erase_ranges,
        ctx.db,
        data_dir=ctx.settings.data_dir,
        recordings_dir=ctx.settings.recordings_dir,
        request_id=request_id,
        ranges=ranges,
        reason=body.reason,
        username=user.username,
        address=client_address(request),
    )
    hits_count = store.hit_counts(ctx.db).get(request_id, 0)
    row = store.get_request(ctx.db, request_id)
    return ErasurePublic(
        complete=result.complete, record=result.record, request=_public(row, hits_count)
    )


@router.post("/{request_id}/close", response_model=SubjectRequestDetail)
def close_request(
    request_id: RequestId,
    body: CloseBody,
    request: Request,
    ctx: ContextDep,
    user: ManageUser,
) -> SubjectRequestDetail:
    """Complete a reviewed request with a note (the export handed over, nothing found...).
    Photos of the subject (reference, thumbnails, export) are deleted; the record stays."""
    store.transition(
        ctx.db,
        request_id,
        RequestStatus.COMPLETED,
        username=user.username,
        action="completed",
        note=body.note,
    )
    _forget(ctx, request_id)
    _audit(ctx, request, user, "close", request_id, note=body.note)
    return _detail(ctx, request_id)


@router.post("/{request_id}/reject", response_model=SubjectRequestDetail)
def reject_request(
    request_id: RequestId,
    body: RejectBody,
    request: Request,
    ctx: ContextDep,
    user: ManageUser,
) -> SubjectRequestDetail:
    """Refuse a request, saying why; photos of the subject are deleted, the record stays."""
    store.transition(
        ctx.db,
        request_id,
        RequestStatus.REJECTED,
        username=user.username,
        action="rejected",
        note=body.reason,
    )
    _forget(ctx, request_id)
    _audit(ctx, request, user, "reject", request_id, reason=body.reason)
    return _detail(ctx, request_id)


def _forget(ctx: ServerContext, request_id: int) -> None:
    files = store.forget_personal_files(ctx.db, request_id)
    removed = remove_files(ctx.settings.data_dir, files)
    store.add_entry(
        ctx.db,
        request_id,
        username=None,
        action="personal_files_deleted",
        details={"files": removed},
    )

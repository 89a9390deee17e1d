"""Data-subject requests in the database: the requests, their hits, their record, and the
state of the background job (search or export) each may run.

Every change of status is a conditional update on the status read, so two servers (or two
clicks) cannot both move a request: the second gets ``Conflict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from vigil.domain.errors import Conflict, NotFound
from vigil.domain.subject_requests import (
    CLOSED_STATUSES,
    Appearance,
    RequestKind,
    RequestStatus,
    SearchCriteria,
    check_transition,
)
from vigil.store.db import Database
from vigil.store.models_subject_requests import (
    SubjectRequest,
    SubjectRequestEntry,
    SubjectRequestHit,
)
from vigil.store.types import utcnow

# A running job that has not beaten for this long died with its server.
JOB_STALE_AFTER = timedelta(seconds=60)
JOB_RUNNING = "running"


def create_request(
    db: Database,
    *,
    kind: RequestKind,
    subject: str,
    legal_reference: str,
    requester_contact: str,
    criteria: SearchCriteria,
    created_by: str,
    face_image: str | None = None,
    face_descriptor: list[float] | None = None,
) -> SubjectRequest:
    """Open a request, with a first entry in its record."""
    with db.session() as s:
        row = SubjectRequest(
            kind=str(kind),
            status=str(RequestStatus.OPEN),
            subject=subject,
            legal_reference=legal_reference,
            requester_contact=requester_contact,
            criteria=criteria.model_dump(mode="json"),
            face_image=face_image,
            face_descriptor=face_descriptor,
            created_by=created_by,
            job_progress=0.0,
            job_detail={},
            job_cancel=False,
        )
        s.add(row)
        s.flush()
        s.add(
            SubjectRequestEntry(
                request_id=row.id,
                username=created_by,
                action="created",
                details={
                    "kind": str(kind),
                    "legal_reference": legal_reference,
                    "criteria": row.criteria,
                    "reference_face": face_image is not None,
                },
            )
        )
        return row


def get_request(db: Database, request_id: int) -> SubjectRequest:
    """One request; ``NotFound`` when there is none."""
    with db.session() as s:
        row = s.get(SubjectRequest, request_id)
    if row is None:
        raise NotFound(f"data-subject request {request_id} not found")
    return row


def list_requests(db: Database, *, status: RequestStatus | None = None) -> Sequence[SubjectRequest]:
    """Requests, newest first; of one status when given."""
    query = select(SubjectRequest).order_by(SubjectRequest.id.desc())
    if status is not None:
        query = query.where(SubjectRequest.status == str(status))
    with db.session() as s:
        return s.scalars(query).all()


def add_entry(
    db: Database,
    request_id: int,
    *,
    username: str | None,
    action: str,
    details: dict[str, Any] | None = None,
    outcome: str = "success",
) -> SubjectRequestEntry:
    """Append to a request's record."""
    with db.session() as s:
        entry = SubjectRequestEntry(
            request_id=request_id,
            username=username,
            action=action,
            outcome=outcome,
            details=details or {},
        )
        s.add(entry)
        s.flush()
        return entry


def entries(db: Database, request_id: int) -> Sequence[SubjectRequestEntry]:
    """A request's record, oldest first."""
    with db.session() as s:
        return s.scalars(
            select(SubjectRequestEntry)
            .where(SubjectRequestEntry.request_id == request_id)
            .order_by(SubjectRequestEntry.at, SubjectRequestEntry.id)
        ).all()


def transition(
    db: Database,
    request_id: int,
    target: RequestStatus,
    *,
    username: str | None,
    action: str,
    details: dict[str, Any] | None = None,
    note: str | None = None,
) -> SubjectRequest:
    """Move a request to ``target`` (checked), recording who and why.

    Raises:
        NotFound: No such request.
        InvalidRequestTransition: Not allowed from its status.
        Conflict: It changed meanwhile.
    """
    current = get_request(db, request_id)
    if job_running(current):
        raise Conflict(f"a {current.job_kind} of request {request_id} is running: cancel it first")
    check_transition(RequestStatus(current.status), target)
    values: dict[str, Any] = {"status": str(target), "updated_at": utcnow()}
    if target in CLOSED_STATUSES:
        values |= {"closed_at": utcnow(), "closed_by": username, "close_note": note}
    with db.session() as s:
        _conditional_update(s, request_id, current.status, values)
        s.add(
            SubjectRequestEntry(
                request_id=request_id,
                username=username,
                action=action,
                details={**(details or {}), **({"note": note} if note else {})},
            )
        )
    return get_request(db, request_id)


def _conditional_update(s: Any, request_id: int, status: str, values: dict[str, Any]) -> None:
    done = s.execute(
        update(SubjectRequest)
        .where(SubjectRequest.id == request_id, SubjectRequest.status == status)
        .values(**values)
    )
    if done.rowcount == 0:
        raise Conflict(f"data-subject request {request_id} changed meanwhile: reload it")


def job_running(row: SubjectRequest, now: datetime | None = None) -> bool:
    """Whether the request's job is running (and has beaten recently)."""
    if row.job_state != JOB_RUNNING or row.job_heartbeat_at is None:
        return False
    return (now or utcnow()) - row.job_heartbeat_at < JOB_STALE_AFTER


def claim_job(
    db: Database,
    request_id: int,
    *,
    kind: str,
    username: str,
    details: dict[str, Any] | None = None,
) -> SubjectRequest:
    """Mark a job as running on the request (a search also moves it to searching), with an
    entry in its record. A job left "running" by a server that died may be taken over.

    Raises:
        Conflict: Another job of the request is running, or the request is closed or not in
            a status the job can run in.
    """
    row = get_request(db, request_id)
    if job_running(row):
        raise Conflict(
            f"a {row.job_kind} of request {request_id} is running (started "
            f"{row.job_started_at.isoformat() if row.job_started_at else '?'}): wait for it or "
            "cancel it"
        )
    status = RequestStatus(row.status)
    now = utcnow()
    values: dict[str, Any] = {
        "job_kind": kind,
        "job_state": JOB_RUNNING,
        "job_progress": 0.0,
        "job_detail": {},
        "job_error": None,
        "job_started_at": now,
        "job_finished_at": None,
        "job_heartbeat_at": now,
        "job_cancel": False,
        "updated_at": now,
    }
    if kind == "search":
        # A search left behind by a dead server ends like a cancelled one, then restarts.
        if status is not RequestStatus.SEARCHING:
            check_transition(status, RequestStatus.SEARCHING)
        values["status"] = str(RequestStatus.SEARCHING)
    elif status is not RequestStatus.REVIEW:
        raise Conflict(
            f"request {request_id} is {status.value}: an {kind} needs a search reviewed first"
        )
    with db.session() as s:
        _conditional_update(s, request_id, row.status, values)
        s.add(
            SubjectRequestEntry(
                request_id=request_id,
                username=username,
                action=f"{kind}_started",
                details=details or {},
            )
        )
    return get_request(db, request_id)


def job_progress(db: Database, request_id: int, progress: float, detail: dict[str, Any]) -> bool:
    """Note a running job's progress (0..1) and beat; True when it was asked to cancel."""
    with db.session() as s:
        s.execute(
            update(SubjectRequest)
            .where(SubjectRequest.id == request_id)
            .values(
                job_progress=max(0.0, min(progress, 1.0)),
                job_detail=detail,
                job_heartbeat_at=utcnow(),
            )
        )
        cancel = s.scalar(select(SubjectRequest.job_cancel).where(SubjectRequest.id == request_id))
    return bool(cancel)


def finish_job(
    db: Database,
    request_id: int,
    *,
    state: str,
    detail: dict[str, Any],
    error: str | None = None,
    export_file: str | None = None,
) -> SubjectRequest:
    """End the request's job (done, cancelled or failed): a search leaves the request in
    review with what it found; the outcome goes into the record."""
    row = get_request(db, request_id)
    values: dict[str, Any] = {
        "job_state": state,
        "job_detail": detail,
        "job_error": error,
        "job_finished_at": utcnow(),
        "job_heartbeat_at": utcnow(),
        "updated_at": utcnow(),
    }
    if state == "done":
        values["job_progress"] = 1.0
    if export_file is not None:
        values["export_file"] = export_file
    summary = {k: v for k, v in detail.items() if k != "problems"}
    summary["problems"] = len(detail.get("problems", []))
    with db.session() as s:
        s.execute(update(SubjectRequest).where(SubjectRequest.id == request_id).values(**values))
        if row.job_kind == "search":
            s.execute(
                update(SubjectRequest)
                .where(
                    SubjectRequest.id == request_id,
                    SubjectRequest.status == str(RequestStatus.SEARCHING),
                )
                .values(status=str(RequestStatus.REVIEW))
            )
        s.add(
            SubjectRequestEntry(
                request_id=request_id,
                username=None,  # the job itself
                action=f"{row.job_kind}_{state}",
                outcome="success" if state in ("done", "cancelled") else "failure",
                details={**summary, **({"error": error} if error else {})},
            )
        )
    return get_request(db, request_id)


def request_cancel(db: Database, request_id: int, *, username: str) -> SubjectRequest:
    """Ask the request's running job to stop (it stops within a segment or a clip).

    Raises:
        Conflict: No job is running.
    """
    row = get_request(db, request_id)
    if not job_running(row):
        raise Conflict(f"request {request_id} has no search or export running")
    with db.session() as s:
        s.execute(
            update(SubjectRequest).where(SubjectRequest.id == request_id).values(job_cancel=True)
        )
        s.add(
            SubjectRequestEntry(
                request_id=request_id, username=username, action=f"{row.job_kind}_cancel"
            )
        )
    return get_request(db, request_id)


def add_hit(db: Database, hit: SubjectRequestHit) -> SubjectRequestHit:
    """Store one hit of a search."""
    with db.session() as s:
        s.add(hit)
        s.flush()
        return hit


def list_hits(
    db: Database, request_id: int, *, selected_only: bool = False, ids: Sequence[int] | None = None
) -> Sequence[SubjectRequestHit]:
    """A request's hits by camera and time; only the confirmed ones, or only ``ids``."""
    query = select(SubjectRequestHit).where(SubjectRequestHit.request_id == request_id)
    if selected_only:
        query = query.where(SubjectRequestHit.selected.is_(True))
    if ids is not None:
        query = query.where(SubjectRequestHit.id.in_(ids))
    with db.session() as s:
        return s.scalars(
            query.order_by(SubjectRequestHit.camera_id, SubjectRequestHit.first_at)
        ).all()


def hit_appearances(
    db: Database, request_id: int, hit_ids: Sequence[int] | None = None
) -> list[Appearance]:
    """When and where the chosen hits (default: the confirmed ones) saw the subject.

    Raises:
        NotFound: Some of ``hit_ids`` are not hits of the request.
    """
    hits = list_hits(db, request_id, selected_only=hit_ids is None, ids=hit_ids)
    if hit_ids is not None and len(hits) != len(set(hit_ids)):
        missing = sorted(set(hit_ids) - {h.id for h in hits})
        raise NotFound(f"hits {missing} are not hits of data-subject request {request_id}")
    return [Appearance(h.camera_id, h.first_at, h.last_at) for h in hits]


def get_hit(db: Database, request_id: int, hit_id: int) -> SubjectRequestHit:
    """One hit of a request; ``NotFound`` otherwise."""
    with db.session() as s:
        hit = s.get(SubjectRequestHit, hit_id)
    if hit is None or hit.request_id != request_id:
        raise NotFound(f"hit {hit_id} of data-subject request {request_id} not found")
    return hit


def select_hit(
    db: Database, request_id: int, hit_id: int, *, selected: bool, username: str
) -> SubjectRequestHit:
    """Confirm a hit as the subject (selected) or set it aside as a false match."""
    hit = get_hit(db, request_id, hit_id)
    with db.session() as s:
        s.execute(
            update(SubjectRequestHit)
            .where(SubjectRequestHit.id == hit_id)
            .values(selected=selected)
        )
        s.add(
            SubjectRequestEntry(
                request_id=request_id,
                username=username,
                action="hit_selected" if selected else "hit_set_aside",
                details={"hit_id": hit_id, "camera_id": hit.camera_id, "at": hit.at.isoformat()},
            )
        )
    return get_hit(db, request_id, hit_id)


def delete_hits(db: Database, request_id: int) -> list[str]:
    """Forget a request's hits (before it is searched again); returns their thumbnails."""
    with db.session() as s:
        thumbnails = s.scalars(
            select(SubjectRequestHit.thumbnail).where(
                SubjectRequestHit.request_id == request_id,
                SubjectRequestHit.thumbnail.is_not(None),
            )
        ).all()
        s.execute(delete(SubjectRequestHit).where(SubjectRequestHit.request_id == request_id))
    return [t for t in thumbnails if t]


def forget_personal_files(db: Database, request_id: int) -> list[str]:
    """Detach the files that show the subject (reference face, hit thumbnails, the access
    export) and the face descriptor from a closed request; returns those files' paths for
    the caller to delete. What was found and done stays in the hits and the record."""
    row = get_request(db, request_id)
    with db.session() as s:
        thumbnails = s.scalars(
            select(SubjectRequestHit.thumbnail).where(
                SubjectRequestHit.request_id == request_id,
                SubjectRequestHit.thumbnail.is_not(None),
            )
        ).all()
        s.execute(
            update(SubjectRequestHit)
            .where(SubjectRequestHit.request_id == request_id)
            .values(thumbnail=None)
        )
        s.execute(
            update(SubjectRequest)
            .where(SubjectRequest.id == request_id)
            .values(face_image=None, face_descriptor=None, export_file=None)
        )
    files = [*thumbnails, row.face_image, row.export_file]
    return [f for f in files if f]


def hit_counts(db: Database) -> dict[int, int]:
    """How many hits each request has (requests without any left out)."""
    with db.session() as s:
        rows = s.execute(
            select(SubjectRequestHit.request_id, func.count()).group_by(
                SubjectRequestHit.request_id
            )
        ).all()
    return {request_id: int(count) for request_id, count in rows}

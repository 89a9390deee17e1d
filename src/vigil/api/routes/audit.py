"""The audit trail for auditors (permission ``audit``): browse, export as CSV, verify."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from vigil.api.auth import AuditUser, client_address
from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.schemas_auth import (
    AuditEntryPublic,
    AuditPage,
    ChainProblemPublic,
    ChainReportPublic,
)
from vigil.security import audit
from vigil.security.audit import AuditFilter, AuditRecord

router = APIRouter(tags=["audit"])


def _filter(
    since: datetime | None = None,
    until: datetime | None = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[
        str | None, Query(max_length=64, description='exact, or a prefix ending in "."')
    ] = None,
    camera_id: int | None = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure|denied)$")] = None,
) -> AuditFilter:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise FieldError(name, "give a time zone, e.g. 2027-01-01T00:00:00Z")
    return AuditFilter(since, until, username, action, camera_id, outcome)


FilterDep = Annotated[AuditFilter, Depends(_filter)]


def _public(e: AuditRecord) -> AuditEntryPublic:
    return AuditEntryPublic(
        id=e.id,
        at=e.at,
        username=e.username,
        action=e.action,
        camera_id=e.camera_id,
        target=e.target,
        address=e.address,
        outcome=e.outcome,
        details=e.details,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


@router.get("/api/audit", response_model=AuditPage)
def list_audit(
    _: AuditUser,
    ctx: ContextDep,
    f: FilterDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditPage:
    """Entries, newest first, filtered and paged."""
    entries, total = audit.list_entries(ctx.db, f, limit=limit, offset=offset)
    return AuditPage(total=total, offset=offset, limit=limit, entries=[_public(e) for e in entries])


@router.get("/api/audit.csv", response_class=StreamingResponse)
def export_audit(
    request: Request, user: AuditUser, ctx: ContextDep, f: FilterDep
) -> StreamingResponse:
    """Matching entries as CSV, oldest first (the export itself is audited)."""
    audit.record(
        ctx.db,
        action="audit.export",
        username=user.username,
        address=client_address(request),
        details={k: str(v) for k, v in asdict(f).items() if v is not None},
    )

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        batch: list[AuditRecord] = []
        header = True
        for entry in audit.iter_entries(ctx.db, f):
            batch.append(entry)
            if len(batch) >= 500:
                yield _csv(buffer, batch, header)
                batch, header = [], False
        if batch or header:
            yield _csv(buffer, batch, header)

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="vigil-audit.csv"'},
    )


def _csv(buffer: io.StringIO, batch: list[AuditRecord], header: bool) -> str:
    buffer.seek(0)
    buffer.truncate()
    audit.write_csv(batch, buffer, header=header)
    return buffer.getvalue()


@router.get("/api/audit/verify", response_model=ChainReportPublic)
def verify_audit(request: Request, user: AuditUser, ctx: ContextDep) -> ChainReportPublic:
    """Check the whole hash chain: edited, deleted or inserted entries are listed."""
    report = audit.verify_chain(ctx.db)
    audit.record(
        ctx.db,
        action="audit.verify",
        username=user.username,
        address=client_address(request),
        outcome=audit.Outcome.SUCCESS if report.ok else audit.Outcome.FAILURE,
        details={"entries": report.entries, "problems": len(report.problems)},
    )
    return ChainReportPublic(
        ok=report.ok,
        entries=report.entries,
        last_id=report.last_id,
        problems=[
            ChainProblemPublic(id=p.id, kind=p.kind, message=p.message) for p in report.problems
        ],
    )

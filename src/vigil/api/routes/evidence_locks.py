"""Evidence locks: footage protected from retention, the disk budget and events mode."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from vigil.api.auth import Principal, audit_action, ensure_camera, require, visible_for
from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.schemas_evidence import (
    EvidenceLockCreate,
    EvidenceLockPublic,
    EvidenceLockRelease,
)
from vigil.domain.permissions import Permission, Visible
from vigil.store import evidence_locks as lock_store
from vigil.store.groups import missing_ids
from vigil.store.models import EvidenceLock
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/evidence-locks", tags=["evidence"])


# Investigators lock what they export; administrators see every lock.
LOCKERS = (Permission.EXPORT, Permission.MANAGE)
LockUser = Annotated[Principal, Depends(require(*LOCKERS))]


def _public(lock: EvidenceLock) -> EvidenceLockPublic:
    public = EvidenceLockPublic.model_validate(lock)
    public.active = lock.released_at is None and (lock.until is None or lock.until > utcnow())
    return public


@router.get("", response_model=list[EvidenceLockPublic])
def list_locks(
    ctx: ContextDep,
    visible: Annotated[Visible, Depends(visible_for(*LOCKERS))],
    camera_id: int | None = None,
    active: bool = False,
) -> list[EvidenceLockPublic]:
    """Locks of the caller's cameras, newest first (``active=true``: only those in force)."""
    locks = lock_store.list_locks(ctx.db, camera_id=camera_id, active_only=active)
    return [_public(lock) for lock in locks if lock.camera_id in visible]


@router.get("/{lock_id}", response_model=EvidenceLockPublic)
def get_lock(lock_id: int, ctx: ContextDep, request: Request, user: LockUser) -> EvidenceLockPublic:
    """One lock."""
    lock = lock_store.get_lock(ctx.db, lock_id)
    ensure_camera(request, user, lock.camera_id, *LOCKERS)
    return _public(lock)


@router.post("", response_model=EvidenceLockPublic, status_code=status.HTTP_201_CREATED)
def create_lock(
    body: EvidenceLockCreate, ctx: ContextDep, request: Request, user: LockUser
) -> EvidenceLockPublic:
    """Protect ``start``..``end`` of a camera until ``until`` (null: until released)."""
    if missing_ids(ctx.db, cameras=[body.camera_id])[0]:
        raise FieldError("camera_id", f"camera {body.camera_id} does not exist")
    ensure_camera(request, user, body.camera_id, *LOCKERS)
    if body.end <= body.start:
        raise FieldError("end", "an evidence lock must end after it starts")
    if body.until is not None and body.until <= utcnow():
        raise FieldError("until", "'until' is in the past: the lock would protect nothing")
    lock = lock_store.create_lock(ctx.db, **body.model_dump(), created_by=user.username)
    audit_action(
        request,
        user,
        "evidence.lock",
        camera_id=lock.camera_id,
        target=f"lock:{lock.id}",
        start=lock.start,
        end=lock.end,
        reason=lock.reason,
    )
    return _public(lock)


@router.post("/{lock_id}/release", response_model=EvidenceLockPublic)
def release_lock(
    lock_id: int, body: EvidenceLockRelease, ctx: ContextDep, request: Request, user: LockUser
) -> EvidenceLockPublic:
    """End a lock now, with who and why (kept on the lock)."""
    ensure_camera(request, user, lock_store.get_lock(ctx.db, lock_id).camera_id, *LOCKERS)
    lock = lock_store.release_lock(ctx.db, lock_id, released_by=user.username, reason=body.reason)
    audit_action(
        request,
        user,
        "evidence.release",
        camera_id=lock.camera_id,
        target=f"lock:{lock.id}",
        reason=body.reason,
    )
    return _public(lock)

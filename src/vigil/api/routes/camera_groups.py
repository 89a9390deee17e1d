"""Camera groups: areas, districts, buildings; used by rule filters and statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from vigil.api.auth import CAMERA_ACCESS, ManageUser, audit_action, visible_for
from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.schemas_alarms import CameraGroupBody, CameraGroupPublic
from vigil.domain.permissions import Visible
from vigil.store import groups as group_store
from vigil.store.groups import Group
from vigil.store.rules import DuplicateName, InUse

router = APIRouter(prefix="/api/camera-groups", tags=["cameras"])


CameraVisible = Annotated[Visible, Depends(visible_for(*CAMERA_ACCESS))]


def to_public(group: Group) -> CameraGroupPublic:
    """A group as the API shows it."""
    return CameraGroupPublic(
        id=group.id, name=group.name, description=group.description, camera_ids=group.camera_ids
    )


def _save(ctx: ContextDep, group_id: int | None, body: CameraGroupBody) -> Group | None:
    missing, _ = group_store.missing_ids(ctx.db, cameras=body.camera_ids)
    if missing:
        i = body.camera_ids.index(missing[0])
        raise FieldError(f"camera_ids.{i}", f"camera {missing[0]} does not exist")
    try:
        group = group_store.save_group(
            ctx.db,
            group_id=group_id,
            name=body.name,
            description=body.description,
            camera_ids=body.camera_ids,
        )
    except DuplicateName:
        raise HTTPException(409, f"a camera group named {body.name!r} already exists") from None
    ctx.engine.reload()
    return group


@router.get("", response_model=list[CameraGroupPublic])
def list_groups(ctx: ContextDep, visible: CameraVisible) -> list[CameraGroupPublic]:
    """All camera groups, by name, with the caller's cameras in them."""
    return [_visible_part(to_public(g), visible) for g in group_store.list_groups(ctx.db)]


def _visible_part(group: CameraGroupPublic, visible: Visible) -> CameraGroupPublic:
    group.camera_ids = [c for c in group.camera_ids if c in visible]
    return group


@router.post("", response_model=CameraGroupPublic, status_code=status.HTTP_201_CREATED)
def create_group(
    body: CameraGroupBody, ctx: ContextDep, request: Request, user: ManageUser
) -> CameraGroupPublic:
    """Add a camera group."""
    group = _save(ctx, None, body)
    assert group is not None
    audit_action(request, user, "camera_group.create", target=f"group:{group.id}", name=group.name)
    return to_public(group)


@router.get("/{group_id}", response_model=CameraGroupPublic)
def get_group(group_id: int, ctx: ContextDep, visible: CameraVisible) -> CameraGroupPublic:
    """One camera group."""
    group = group_store.get_group(ctx.db, group_id)
    if group is None:
        raise HTTPException(404, f"camera group {group_id} not found")
    return _visible_part(to_public(group), visible)


@router.put("/{group_id}", response_model=CameraGroupPublic)
def replace_group(
    group_id: int, body: CameraGroupBody, ctx: ContextDep, request: Request, user: ManageUser
) -> CameraGroupPublic:
    """Replace a group's name, description and cameras."""
    group = _save(ctx, group_id, body)
    if group is None:
        raise HTTPException(404, f"camera group {group_id} not found")
    audit_action(request, user, "camera_group.update", target=f"group:{group_id}", name=group.name)
    return to_public(group)


@router.delete("/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(group_id: int, ctx: ContextDep, request: Request, user: ManageUser) -> Response:
    """Remove a camera group that no rule uses."""
    try:
        found = group_store.delete_group(ctx.db, group_id)
    except InUse as exc:
        raise HTTPException(409, str(exc)) from None
    if not found:
        raise HTTPException(404, f"camera group {group_id} not found")
    audit_action(request, user, "camera_group.delete", target=f"group:{group_id}")
    ctx.engine.reload()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""Time profiles: weekly windows and holidays that arm rules."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from vigil.api.auth import ManageUser, audit_action, require
from vigil.api.deps import ContextDep
from vigil.api.schemas_alarms import TimeProfilePublic
from vigil.domain.permissions import Permission
from vigil.domain.schedules import TimeProfileSpec, is_active
from vigil.store import rules as rule_store
from vigil.store.models import TimeProfile
from vigil.store.types import utcnow

router = APIRouter(
    prefix="/api/time-profiles",
    tags=["rules"],
    dependencies=[Depends(require(Permission.MANAGE))],
)


def to_public(profile: TimeProfile) -> TimeProfilePublic:
    """A stored profile and whether it is armed now."""
    spec = TimeProfileSpec.model_validate(profile.spec)
    return TimeProfilePublic(
        **spec.model_dump(), id=profile.id, active_now=is_active(spec, utcnow())
    )


def _save(ctx: ContextDep, profile_id: int | None, body: TimeProfileSpec) -> TimeProfile | None:
    try:
        profile = rule_store.save_time_profile(
            ctx.db, profile_id=profile_id, name=body.name, spec=body.model_dump(mode="json")
        )
    except rule_store.DuplicateName:
        raise HTTPException(409, f"a time profile named {body.name!r} already exists") from None
    ctx.engine.reload()
    return profile


@router.get("", response_model=list[TimeProfilePublic])
def list_profiles(ctx: ContextDep) -> list[TimeProfilePublic]:
    """All time profiles, by name."""
    return [to_public(p) for p in rule_store.list_time_profiles(ctx.db)]


@router.post("", response_model=TimeProfilePublic, status_code=status.HTTP_201_CREATED)
def create_profile(
    body: TimeProfileSpec, ctx: ContextDep, request: Request, user: ManageUser
) -> TimeProfilePublic:
    """Add a time profile."""
    profile = _save(ctx, None, body)
    assert profile is not None
    audit_action(request, user, "time_profile.create", target=f"time_profile:{profile.id}")
    return to_public(profile)


@router.get("/{profile_id}", response_model=TimeProfilePublic)
def get_profile(profile_id: int, ctx: ContextDep) -> TimeProfilePublic:
    """One time profile."""
    profile = rule_store.get_time_profile(ctx.db, profile_id)
    if profile is None:
        raise HTTPException(404, f"time profile {profile_id} not found")
    return to_public(profile)


@router.put("/{profile_id}", response_model=TimeProfilePublic)
def replace_profile(
    profile_id: int, body: TimeProfileSpec, ctx: ContextDep, request: Request, user: ManageUser
) -> TimeProfilePublic:
    """Replace a time profile; rules using it follow at once."""
    profile = _save(ctx, profile_id, body)
    if profile is None:
        raise HTTPException(404, f"time profile {profile_id} not found")
    audit_action(request, user, "time_profile.update", target=f"time_profile:{profile_id}")
    return to_public(profile)


@router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_profile(
    profile_id: int, ctx: ContextDep, request: Request, user: ManageUser
) -> Response:
    """Remove a time profile that no rule uses."""
    try:
        found = rule_store.delete_time_profile(ctx.db, profile_id)
    except rule_store.InUse as exc:
        raise HTTPException(409, str(exc)) from None
    if not found:
        raise HTTPException(404, f"time profile {profile_id} not found")
    audit_action(request, user, "time_profile.delete", target=f"time_profile:{profile_id}")
    ctx.engine.reload()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

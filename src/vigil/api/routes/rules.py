"""Rules: trigger -> conditions -> actions; and firing a manual rule."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from starlette.concurrency import run_in_threadpool

from vigil.api.auth import ManageUser, Principal, audit_action, ensure_camera, require
from vigil.api.deps import ContextDep, ServerContext
from vigil.api.errors import FieldError
from vigil.api.schemas_alarms import ManualTriggerRequest, RulePublic, TriggerResult
from vigil.domain.events import MANUAL, Event
from vigil.domain.permissions import Permission
from vigil.domain.rules import ManualTrigger, Record, RuleSpec
from vigil.rules.registry import action_schemas, load_action_kinds
from vigil.rules.specs import has_secrets, seal, unseal
from vigil.store import rules as rule_store
from vigil.store.groups import missing_ids
from vigil.store.models import Rule
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/rules", tags=["rules"])

# Rules are validated with the registered action types: load them before the first request.
load_action_kinds()


# Operators see the rules to press their manual buttons; administrators change them.
RuleReader = Annotated[Principal, Depends(require(Permission.ALARMS, Permission.MANAGE))]


def to_public(rule: Rule) -> RulePublic:
    """A stored rule as the API shows it: each secret null, ``has_<field>`` (``has_secret``)
    saying whether one is set."""
    spec = unseal(rule.spec)
    actions = []
    for action, stored in zip(spec.actions, rule.spec["actions"], strict=True):
        data = action.model_dump(mode="json")
        for flag, is_set in has_secrets(stored).items():
            data[flag.removeprefix("has_")] = None
            data[flag] = is_set
        actions.append(data)
    return RulePublic.model_validate(
        {
            "id": rule.id,
            "name": rule.name,
            "enabled": rule.enabled,
            "trigger": spec.trigger.model_dump(mode="json"),
            "conditions": spec.conditions.model_dump(mode="json"),
            "actions": actions,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    )


def _check_references(ctx: ServerContext, spec: RuleSpec) -> None:
    """Refuse a rule naming cameras, groups or time profiles that do not exist."""
    trigger = spec.trigger
    cameras = list(getattr(trigger, "cameras", []))
    groups = list(getattr(trigger, "camera_groups", []))
    missing_cams, missing_groups = missing_ids(ctx.db, cameras=cameras, groups=groups)
    if missing_cams:
        i = cameras.index(missing_cams[0])
        raise FieldError(f"trigger.cameras.{i}", f"camera {missing_cams[0]} does not exist")
    if missing_groups:
        i = groups.index(missing_groups[0])
        raise FieldError(
            f"trigger.camera_groups.{i}", f"camera group {missing_groups[0]} does not exist"
        )
    profile_id = spec.conditions.time_profile_id
    if profile_id is not None and rule_store.get_time_profile(ctx.db, profile_id) is None:
        raise FieldError("conditions.time_profile_id", f"time profile {profile_id} does not exist")
    for i, action in enumerate(spec.actions):
        if (
            isinstance(action, Record)
            and action.camera_id is not None
            and missing_ids(ctx.db, cameras=[action.camera_id])[0]
        ):
            raise FieldError(f"actions.{i}.camera_id", f"camera {action.camera_id} does not exist")


def _get(ctx: ServerContext, rule_id: int) -> Rule:
    rule = rule_store.get_rule(ctx.db, rule_id)
    if rule is None:
        raise HTTPException(404, f"rule {rule_id} not found")
    return rule


@router.get("/actions/schema")
def actions_schema(_: RuleReader) -> dict[str, Any]:
    """What the rule form is drawn from: ``actions``, each action type's JSON schema by type
    (``title`` its label, ``description`` its help, ``x-template`` marks a template field,
    ``writeOnly`` a secret, ``x-widget`` a special input: camera, textarea, list);
    ``template_fields``, the placeholders templates may use; ``load_errors``, action modules
    that failed to load, with the reason."""
    return action_schemas()


@router.get("", response_model=list[RulePublic])
def list_rules(ctx: ContextDep, _: RuleReader) -> list[RulePublic]:
    """All rules, by name."""
    return [to_public(r) for r in rule_store.list_rules(ctx.db)]


@router.post("", response_model=RulePublic, status_code=status.HTTP_201_CREATED)
def create_rule(body: RuleSpec, ctx: ContextDep, request: Request, user: ManageUser) -> RulePublic:
    """Add a rule; it is armed at once when enabled."""
    _check_references(ctx, body)
    try:
        rule = rule_store.create_rule(
            ctx.db, name=body.name, enabled=body.enabled, spec=seal(body, ctx.secrets)
        )
    except rule_store.DuplicateName:
        raise HTTPException(409, f"a rule named {body.name!r} already exists") from None
    ctx.engine.reload()
    audit_action(request, user, "rule.create", target=f"rule:{rule.id}", name=body.name)
    return to_public(rule)


@router.get("/{rule_id}", response_model=RulePublic)
def get_rule(rule_id: int, ctx: ContextDep, _: RuleReader) -> RulePublic:
    """One rule."""
    return to_public(_get(ctx, rule_id))


@router.put("/{rule_id}", response_model=RulePublic)
def replace_rule(
    rule_id: int, body: RuleSpec, ctx: ContextDep, request: Request, user: ManageUser
) -> RulePublic:
    """Replace a rule. A webhook given without a secret keeps the stored secret of the
    webhook with the same URL."""
    previous = _get(ctx, rule_id)
    _check_references(ctx, body)
    try:
        rule = rule_store.update_rule(
            ctx.db,
            rule_id,
            name=body.name,
            enabled=body.enabled,
            spec=seal(body, ctx.secrets, previous.spec),
        )
    except rule_store.DuplicateName:
        raise HTTPException(409, f"a rule named {body.name!r} already exists") from None
    if rule is None:
        raise HTTPException(404, f"rule {rule_id} not found")
    ctx.engine.reload()
    audit_action(request, user, "rule.update", target=f"rule:{rule_id}", name=body.name)
    return to_public(rule)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(rule_id: int, ctx: ContextDep, request: Request, user: ManageUser) -> Response:
    """Remove a rule; its alarms stay in the queue."""
    if not rule_store.delete_rule(ctx.db, rule_id):
        raise HTTPException(404, f"rule {rule_id} not found")
    audit_action(request, user, "rule.delete", target=f"rule:{rule_id}")
    ctx.engine.reload()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{rule_id}/trigger", response_model=TriggerResult, status_code=202)
async def trigger_rule(
    rule_id: int, body: ManualTriggerRequest, ctx: ContextDep, request: Request, user: RuleReader
) -> TriggerResult:
    """Fire a rule whose trigger is manual, as an operator pressing its button."""
    rule = _get(ctx, rule_id)
    spec = unseal(rule.spec)
    if not isinstance(spec.trigger, ManualTrigger):
        raise HTTPException(
            409,
            f"rule {rule.name!r} is triggered by {spec.trigger.kind}, not manually; "
            "only rules with a manual trigger can be fired by hand",
        )
    if not rule.enabled:
        raise HTTPException(409, f"rule {rule.name!r} is disabled; enable it to fire it")
    if body.camera_id is not None and missing_ids(ctx.db, cameras=[body.camera_id])[0]:
        raise FieldError("camera_id", f"camera {body.camera_id} does not exist")
    ensure_camera(request, user, body.camera_id, Permission.ALARMS, Permission.MANAGE)
    event = Event(
        type=MANUAL,
        at=utcnow(),
        camera_id=body.camera_id,
        attributes={"rule_id": rule.id, "note": body.note, "operator": user.username},
        source=f"operator {user.username}",
    )
    fired = await ctx.engine.fire_manual(rule.id, event)
    await run_in_threadpool(
        audit_action,
        request,
        user,
        "rule.trigger",
        camera_id=body.camera_id,
        target=f"rule:{rule.id}",
    )
    return TriggerResult(event_id=event.id, alarm_id=fired.alarm_id if fired else None)

"""Analytics: a camera's configuration (zones, lines, behaviours), the cameras' analytics
status, the detector plugins, and the live snapshot that zones are drawn on."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from vigil.analytics.behaviours.registry import behaviour_kinds
from vigil.analytics.behaviours.registry import load_errors as behaviour_load_errors
from vigil.analytics.config import CameraAnalyticsConfig, MotionGate
from vigil.analytics.detectors import (
    detector_options,
    known_detectors,
    load_errors,
    parse_detector_config,
)
from vigil.analytics.detectors.onnx_model import INSTALL_HINT
from vigil.analytics.pipeline import STATUS_INTERVAL_S, State
from vigil.analytics.tracking import tracker_config
from vigil.api.auth import (
    CAMERA_ACCESS,
    CurrentUser,
    ManageUser,
    audit_action,
    holds,
    require,
    visible_for,
)
from vigil.api.deps import CameraDep, ContextDep
from vigil.api.recorder_app import SNAPSHOT_PATH
from vigil.domain.messages import AnalyticsConfigChanged
from vigil.domain.permissions import Permission, Visible
from vigil.security.service_token import service_headers
from vigil.store import analytics as analytics_store
from vigil.store import cameras as camera_store
from vigil.store import nodes
from vigil.store.types import utcnow

router = APIRouter(tags=["analytics"])

SNAPSHOT_TIMEOUT_S = 10.0
# A status this old means its recorder stopped reporting.
STALE_AFTER = timedelta(seconds=3 * STATUS_INTERVAL_S)
# The model-level validator names the behaviour at fault: "behaviours.2 (loitering) names zone".
_REFERENCE = re.compile(r"(behaviours\.\d+) \(\w+\) names (zone|line)")


class AnalyticsStatusPublic(BaseModel):
    """How one camera's analytics is doing (rates per second over the last report)."""

    camera_id: int
    state: str
    detector: str | None
    error: str | None
    frames_in: float
    frames_analysed: float
    frames_dropped: float
    motion_ratio: float
    detector_ms: float
    at: datetime


class DetectorPublic(BaseModel):
    """A detector plugin: whether it can run here, and why not."""

    key: str
    available: bool
    reason: str | None = None
    options: dict[str, Any] = Field(
        default_factory=dict, description="JSON schema of the detector's options (not 'type')"
    )


class BehaviourPublic(BaseModel):
    """A behaviour the pipeline can run: its label, the events it emits, its options."""

    key: str
    label: str
    events: list[str] = Field(description="the event types its hits carry (for rules)")
    available: bool = True
    reason: str | None = None
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON schema of its options (x-widget zone/line: a zone or line name)",
    )


def _invalid(field: tuple[str | int, ...], message: str) -> RequestValidationError:
    """An error the app's validation handler answers as 422 naming ``field``."""
    return RequestValidationError(
        [{"loc": ("body", *field), "msg": message, "type": "value_error"}]
    )


def validate_config(raw: dict[str, Any]) -> CameraAnalyticsConfig:
    """Validate a configuration as the pipeline will use it: geometry, references, the
    detector's and the tracker's options.

    Raises:
        RequestValidationError: What is wrong, with the failing field.
    """
    try:
        config = CameraAnalyticsConfig.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc: tuple[str | int, ...] = tuple(error["loc"])
            found = _REFERENCE.search(error["msg"]) if not loc else None
            if found:
                loc = (*found.group(1).split("."), found.group(2))
            errors.append({**error, "loc": ("body", *loc)})
        raise RequestValidationError(errors) from None
    try:
        parse_detector_config(config.detector)
    except ValueError as exc:  # UnknownDetector is a ValueError too
        cause = exc.__cause__
        if isinstance(cause, ValidationError):  # each option that does not fit, by name
            raise RequestValidationError(
                [{**e, "loc": ("body", "detector", *e["loc"])} for e in cause.errors()]
            ) from None
        raise _invalid(("detector",), str(exc)) from None
    try:
        tracker_config({"fps": config.fps, **config.tracker})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _invalid(("tracker", *first["loc"][1:]), first["msg"]) from None
    return config


@router.get(
    "/api/cameras/{camera_id}/analytics",
    response_model=CameraAnalyticsConfig,
    dependencies=[Depends(require(*CAMERA_ACCESS))],
)
def get_analytics(camera: CameraDep, ctx: ContextDep) -> CameraAnalyticsConfig:
    """A camera's analytics configuration (the defaults, analytics off, when none is saved)."""
    return analytics_store.get_config(ctx.db, camera.id)


@router.put("/api/cameras/{camera_id}/analytics", response_model=CameraAnalyticsConfig)
async def put_analytics(
    user: ManageUser,
    camera: CameraDep,
    ctx: ContextDep,
    request: Request,
    body: dict[str, Any] = Body(
        description="a CameraAnalyticsConfig (see GET); zone and line points in 0..1"
    ),
) -> CameraAnalyticsConfig:
    """Save a camera's analytics configuration; its recorder restarts the camera's analytics
    (not its recording) within a moment."""
    config = validate_config(body)
    analytics_store.save_config(ctx.db, camera.id, config)
    await ctx.bus.publish(
        AnalyticsConfigChanged.SUBJECT, AnalyticsConfigChanged(camera_id=camera.id)
    )
    await run_in_threadpool(
        audit_action, request, user, "camera.analytics", camera_id=camera.id, enabled=config.enabled
    )
    return config


@router.get("/api/analytics/status", response_model=list[AnalyticsStatusPublic])
def analytics_status(
    ctx: ContextDep, visible: Annotated[Visible, Depends(visible_for(*CAMERA_ACCESS))]
) -> list[AnalyticsStatusPublic]:
    """The latest analytics status of every camera (the caller may see) that reported one."""
    cameras = {c.id for c in camera_store.list_cameras(ctx.db) if c.id in visible}
    now = utcnow()
    result = []
    for status in ctx.analytics_status.latest():
        if status.camera_id not in cameras:
            continue
        public = AnalyticsStatusPublic.model_validate(status.model_dump())
        if now - status.at > STALE_AFTER and status.state != State.DISABLED:
            public.state = "offline"
            public.error = f"no analytics report since {status.at.isoformat(timespec='seconds')}"
        result.append(public)
    return result


@router.get("/api/analytics/detectors", response_model=list[DetectorPublic])
def detectors(ctx: ContextDep, _: ManageUser) -> list[DetectorPublic]:
    """Detector plugins: registered ones (available unless their default model file is
    missing) and those that failed to load, with the reason."""
    found = []
    for key in known_detectors():
        model = getattr(parse_detector_config({"type": key}), "model", None)
        reason = None
        if isinstance(model, str):
            path = ctx.settings.models_dir / model
            if not path.is_file():
                reason = f"model file {path} is missing: {INSTALL_HINT}"
        found.append(
            DetectorPublic(
                key=key, available=reason is None, reason=reason, options=detector_options(key)
            )
        )
    for key, why in sorted(load_errors().items()):
        found.append(DetectorPublic(key=key, available=False, reason=why))
    return found


@router.get("/api/analytics/behaviours", response_model=list[BehaviourPublic])
def behaviours(_: ManageUser) -> list[BehaviourPublic]:
    """Behaviour plugins (one module each): the editor draws each one's form from
    ``options``; those that failed to load are listed with the reason."""
    found = [
        BehaviourPublic(
            key=key,
            label=str(kind.options.model_config.get("title") or key.replace("_", " ")),
            events=list(kind.events),
            options=kind.options.model_json_schema(),
        )
        for key, kind in behaviour_kinds().items()
    ]
    for key, why in sorted(behaviour_load_errors().items()):
        found.append(BehaviourPublic(key=key, label=key, events=[], available=False, reason=why))
    return found


@router.get("/api/analytics/motion-gate")
def motion_gate_options(_: ManageUser) -> dict[str, Any]:
    """The JSON schema of the motion gate's options (a camera's ``motion``), for editors."""
    return MotionGate.model_json_schema()


@router.get(
    "/api/cameras/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={503: {"description": "no recorder runs the camera, or it has no frame yet"}},
    dependencies=[Depends(require(Permission.LIVE, Permission.MANAGE))],
)
async def snapshot(
    camera: CameraDep, ctx: ContextDep, request: Request, user: CurrentUser
) -> Response:
    """The latest frame of the camera's analytics stream (the sub-stream when it has one)
    as JPEG, from the recorder that reads it; with analytics off, its latest keyframe.
    Without the unmask permission, with the camera's privacy masks filled in."""
    if not camera.enabled:
        raise HTTPException(409, f"camera {camera.id} is disabled: enable it for a snapshot")
    media_url = nodes.media_url_for_camera(ctx.db, camera.id)
    if media_url is None:
        raise HTTPException(503, "no live recorder node records this camera now")
    url = f"{media_url}{SNAPSHOT_PATH.format(camera_id=camera.id)}"
    if not holds(request, user, Permission.UNMASK, camera.id):
        url += "?masked=1"
    try:
        headers = service_headers(ctx.settings.data_dir)
        async with httpx.AsyncClient(timeout=SNAPSHOT_TIMEOUT_S, headers=headers) as client:
            upstream = await client.get(url)
    except httpx.HTTPError as exc:
        raise HTTPException(503, f"recorder {media_url} unavailable: {exc}") from None
    if upstream.status_code != 200:
        try:
            detail = upstream.json().get("detail", upstream.text)
        except ValueError:
            detail = upstream.text
        code = 503 if upstream.status_code >= 500 or upstream.status_code == 404 else 502
        raise HTTPException(code, f"no snapshot of camera {camera.id}: {detail}")
    return Response(
        upstream.content, media_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )

"""External inputs: webhooks and access-control events, turned into events on the bus.

A rule with an ``input`` trigger (source ``webhook`` or ``access_control``) acts on them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vigil.api.auth import require
from vigil.api.deps import ContextDep, ServerContext
from vigil.api.errors import FieldError
from vigil.domain.events import ACCESS_PREFIX, INPUT_WEBHOOK, Event
from vigil.domain.permissions import Permission
from vigil.store import cameras as camera_store
from vigil.store.types import utcnow

# Sensors and door controllers send with an API token limited to the inputs permission.
router = APIRouter(
    prefix="/api/inputs", tags=["inputs"], dependencies=[Depends(require(Permission.INPUTS))]
)

# A sensor's or door controller's message, not an upload.
MAX_BODY_BYTES = 64 * 1024
HOOK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


async def _limited_body(request: Request) -> bytes:
    """The request body, refused with 413 beyond :data:`MAX_BODY_BYTES` (before reading it
    all when the length is announced)."""
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the body is larger than {MAX_BODY_BYTES // 1024} KiB; send the sensor's state, not files",
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


LimitedBody = Annotated[bytes, Depends(_limited_body)]


class InputAccepted(BaseModel):
    """The event made of the input."""

    event_id: str


class AccessControlIn(BaseModel):
    """An access-control system's event (a door forced open, held open, access denied)."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(
        pattern=r"^[a-z0-9_]+$",
        max_length=60,
        description="door_forced, door_held_open, access_denied...: the event is access.<event>",
    )
    door: str = Field(min_length=1, max_length=200)
    camera_id: int | None = Field(None, description="the camera that sees the door")
    card: str | None = Field(None, max_length=200)
    at: AwareDatetime | None = Field(None, description="when it happened; now when left out")


def _parse(body: bytes, content_type: str) -> Any:
    """JSON when the body is JSON (it must be, when declared so), else its text."""
    declared_json = content_type.split(";")[0].strip().lower().endswith(("/json", "+json"))
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise FieldError("body", "the body must be UTF-8 text or JSON") from None
    try:
        return json.loads(text) if text.strip() else ({} if declared_json else "")
    except ValueError as exc:
        if declared_json:
            raise FieldError("body", f"the body is not valid JSON: {exc}") from None
        return text


async def _check_camera(ctx: ServerContext, camera_id: int | None, field: str) -> None:
    if camera_id is not None:
        camera = await asyncio.to_thread(camera_store.get_camera, ctx.db, camera_id)
        if camera is None:
            raise FieldError(field, f"camera {camera_id} does not exist")


async def _publish(ctx: ServerContext, event: Event) -> InputAccepted:
    await ctx.bus.publish(event.subject(), event)
    return InputAccepted(event_id=event.id)


@router.post(
    "/webhook/{name}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InputAccepted,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {}}},
            "description": "any JSON (an object's fields can be matched by rules) or text",
        }
    },
)
async def webhook_input(
    name: Annotated[
        str, Path(pattern=HOOK_NAME, description="the hook's name, as rules refer to it")
    ],
    request: Request,
    body: LimitedBody,
    ctx: ContextDep,
    camera_id: int | None = None,
) -> InputAccepted:
    """A webhook from another system: becomes an ``input.webhook`` event whose
    ``attributes`` are ``{"name": name, "payload": body}``."""
    payload = _parse(body, request.headers.get("content-type", ""))
    await _check_camera(ctx, camera_id, "camera_id")
    event = Event(
        type=INPUT_WEBHOOK,
        at=utcnow(),
        camera_id=camera_id,
        attributes={"name": name, "payload": payload},
        source=f"webhook:{name}",
    )
    return await _publish(ctx, event)


@router.post(
    "/access-control",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InputAccepted,
    dependencies=[Depends(_limited_body)],
)
async def access_control_input(body: AccessControlIn, ctx: ContextDep) -> InputAccepted:
    """An access-control event: becomes ``access.<event>`` with ``attributes``
    ``{"name": event, "payload": {"door", "card"}}``."""
    await _check_camera(ctx, body.camera_id, "camera_id")
    event = Event(
        type=ACCESS_PREFIX + body.event,
        at=body.at or utcnow(),
        camera_id=body.camera_id,
        attributes={"name": body.event, "payload": {"door": body.door, "card": body.card}},
        source="access_control",
    )
    return await _publish(ctx, event)

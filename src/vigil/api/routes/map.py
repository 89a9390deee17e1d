"""The map: site plans (uploaded images), cameras' positions on them and on the street
map, and the street map's tiles relayed from the configured tile server."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.auth import CAMERA_ACCESS, ManageUser, audit_action, require
from vigil.api.deps import CameraDep, ContextDep
from vigil.api.errors import FieldError
from vigil.api.schemas import Name
from vigil.domain.map import CameraPosition
from vigil.integrations.tiles import TileError
from vigil.store import map as map_store
from vigil.store.models import SitePlan

router = APIRouter(tags=["map"])
SEES_CAMERAS = [Depends(require(*CAMERA_ACCESS))]

PLAN_MAX_BYTES = 20 * 1024 * 1024
PLAN_MAX_PIXELS = 100_000_000  # a 10,000 x 10,000 drawing
PLAN_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# Plans and tiles change rarely: the browser keeps them for a day (private: signed-in).
IMAGE_CACHE = "private, max-age=86400"


class PlanPublic(BaseModel):
    """A site plan (its picture at ``/api/plans/{id}/image``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    width: int = Field(description="pixels")
    height: int = Field(description="pixels")
    created_at: datetime


class PlanUpdate(BaseModel):
    """A plan's new name."""

    model_config = ConfigDict(extra="forbid")

    name: Name


class StreetMapPublic(BaseModel):
    """The street map, when a tile server is configured."""

    tiles: str = Field(description="tile URL template on this server")
    attribution: str
    center: tuple[float, float] = Field(description="latitude, longitude it opens at")
    zoom: int
    max_zoom: int


class MapPublic(BaseModel):
    """What the map page can show: the street map (None: no tile server) and the plans."""

    street: StreetMapPublic | None
    plans: list[PlanPublic]


@router.get("/api/map", response_model=MapPublic, dependencies=SEES_CAMERAS)
def map_config(ctx: ContextDep) -> MapPublic:
    """The street map's settings and the site plans."""
    settings = ctx.settings.map
    street = None
    if ctx.tiles is not None:
        street = StreetMapPublic(
            tiles="/api/map/tiles/{z}/{x}/{y}",
            attribution=settings.attribution,
            center=(settings.center_latitude, settings.center_longitude),
            zoom=settings.zoom,
            max_zoom=settings.max_zoom,
        )
    plans = [PlanPublic.model_validate(p) for p in map_store.list_plans(ctx.db)]
    return MapPublic(street=street, plans=plans)


@router.get("/api/map/tiles/{z}/{x}/{y}", dependencies=SEES_CAMERAS)
async def tile(z: int, x: int, y: int, ctx: ContextDep) -> Response:
    """A street map tile from the configured tile server (404 without one)."""
    if ctx.tiles is None:
        raise HTTPException(404, "no street map: set map.tile_url (VIGIL_MAP__TILE_URL)")
    try:
        found = await ctx.tiles.tile(z, x, y)
    except TileError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return Response(
        found.data, media_type=found.content_type, headers={"Cache-Control": IMAGE_CACHE}
    )


def _read_plan(data: bytes) -> tuple[str, int, int]:
    """The content type and size of a plan's picture; FieldError when it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            kind, (width, height) = picture.format, picture.size
            if width * height > PLAN_MAX_PIXELS:
                raise FieldError("image", f"{width}x{height} is over {PLAN_MAX_PIXELS:,} pixels")
            picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FieldError("image", f"not a readable PNG, JPEG or WebP picture ({exc})") from None
    if kind not in PLAN_TYPES:
        raise FieldError("image", f"a {kind} picture: give a PNG, JPEG or WebP")
    return PLAN_TYPES[kind], width, height


@router.post(
    "/api/plans",
    response_model=PlanPublic,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}} for t in PLAN_TYPES.values()
            },
        }
    },
)
async def create_plan(
    request: Request,
    ctx: ContextDep,
    user: ManageUser,
    name: Name = Query(description="the plan's name, e.g. 'Central station, ground floor'"),
) -> SitePlan:
    """Add a site plan: the request's body is the picture (PNG, JPEG or WebP, up to 20 MB)."""
    received = bytearray()  # appended in place: joining bytes copies the whole upload each time
    async for chunk in request.stream():
        received += chunk
        if len(received) > PLAN_MAX_BYTES:
            raise HTTPException(
                413, f"a plan's picture may be {PLAN_MAX_BYTES // 2**20} MB at most"
            )
    if not received:
        raise FieldError("image", "send the plan's picture as the request's body")
    data = bytes(received)
    content_type, width, height = await asyncio.to_thread(_read_plan, data)
    plan = await asyncio.to_thread(
        map_store.create_plan,
        ctx.db,
        name=name,
        content_type=content_type,
        width=width,
        height=height,
        image=data,
    )
    await asyncio.to_thread(audit_action, request, user, "plan.create", target=name)
    return plan


def _plan(ctx: ContextDep, plan_id: int) -> SitePlan:
    plan = map_store.get_plan(ctx.db, plan_id)
    if plan is None:
        raise HTTPException(404, f"plan {plan_id} not found")
    return plan


@router.get("/api/plans/{plan_id}/image", dependencies=SEES_CAMERAS)
def plan_image(plan_id: int, ctx: ContextDep) -> Response:
    """A plan's picture."""
    found = map_store.plan_image(ctx.db, plan_id)
    if found is None:
        raise HTTPException(404, f"plan {plan_id} not found")
    return Response(
        found.data, media_type=found.content_type, headers={"Cache-Control": IMAGE_CACHE}
    )


@router.patch("/api/plans/{plan_id}", response_model=PlanPublic)
def rename_plan(
    plan_id: int, body: PlanUpdate, request: Request, ctx: ContextDep, user: ManageUser
) -> SitePlan:
    """Rename a plan."""
    plan = map_store.rename_plan(ctx.db, plan_id, body.name)
    if plan is None:
        raise HTTPException(404, f"plan {plan_id} not found")
    audit_action(request, user, "plan.update", target=body.name)
    return plan


@router.delete("/api/plans/{plan_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_plan(plan_id: int, request: Request, ctx: ContextDep, user: ManageUser) -> Response:
    """Remove a plan; the cameras on it keep their street position, if any."""
    plan = _plan(ctx, plan_id)
    map_store.delete_plan(ctx.db, plan_id)
    audit_action(request, user, "plan.delete", target=plan.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def check_position(ctx: ContextDep, position: CameraPosition | None) -> None:
    """A position's plan must exist (422 naming it otherwise)."""
    plan_id = position.plan_id if position is not None else None
    if plan_id is not None and map_store.get_plan(ctx.db, plan_id) is None:
        raise FieldError("position.plan_id", f"no plan {plan_id}")


@router.put("/api/cameras/{camera_id}/position", response_model=CameraPosition)
def set_position(
    body: CameraPosition, camera: CameraDep, request: Request, ctx: ContextDep, user: ManageUser
) -> CameraPosition:
    """Place a camera on the street map and/or a site plan, with its heading and field of
    view. Recording goes on undisturbed."""
    check_position(ctx, body)
    map_store.set_position(ctx.db, camera.id, body)
    audit_action(request, user, "camera.position", camera_id=camera.id, target=camera.name)
    return body


@router.delete("/api/cameras/{camera_id}/position", status_code=status.HTTP_204_NO_CONTENT)
def remove_position(
    camera: CameraDep, request: Request, ctx: ContextDep, user: ManageUser
) -> Response:
    """Take a camera off the map and its plan."""
    map_store.set_position(ctx.db, camera.id, None)
    audit_action(request, user, "camera.position", camera_id=camera.id, target=camera.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

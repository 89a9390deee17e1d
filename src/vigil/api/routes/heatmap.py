"""Heatmaps of where objects moved on a camera."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select

from vigil.api.auth import require
from vigil.api.deps import CameraDep, ContextDep
from vigil.api.routes.search import as_utc, check_classes, check_period
from vigil.domain.permissions import Permission
from vigil.search import heatmap as hm
from vigil.store import tracks as track_store
from vigil.store.models import CameraHealth
from vigil.store.types import utcnow

router = APIRouter(tags=["search"])

DEFAULT_PERIOD = timedelta(hours=24)
HEATMAP_TRACKS_MAX = 50_000
"""Tracks read for one heatmap at most (the newest of the period)."""


class HeatmapGrid(BaseModel):
    """Track counts per cell, row by row from the top (``format=json``)."""

    width: int
    height: int
    cells: list[list[int]]
    tracks: int
    since: datetime
    until: datetime


@router.get(
    "/api/cameras/{camera_id}/heatmap",
    response_model=None,
    responses={200: {"content": {"image/png": {}}, "model": HeatmapGrid}},
    dependencies=[Depends(require(Permission.SEARCH))],
)
async def camera_heatmap(
    camera: CameraDep,
    ctx: ContextDep,
    since: Annotated[datetime | None, Query(description="from (default: until - 24 h)")] = None,
    until: Annotated[datetime | None, Query(description="to (default: now)")] = None,
    classes: Annotated[str | None, Query(description="comma separated, e.g. person,car")] = None,
    format: Literal["png", "json"] = "png",
) -> Response | HeatmapGrid:
    """Where the camera's tracks went in a period: a transparent PNG at the camera's aspect
    to lay over its snapshot, or the grid of counts. An empty period is an empty map."""
    end = as_utc(until) or utcnow()
    start = as_utc(since) or end - DEFAULT_PERIOD
    check_period(start, end)
    names = [c.strip() for c in (classes or "").split(",") if c.strip()]
    check_classes("classes", names)

    def build() -> tuple[npt.NDArray[np.int32], int]:
        with ctx.db.session() as s:
            size = s.execute(
                select(CameraHealth.width, CameraHealth.height).where(
                    CameraHealth.camera_id == camera.id
                )
            ).first()
        columns, rows = hm.grid_size(*(size or (None, None)))
        paths = track_store.track_paths(
            ctx.db,
            camera_id=camera.id,
            since=start,
            until=end,
            classes=names,
            limit=HEATMAP_TRACKS_MAX,
        )
        return hm.accumulate(paths, columns, rows), len(paths)

    counts, tracks = await asyncio.to_thread(build)
    if format == "json":
        return HeatmapGrid(**hm.grid_json(counts), tracks=tracks, since=start, until=end)
    png = await asyncio.to_thread(hm.render_png, counts)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

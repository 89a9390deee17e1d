"""Forensic search over stored events and tracks, and the tracks' thumbnails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from vigil.analytics.classes import COCO_CLASSES, OBJECT_CLASS
from vigil.analytics.colour import COLOURS
from vigil.api.auth import Principal, audit_action, ensure_camera, require, visible_cameras
from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.routes.events import recorded_file
from vigil.domain.permissions import Permission
from vigil.search.query import (
    SEARCH_COUNT_MAX,
    SEARCH_LIMIT_MAX,
    Hit,
    SearchFilters,
    SearchKind,
    search,
)
from vigil.store import tracks as track_store

router = APIRouter(tags=["search"])

SearchUser = Annotated[Principal, Depends(require(Permission.SEARCH))]

PLAYBACK_PREROLL = timedelta(seconds=5)
"""Playback of a hit starts this long before it, so the operator sees what led to it."""

KNOWN_CLASSES = frozenset((*COCO_CLASSES, OBJECT_CLASS))


class PlaybackLink(BaseModel):
    """Where to play a hit from: ``#/camera/{camera_id}?at={start}`` in the web client."""

    camera_id: int
    start: datetime


class SearchHit(BaseModel):
    """An event or a track that matched."""

    kind: str = Field(description="event or track")
    id: str
    camera_id: int | None
    camera_name: str | None
    at: datetime = Field(description="the event's time, or when the track was first seen")
    end: datetime | None = Field(description="when the track was last seen (tracks)")
    type: str | None = Field(description="the event's type (events)")
    class_name: str | None
    colour: str | None
    zone: str | None = Field(description="the event's zone or line (events)")
    zones: list[str] = Field(description="zones the track entered (tracks)")
    thumbnail_url: str | None = Field(description="the track's crop or the event's snapshot")
    snapshot_url: str | None = Field(description="the event's snapshot (events)")
    playback: PlaybackLink | None


class SearchPage(BaseModel):
    """A page of hits, newest first, and how many match in all."""

    total: int = Field(
        description=f"hits in all, counted up to {SEARCH_COUNT_MAX:,} (or past the page asked for)"
    )
    more: bool = Field(False, description="there are more hits than total (a broad filter)")
    items: list[SearchHit]


def as_utc(value: datetime | None) -> datetime | None:
    """A query's time in UTC; one given without a zone is taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_period(since: datetime | None, until: datetime | None) -> None:
    """Refuse a period that ends before it starts (422 naming ``until``)."""
    if since is not None and until is not None and since >= until:
        raise FieldError("until", f"must be after since ({since.isoformat()})")


def check_classes(field: str, names: list[str]) -> None:
    """Refuse unknown object classes (422 naming the field, with the known classes)."""
    unknown = [n for n in names if n not in KNOWN_CLASSES]
    if unknown:
        raise FieldError(
            field,
            f"unknown class(es) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_CLASSES))}",
        )


def _hit_public(hit: Hit) -> SearchHit:
    if hit.kind == "track":
        thumbnail = f"/api/tracks/{hit.id}/thumbnail" if hit.image else None
        snapshot = None
    else:
        snapshot = f"/api/events/{hit.id}/snapshot" if hit.image else None
        thumbnail = snapshot
    playback = (
        PlaybackLink(camera_id=hit.camera_id, start=hit.at - PLAYBACK_PREROLL)
        if hit.camera_id is not None
        else None
    )
    return SearchHit(
        kind=hit.kind,
        id=hit.id,
        camera_id=hit.camera_id,
        camera_name=hit.camera_name,
        at=hit.at,
        end=hit.end,
        type=hit.type,
        class_name=hit.class_name,
        colour=hit.colour,
        zone=hit.zone,
        zones=hit.zones,
        thumbnail_url=thumbnail,
        snapshot_url=snapshot,
        playback=playback,
    )


@router.get("/api/search", response_model=SearchPage)
def search_route(
    ctx: ContextDep,
    request: Request,
    user: SearchUser,
    since: Annotated[datetime | None, Query(description="from (UTC when no zone is given)")] = None,
    until: Annotated[datetime | None, Query(description="to, exclusive")] = None,
    camera_id: Annotated[list[int], Query(description="cameras (repeat the parameter)")] = [],  # noqa: B006
    type: Annotated[
        str | None, Query(description="event type, or a prefix ending in *; events only")
    ] = None,
    class_name: Annotated[list[str], Query(description="object classes (repeatable)")] = [],  # noqa: B006
    zone: Annotated[str | None, Query(description="the zone or line")] = None,
    colour: Annotated[list[str], Query(description=f"one of {', '.join(COLOURS)}")] = [],  # noqa: B006
    plate: Annotated[
        str | None,
        Query(
            max_length=32,
            description="a licence plate (readings one OCR confusion away too) or a pattern "
            "with * and ?; plate readings and register hits only",
        ),
    ] = None,
    kind: SearchKind = SearchKind.ALL,
    limit: Annotated[int, Query(ge=1, le=SEARCH_LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SearchPage:
    """Events and tracks matching every filter given, newest first, a page at a time."""
    since, until = as_utc(since), as_utc(until)
    check_period(since, until)
    check_classes("class_name", class_name)
    bad = [c for c in colour if c not in COLOURS]
    if bad:
        raise FieldError("colour", f"unknown colour(s) {', '.join(bad)}; use {', '.join(COLOURS)}")
    for asked in camera_id:
        ensure_camera(request, user, asked, Permission.SEARCH)
    visible = visible_cameras(request, user, Permission.SEARCH)
    cameras = camera_id or ([] if visible.all else sorted(visible.camera_ids))
    audit_action(
        request,
        user,
        "search",
        cameras=camera_id,
        since=since,
        until=until,
        type=type,
        class_name=class_name,
        zone=zone,
        colour=colour,
        plate=plate,
    )
    filters = SearchFilters(
        since=since,
        until=until,
        camera_ids=cameras,
        type=type or None,
        class_names=class_name,
        zone=zone or None,
        colours=colour,
        plate=plate or None,
        kind=kind,
        hidden_registers=visible.hidden_registers,
    )
    result = search(ctx.db, filters, limit=limit, offset=offset)
    items = [_hit_public(h) for h in result.hits]
    return SearchPage(total=result.total, more=result.more, items=items)


@router.get("/api/tracks/{track_id}/thumbnail", response_class=FileResponse)
def track_thumbnail(track_id: int, ctx: ContextDep, request: Request, user: SearchUser) -> Response:
    """The crop saved when a track ended (under the data directory of the server, or of
    the recorder node that recorded it: 503 naming that node while it is unavailable)."""
    track = track_store.get_track(ctx.db, track_id)
    if track is None or not track.thumbnail:
        raise HTTPException(404, f"track {track_id} has no thumbnail")
    ensure_camera(request, user, track.camera_id, Permission.SEARCH)
    return recorded_file(ctx, track.thumbnail, camera_id=track.camera_id, at=track.first_at)

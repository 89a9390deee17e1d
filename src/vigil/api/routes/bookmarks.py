"""Bookmarks on cameras' timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from vigil.api.auth import Principal, ensure_camera, require, visible_for
from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.schemas_alarms import BookmarkCreate, BookmarkPublic
from vigil.domain.permissions import Permission, Visible
from vigil.store import bookmarks as bookmark_store
from vigil.store.groups import missing_ids

router = APIRouter(prefix="/api/bookmarks", tags=["recordings"])


# Bookmarks live on the timeline: whoever may watch a camera's footage sees and adds them.
VIEWERS = (Permission.PLAYBACK, Permission.LIVE, Permission.ALARMS)
BookmarkUser = Annotated[Principal, Depends(require(*VIEWERS))]


@router.get("", response_model=list[BookmarkPublic])
def list_bookmarks(
    ctx: ContextDep,
    visible: Annotated[Visible, Depends(visible_for(*VIEWERS))],
    camera_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[BookmarkPublic]:
    """Bookmarks by time."""
    found = bookmark_store.list_bookmarks(
        ctx.db, camera_id=camera_id, since=since, until=until, limit=limit
    )
    return [BookmarkPublic.model_validate(b) for b in found if b.camera_id in visible]


@router.post("", response_model=BookmarkPublic, status_code=status.HTTP_201_CREATED)
def add_bookmark(
    body: BookmarkCreate, ctx: ContextDep, request: Request, user: BookmarkUser
) -> BookmarkPublic:
    """Mark a moment (or a range, with ``end``) on a camera's timeline."""
    if missing_ids(ctx.db, cameras=[body.camera_id])[0]:
        raise FieldError("camera_id", f"camera {body.camera_id} does not exist")
    ensure_camera(request, user, body.camera_id, *VIEWERS)
    if body.end is not None and body.end < body.at:
        raise FieldError("end", "a bookmark cannot end before it starts")
    bookmark = bookmark_store.add_bookmark(ctx.db, **body.model_dump(), created_by=user.username)
    return BookmarkPublic.model_validate(bookmark)


@router.delete("/{bookmark_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_bookmark(
    bookmark_id: int, ctx: ContextDep, request: Request, user: BookmarkUser
) -> Response:
    """Remove a bookmark."""
    found = bookmark_store.get_bookmark(ctx.db, bookmark_id)
    if found is None:
        raise HTTPException(404, f"bookmark {bookmark_id} not found")
    ensure_camera(request, user, found.camera_id, *VIEWERS)
    if not bookmark_store.delete_bookmark(ctx.db, bookmark_id):
        raise HTTPException(404, f"bookmark {bookmark_id} not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)

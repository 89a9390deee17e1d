"""Bookmarks on cameras' timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from vigil.api.deps import ContextDep
from vigil.api.errors import FieldError
from vigil.api.schemas_alarms import BookmarkCreate, BookmarkPublic
from vigil.store import bookmarks as bookmark_store
from vigil.store.groups import missing_ids

router = APIRouter(prefix="/api/bookmarks", tags=["recordings"])


@router.get("", response_model=list[BookmarkPublic])
def list_bookmarks(
    ctx: ContextDep,
    camera_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[BookmarkPublic]:
    """Bookmarks by time."""
    found = bookmark_store.list_bookmarks(
        ctx.db, camera_id=camera_id, since=since, until=until, limit=limit
    )
    return [BookmarkPublic.model_validate(b) for b in found]


@router.post("", response_model=BookmarkPublic, status_code=status.HTTP_201_CREATED)
def add_bookmark(body: BookmarkCreate, ctx: ContextDep) -> BookmarkPublic:
    """Mark a moment (or a range, with ``end``) on a camera's timeline."""
    if missing_ids(ctx.db, cameras=[body.camera_id])[0]:
        raise FieldError("camera_id", f"camera {body.camera_id} does not exist")
    if body.end is not None and body.end < body.at:
        raise FieldError("end", "a bookmark cannot end before it starts")
    bookmark = bookmark_store.add_bookmark(ctx.db, **body.model_dump())
    return BookmarkPublic.model_validate(bookmark)


@router.delete("/{bookmark_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_bookmark(bookmark_id: int, ctx: ContextDep) -> Response:
    """Remove a bookmark."""
    if not bookmark_store.delete_bookmark(ctx.db, bookmark_id):
        raise HTTPException(404, f"bookmark {bookmark_id} not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)

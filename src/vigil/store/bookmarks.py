"""Bookmarks: marked moments (or ranges) on a camera's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from vigil.store.db import Database
from vigil.store.models import Bookmark


def add_bookmark(
    db: Database,
    *,
    camera_id: int,
    at: datetime,
    end: datetime | None,
    label: str,
    created_by: str | None,
    alarm_id: int | None = None,
) -> Bookmark:
    """Insert a bookmark."""
    with db.session() as s:
        bookmark = Bookmark(
            camera_id=camera_id,
            at=at,
            end=end,
            label=label,
            created_by=created_by,
            alarm_id=alarm_id,
        )
        s.add(bookmark)
        s.flush()
        return bookmark


def list_bookmarks(
    db: Database,
    *,
    camera_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> Sequence[Bookmark]:
    """Bookmarks by time, oldest first."""
    query = select(Bookmark).order_by(Bookmark.at, Bookmark.id)
    if camera_id is not None:
        query = query.where(Bookmark.camera_id == camera_id)
    if since is not None:
        query = query.where(Bookmark.at >= since)
    if until is not None:
        query = query.where(Bookmark.at < until)
    with db.session() as s:
        return s.scalars(query.limit(limit)).all()


def get_bookmark(db: Database, bookmark_id: int) -> Bookmark | None:
    """One bookmark, or None."""
    with db.session() as s:
        return s.get(Bookmark, bookmark_id)


def delete_bookmark(db: Database, bookmark_id: int) -> bool:
    """Remove a bookmark; False when it did not exist."""
    with db.session() as s:
        bookmark = s.get(Bookmark, bookmark_id)
        if bookmark is None:
            return False
        s.delete(bookmark)
        return True

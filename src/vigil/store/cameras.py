"""Cameras and their health in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from vigil.store.db import Database
from vigil.store.models import Camera, CameraHealth
from vigil.store.types import utcnow


class DuplicateCameraName(ValueError):
    """Another camera already has this name."""


def list_cameras(db: Database, *, enabled_only: bool = False) -> Sequence[Camera]:
    """All cameras, by id."""
    query = select(Camera).order_by(Camera.id)
    if enabled_only:
        query = query.where(Camera.enabled.is_(True))
    with db.session() as s:
        return s.scalars(query).all()


def get_camera(db: Database, camera_id: int) -> Camera | None:
    """One camera, or None."""
    with db.session() as s:
        return s.get(Camera, camera_id)


def create_camera(db: Database, **fields: Any) -> Camera:
    """Insert a camera; raises DuplicateCameraName."""
    try:
        with db.session() as s:
            camera = Camera(**fields)
            s.add(camera)
            s.flush()
            return camera
    except IntegrityError as exc:
        raise DuplicateCameraName(fields.get("name", "")) from exc


def update_camera(db: Database, camera_id: int, **fields: Any) -> Camera | None:
    """Change the given fields of a camera; None if it does not exist."""
    try:
        with db.session() as s:
            camera = s.get(Camera, camera_id)
            if camera is None:
                return None
            for key, value in fields.items():
                setattr(camera, key, value)
            camera.updated_at = utcnow()
            s.flush()
            return camera
    except IntegrityError as exc:
        raise DuplicateCameraName(fields.get("name", "")) from exc


def delete_camera(db: Database, camera_id: int) -> bool:
    """Remove a camera and its index rows; False if it did not exist."""
    with db.session() as s:
        camera = s.get(Camera, camera_id)
        if camera is None:
            return False
        s.delete(camera)
        return True


def health_of(db: Database) -> dict[int, CameraHealth]:
    """The latest health of every camera that has reported, by camera id."""
    with db.session() as s:
        return {h.camera_id: h for h in s.scalars(select(CameraHealth)).all()}


def save_health(
    db: Database,
    camera_id: int,
    *,
    node: str,
    status: str,
    fps: float,
    bitrate_bps: float,
    last_frame_at: datetime | None,
    last_error: str | None,
    video_codec: str | None,
    width: int | None,
    height: int | None,
) -> None:
    """Upsert a camera's health row (atomically: status changes and the periodic report
    may write at the same moment)."""
    values = {
        "node": node,
        "status": status,
        "fps": fps,
        "bitrate_bps": bitrate_bps,
        "last_frame_at": last_frame_at,
        "last_error": last_error,
        "video_codec": video_codec,
        "width": width,
        "height": height,
        "updated_at": utcnow(),
    }
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(CameraHealth).values(camera_id=camera_id, **values)
    statement = statement.on_conflict_do_update(index_elements=["camera_id"], set_=values)
    with db.session() as s:
        if s.get(Camera, camera_id) is None:
            return  # removed meanwhile
        s.execute(statement)

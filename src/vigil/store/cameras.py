"""Cameras and their health in the database."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from vigil.store.db import Database, retry_on_lock_conflict
from vigil.store.models import Camera, CameraHealth
from vigil.store.types import utcnow


class DuplicateCameraName(ValueError):
    """Another camera already has this name."""


def list_cameras(
    db: Database, *, enabled_only: bool = False, sites: Collection[str] | None = None
) -> Sequence[Camera]:
    """All cameras, by id; ``sites``: only those of these sites (as stored)."""
    query = select(Camera).order_by(Camera.id)
    if enabled_only:
        query = query.where(Camera.enabled.is_(True))
    if sites is not None:
        query = query.where(Camera.site.in_(sites))
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
    """Remove a camera and its index rows; False if it did not exist. Run again if it
    deadlocks with the camera's recorder node writing its rows meanwhile."""

    def delete() -> bool:
        with db.session() as s:
            camera = s.get(Camera, camera_id)
            if camera is None:
                return False
            s.delete(camera)
            return True

    return retry_on_lock_conflict(delete)


def health_of(db: Database) -> dict[int, CameraHealth]:
    """The latest health of every camera that has reported, by camera id."""
    with db.session() as s:
        return {h.camera_id: h for h in s.scalars(select(CameraHealth)).all()}


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One camera's ingest health, as a recorder reports it."""

    camera_id: int
    node: str
    status: str
    fps: float
    bitrate_bps: float
    last_frame_at: datetime | None
    last_error: str | None
    video_codec: str | None
    width: int | None
    height: int | None


def save_health(db: Database, reports: Sequence[HealthReport]) -> None:
    """Upsert the health rows of many cameras in one transaction (atomically: a status
    change and the periodic report may write at the same moment)."""
    if not reports:
        return
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    with db.session() as s:
        existing = set(
            s.scalars(select(Camera.id).where(Camera.id.in_([r.camera_id for r in reports])))
        )
        for report in reports:
            if report.camera_id not in existing:
                continue  # removed meanwhile
            values = {**asdict(report), "updated_at": now}
            values.pop("camera_id")
            statement = insert(CameraHealth).values(camera_id=report.camera_id, **values)
            s.execute(statement.on_conflict_do_update(index_elements=["camera_id"], set_=values))

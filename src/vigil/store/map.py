"""Site plans and cameras' positions in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.domain.errors import Conflict
from vigil.domain.map import CameraPosition
from vigil.store.db import Database
from vigil.store.models import Camera, SitePlan


@dataclass(frozen=True, slots=True)
class PlanImage:
    """A plan's picture as stored."""

    content_type: str
    data: bytes


def list_plans(db: Database) -> Sequence[SitePlan]:
    """Every site plan (without its image), by name."""
    with db.session() as s:
        return s.scalars(select(SitePlan).order_by(SitePlan.name)).all()


def get_plan(db: Database, plan_id: int) -> SitePlan | None:
    """One plan (without its image)."""
    with db.session() as s:
        return s.get(SitePlan, plan_id)


def plan_image(db: Database, plan_id: int) -> PlanImage | None:
    """A plan's picture."""
    with db.session() as s:
        row = s.execute(
            select(SitePlan.content_type, SitePlan.image).where(SitePlan.id == plan_id)
        ).first()
    return PlanImage(row.content_type, row.image) if row is not None else None


def create_plan(
    db: Database, *, name: str, content_type: str, width: int, height: int, image: bytes
) -> SitePlan:
    """Add a plan; :class:`Conflict` when the name is taken."""
    try:
        with db.session() as s:
            plan = SitePlan(
                name=name, content_type=content_type, width=width, height=height, image=image
            )
            s.add(plan)
            s.flush()
            s.expunge(plan)
            return plan
    except IntegrityError:
        raise Conflict(f"a plan named {name!r} already exists") from None


def rename_plan(db: Database, plan_id: int, name: str) -> SitePlan | None:
    """Rename a plan; :class:`Conflict` when the name is taken."""
    try:
        with db.session() as s:
            plan = s.get(SitePlan, plan_id)
            if plan is not None:
                plan.name = name
                s.flush()
            return plan
    except IntegrityError:
        raise Conflict(f"a plan named {name!r} already exists") from None


def delete_plan(db: Database, plan_id: int) -> list[int] | None:
    """Remove a plan; the cameras placed on it keep their street position only. Returns
    their ids (None: no such plan)."""
    with db.session() as s:
        plan = s.get(SitePlan, plan_id)
        if plan is None:
            return None
        moved = []
        for camera in s.scalars(select(Camera).where(Camera.position.is_not(None))):
            position = position_of(camera)
            if position is None or position.plan_id != plan_id:
                continue
            rest = position.off_plan(plan_id)
            _write_position(s, camera.id, rest)
            moved.append(camera.id)
        s.delete(plan)
        return moved


def position_of(camera: Camera) -> CameraPosition | None:
    """A camera's stored position (None: not placed, or unreadable)."""
    if not camera.position:
        return None
    try:
        return CameraPosition.model_validate(camera.position)
    except ValueError:
        return None


def set_position(db: Database, camera_id: int, position: CameraPosition | None) -> bool:
    """Place a camera (None: take it off the map); False when there is no such camera.
    ``updated_at`` stays: the recorder restarts a camera whose row changed, and moving a pin
    must not interrupt recording."""
    with db.session() as s:
        return _write_position(s, camera_id, position)


def _write_position(s: Session, camera_id: int, position: CameraPosition | None) -> bool:
    value = position.model_dump(exclude_none=True) if position is not None else None
    result = s.execute(
        update(Camera)
        .where(Camera.id == camera_id)
        .values(position=value, updated_at=Camera.updated_at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]

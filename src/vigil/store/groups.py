"""Camera groups (areas, districts, buildings) and their members."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.store.db import Database
from vigil.store.models import Camera, CameraGroup, CameraGroupMember
from vigil.store.rules import DuplicateName, InUse, rules_using


@dataclass(frozen=True, slots=True)
class Group:
    """A group with its cameras."""

    id: int
    name: str
    description: str | None
    camera_ids: list[int]


def _members(s: Session, group_ids: Iterable[int]) -> dict[int, list[int]]:
    rows = s.execute(
        select(CameraGroupMember.group_id, CameraGroupMember.camera_id)
        .where(CameraGroupMember.group_id.in_(list(group_ids)))
        .order_by(CameraGroupMember.camera_id)
    )
    members: dict[int, list[int]] = defaultdict(list)
    for group_id, camera_id in rows:
        members[group_id].append(camera_id)
    return members


def list_groups(db: Database) -> list[Group]:
    """All groups, by name."""
    with db.session() as s:
        groups = s.scalars(select(CameraGroup).order_by(CameraGroup.name)).all()
        members = _members(s, [g.id for g in groups])
        return [Group(g.id, g.name, g.description, members.get(g.id, [])) for g in groups]


def get_group(db: Database, group_id: int) -> Group | None:
    """One group, or None."""
    with db.session() as s:
        g = s.get(CameraGroup, group_id)
        if g is None:
            return None
        return Group(g.id, g.name, g.description, _members(s, [g.id]).get(g.id, []))


def save_group(
    db: Database,
    *,
    group_id: int | None,
    name: str,
    description: str | None,
    camera_ids: list[int],
) -> Group | None:
    """Insert (no id) or replace a group and its members; None when the id does not exist."""
    try:
        with db.session() as s:
            if group_id is None:
                group = CameraGroup(name=name, description=description)
                s.add(group)
            else:
                found = s.get(CameraGroup, group_id)
                if found is None:
                    return None
                group = found
                group.name, group.description = name, description
                s.execute(delete(CameraGroupMember).where(CameraGroupMember.group_id == group_id))
            s.flush()
            ids = sorted(set(camera_ids))
            s.add_all(CameraGroupMember(group_id=group.id, camera_id=c) for c in ids)
            s.flush()
            return Group(group.id, group.name, group.description, ids)
    except IntegrityError as exc:
        raise DuplicateName(name) from exc


def delete_group(db: Database, group_id: int) -> bool:
    """Remove a group; raises InUse when a rule uses it."""
    if users := rules_using(db, group_id=group_id):
        raise InUse(f"camera group {group_id} is used by rule(s): {', '.join(users)}")
    with db.session() as s:
        group = s.get(CameraGroup, group_id)
        if group is None:
            return False
        s.delete(group)
        return True


def groups_of_camera(db: Database, camera_id: int) -> frozenset[int]:
    """The ids of the groups a camera belongs to."""
    with db.session() as s:
        return frozenset(
            s.scalars(
                select(CameraGroupMember.group_id).where(CameraGroupMember.camera_id == camera_id)
            )
        )


def groups_by_camera(db: Database) -> dict[int, list[int]]:
    """For each camera in some group, the ids of its groups."""
    with db.session() as s:
        rows = s.execute(select(CameraGroupMember.camera_id, CameraGroupMember.group_id))
        result: dict[int, list[int]] = defaultdict(list)
        for camera_id, group_id in rows:
            result[camera_id].append(group_id)
        return dict(result)


def missing_ids(
    db: Database, *, cameras: Iterable[int] = (), groups: Iterable[int] = ()
) -> tuple[list[int], list[int]]:
    """The given camera ids and group ids that do not exist."""
    cams, grps = set(cameras), set(groups)
    with db.session() as s:
        found_c = set(s.scalars(select(Camera.id).where(Camera.id.in_(cams)))) if cams else set()
        found_g = (
            set(s.scalars(select(CameraGroup.id).where(CameraGroup.id.in_(grps))))
            if grps
            else set()
        )
    return sorted(cams - found_c), sorted(grps - found_g)

"""What this server gives a centre that registered it: its own cameras, and its alarms and
events after a cursor, oldest change first. Rows mirrored here from other sites are not
given on: each site speaks for itself."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from vigil.federation.cursor import Cursor
from vigil.federation.models import SiteAlarm, SiteCamera
from vigil.store.db import Database
from vigil.store.events import to_event
from vigil.store.models import Alarm, Camera, EventRecord
from vigil.store.registers import not_hidden

ALARM_FIELDS = (
    "id",
    "uid",
    "camera_id",
    "rule_name",
    "event_id",
    "event_type",
    "title",
    "category",
    "priority",
    "state",
    "owner",
    "sop",
    "occurrences",
    "first_at",
    "last_at",
    "escalated_at",
    "acknowledged_at",
    "closed_at",
    "closing_reason",
    "created_at",
    "updated_at",
)
ALARM_ID_DIGITS = 12  # alarm ids in cursors, zero-padded so that they sort as text


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def alarm_item(alarm: Alarm) -> dict[str, Any]:
    """An alarm as the feed gives it (``has_snapshot``: the site serves one for it)."""
    item = {name: _json(getattr(alarm, name)) for name in ALARM_FIELDS}
    item["has_snapshot"] = bool(alarm.snapshot)
    return item


def _after(
    time: InstrumentedAttribute[Any], key: InstrumentedAttribute[Any], cursor: Cursor, id_: Any
) -> Any:
    return or_(time > cursor.at, and_(time == cursor.at, key > id_))


def _visible(column: InstrumentedAttribute[Any], cameras: Collection[int] | None) -> Any:
    """Rows of the caller's cameras and of no camera (``cameras`` None: all)."""
    return True if cameras is None else or_(column.in_(cameras), column.is_(None))


def own_cameras(db: Database, cameras: Collection[int] | None) -> list[dict[str, Any]]:
    """This site's cameras (not those mirrored from others) the caller may see."""
    query = select(Camera).where(Camera.id.not_in(select(SiteCamera.camera_id)))
    if cameras is not None:
        query = query.where(Camera.id.in_(cameras))
    with db.session() as s:
        rows = s.scalars(query.order_by(Camera.id)).all()
    return [
        {"id": c.id, "uid": c.uid, "name": c.name, "location": c.location, "enabled": c.enabled}
        for c in rows
    ]


def alarms_after(
    db: Database,
    after: Cursor | None,
    *,
    limit: int,
    cameras: Collection[int] | None,
    hidden_registers: Collection[int] = (),
) -> tuple[list[dict[str, Any]], str | None]:
    """This site's alarms changed after the cursor, oldest change first, and the cursor
    after the last one (None when there are none); the hits of ``hidden_registers`` are
    not the caller's (their access alerts other roles)."""
    query = select(Alarm).where(
        Alarm.id.not_in(select(SiteAlarm.alarm_id)),
        _visible(Alarm.camera_id, cameras),
        not_hidden(Alarm.register_id, hidden_registers),
    )
    if after is not None:
        query = query.where(_after(Alarm.updated_at, Alarm.id, after, int(after.id or 0)))
    with db.session() as s:
        rows: Sequence[Alarm] = s.scalars(
            query.order_by(Alarm.updated_at, Alarm.id).limit(limit)
        ).all()
    if not rows:
        return [], None
    last = rows[-1]
    cursor = Cursor(last.updated_at, f"{last.id:0{ALARM_ID_DIGITS}d}")
    return [alarm_item(a) for a in rows], cursor.encode()


def events_after(
    db: Database,
    after: Cursor | None,
    *,
    limit: int,
    cameras: Collection[int] | None,
    mirrored_sites: Collection[str],
    hidden_registers: Collection[int] = (),
) -> tuple[list[dict[str, Any]], str | None]:
    """This site's events stored after the cursor, oldest first, and the cursor after the
    last one (None when there are none), but the hits of ``hidden_registers``."""
    query = select(EventRecord).where(
        EventRecord.stored_at.is_not(None),
        _visible(EventRecord.camera_id, cameras),
        not_hidden(EventRecord.register_id, hidden_registers),
    )
    if mirrored_sites:
        query = query.where(EventRecord.site.not_in(mirrored_sites))
    if after is not None:
        query = query.where(_after(EventRecord.stored_at, EventRecord.id, after, after.id))
    with db.session() as s:
        rows = s.scalars(query.order_by(EventRecord.stored_at, EventRecord.id).limit(limit)).all()
    if not rows:
        return [], None
    last = rows[-1]
    assert last.stored_at is not None
    items = [to_event(r).model_dump(mode="json") for r in rows]
    return items, Cursor(last.stored_at, last.id).encode()

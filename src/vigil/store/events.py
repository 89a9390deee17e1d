"""Stored events: every event the server's bus carries, kept for search and alarms."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigil.domain.events import Event, ObjectRef, event_plate, event_register
from vigil.store.db import Database
from vigil.store.models import EventRecord
from vigil.store.registers import not_hidden

EVENTS_LIMIT_MAX = 1000


def to_record(event: Event, *, site: str = "local") -> EventRecord:
    """The row for an event; the object's main fields get columns of their own for search.
    ``site``: where it happened when the event does not say (this installation)."""
    obj = event.object
    return EventRecord(
        id=event.id,
        site=event.site or site,
        type=event.type,
        at=event.at,
        camera_id=event.camera_id,
        zone=event.zone,
        object_class=obj.class_name if obj else None,
        track_id=obj.track_id if obj else None,
        colour=obj.colour if obj else None,
        plate=(event_plate(event) or "")[:32] or None,
        register_id=event_register(event),
        count=event.count,
        object=obj.model_dump(mode="json") if obj else None,
        attributes=event.attributes,
        snapshot=event.snapshot,
        track=[list(p) for p in event.track],
        source=event.source,
    )


def to_event(record: EventRecord) -> Event:
    """The event a row holds."""
    return Event(
        id=record.id,
        site=record.site,
        type=record.type,
        at=record.at,
        camera_id=record.camera_id,
        zone=record.zone,
        object=ObjectRef.model_validate(record.object) if record.object else None,
        count=record.count,
        attributes=record.attributes or {},
        snapshot=record.snapshot,
        track=[(float(p[0]), float(p[1]), float(p[2])) for p in record.track or []],
        source=record.source,
    )


def add_events(session: Session, events: Sequence[Event], *, site: str = "local") -> set[str]:
    """Add the events not stored yet (an event may arrive twice), in the caller's
    transaction; returns the ids of those added now."""
    if not events:
        return set()
    ids = [e.id for e in events]
    existing = set(session.scalars(select(EventRecord.id).where(EventRecord.id.in_(ids))))
    added: set[str] = set()
    for event in events:
        if event.id not in existing:
            existing.add(event.id)
            added.add(event.id)
            session.add(to_record(event, site=site))
    return added


def save_events(db: Database, events: Sequence[Event]) -> None:
    """Store events in one transaction."""
    with db.session() as s:
        add_events(s, events)


def get_event(db: Database, event_id: str) -> Event | None:
    """One stored event, or None."""
    with db.session() as s:
        record = s.get(EventRecord, event_id)
        return to_event(record) if record else None


def list_events(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    camera_id: int | None = None,
    type: str | None = None,
    cameras: Collection[int] | None = None,
    sites: Collection[str] | None = None,
    hidden_registers: Collection[int] = (),
    limit: int = 100,
) -> list[Event]:
    """Stored events, newest first. ``type`` ending in ``*`` matches a prefix; ``cameras``
    limits them to those cameras' events and events of no camera; ``sites`` to those
    sites' events (as stored); ``hidden_registers``: hits on them are left out."""
    query = select(EventRecord).order_by(EventRecord.at.desc(), EventRecord.id.desc())
    if since is not None:
        query = query.where(EventRecord.at >= since)
    if until is not None:
        query = query.where(EventRecord.at < until)
    if camera_id is not None:
        query = query.where(EventRecord.camera_id == camera_id)
    if cameras is not None:
        query = query.where(
            or_(EventRecord.camera_id.in_(cameras), EventRecord.camera_id.is_(None))
        )
    if sites is not None:
        query = query.where(EventRecord.site.in_(sites))
    query = query.where(not_hidden(EventRecord.register_id, hidden_registers))
    if type:
        if type.endswith("*"):
            query = query.where(EventRecord.type.startswith(type[:-1], autoescape=True))
        else:
            query = query.where(EventRecord.type == type)
    with db.session() as s:
        return [to_event(r) for r in s.scalars(query.limit(min(limit, EVENTS_LIMIT_MAX)))]

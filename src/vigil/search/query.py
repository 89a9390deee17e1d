"""Forensic search: events and tracks by time, camera, type, class, zone and colour; plate
readings by plate (where a vehicle was, camera by camera).

Both tables are queried with the same filters and merged newest first. Each side is cut to
``offset + limit`` rows before the merge, so the database walks its ``(..., at)`` indexes
backwards and stops early instead of sorting everything that matches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    UnaryExpression,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from vigil.domain.plates import confusable_variants, plate_pattern
from vigil.store.db import Database
from vigil.store.models import Camera, EventRecord, TrackRecord
from vigil.store.registers import not_hidden
from vigil.store.types import UTCDateTime

SEARCH_LIMIT_MAX = 200
# Matches are counted up to this many (or past the page asked for); beyond: ``more``.
SEARCH_COUNT_MAX = 10_000


class SearchKind(StrEnum):
    """What a search looks through."""

    EVENTS = "events"
    TRACKS = "tracks"
    ALL = "all"


@dataclass(slots=True, kw_only=True)
class SearchFilters:
    """What a hit must match; empty fields match anything."""

    since: datetime | None = None
    until: datetime | None = None
    camera_ids: list[int] = field(default_factory=list)
    type: str | None = None  # events only; a prefix when it ends in "*"
    class_names: list[str] = field(default_factory=list)
    zone: str | None = None
    colours: list[str] = field(default_factory=list)
    # Events only (plate readings and register hits): a plate, or a pattern with * and ?;
    # a plate without wildcards also finds the readings one OCR confusion away.
    plate: str | None = None
    kind: SearchKind = SearchKind.ALL
    # Registers whose hits the caller is not shown (their access alerts other roles).
    hidden_registers: frozenset[int] = frozenset()


@dataclass(slots=True, kw_only=True)
class Hit:
    """One event or track found."""

    kind: str  # "event" | "track"
    id: str
    camera_id: int | None
    camera_name: str | None
    at: datetime
    end: datetime | None
    type: str | None
    class_name: str | None
    colour: str | None
    zone: str | None
    zones: list[str]
    image: str | None  # snapshot or thumbnail path under the data dir


@dataclass(slots=True)
class SearchResult:
    """A page of hits and how many match in all: counted up to ``SEARCH_COUNT_MAX`` (or
    past the page asked for), ``more`` when there are more than ``total``."""

    total: int
    hits: list[Hit]
    more: bool = False


@dataclass(slots=True)
class _Part:
    """A query of hits, its newest-first order, and the same filter with no columns to
    count by (narrow, so that the database can count from its indexes)."""

    query: Select[*tuple[Any, ...]]
    order: tuple[UnaryExpression[Any], ...]
    matches: Select[*tuple[Any, ...]]


def _event_query(f: SearchFilters) -> _Part:
    e = EventRecord
    conds: list[ColumnElement[bool]] = []
    if f.since is not None:
        conds.append(e.at >= f.since)
    if f.until is not None:
        conds.append(e.at < f.until)
    if f.camera_ids:
        conds.append(e.camera_id.in_(f.camera_ids))
    if f.type:
        conds.append(
            e.type.startswith(f.type[:-1], autoescape=True)
            if f.type.endswith("*")
            else e.type == f.type
        )
    if f.class_names:
        conds.append(e.object_class.in_(f.class_names))
    if f.zone:
        conds.append(e.zone == f.zone)
    if f.colours:
        conds.append(e.colour.in_(f.colours))
    if f.plate:
        pattern = plate_pattern(f.plate)
        conds.append(
            e.plate.like(pattern)
            if pattern is not None
            else e.plate.in_(sorted(confusable_variants(f.plate)))
        )
    conds.append(not_hidden(e.register_id, f.hidden_registers))
    query: Select[*tuple[Any, ...]] = select(
        literal("event").label("kind"),
        e.id.label("id"),
        e.camera_id.label("camera_id"),
        e.at.label("at"),
        cast(null(), UTCDateTime).label("end"),
        e.type.label("type"),
        e.object_class.label("class_name"),
        e.colour.label("colour"),
        e.zone.label("zone"),
        cast(null(), String).label("zones"),
        e.snapshot.label("image"),
    ).where(*conds)
    matches = select(literal(1)).select_from(e).where(*conds)
    if f.plate:
        # A plate's readings are few: found by the plate indexes, then sorted. Ordered by
        # time alone, the planner may walk the time index back through a year for them.
        found = query.cte("plate_events").prefix_with("MATERIALIZED")
        return _Part(select(found), (found.c.at.desc(), found.c.id.desc()), matches)
    return _Part(query, (e.at.desc(), e.id.desc()), matches)


def _track_query(f: SearchFilters) -> _Part:
    t = TrackRecord
    conds: list[ColumnElement[bool]] = []
    # A track is found when it was in view at any time of the period.
    if f.since is not None:
        conds.append(t.last_at >= f.since)
    if f.until is not None:
        conds.append(t.first_at < f.until)
    if f.camera_ids:
        conds.append(t.camera_id.in_(f.camera_ids))
    if f.class_names:
        conds.append(t.object_class.in_(f.class_names))
    if f.zone:
        # zones is a JSON list of names, stored as JSON text on both databases: match the
        # quoted name as the serialiser writes it (json.dumps, like SQLAlchemy's JSON type).
        conds.append(cast(t.zones, String).contains(json.dumps(f.zone), autoescape=True))
    if f.colours:
        conds.append(t.colour.in_(f.colours))
    track_id = cast(t.id, String)
    query: Select[*tuple[Any, ...]] = select(
        literal("track").label("kind"),
        track_id.label("id"),
        t.camera_id.label("camera_id"),
        t.first_at.label("at"),
        t.last_at.label("end"),
        cast(null(), String).label("type"),
        t.object_class.label("class_name"),
        t.colour.label("colour"),
        cast(null(), String).label("zone"),
        cast(t.zones, String).label("zones"),
        t.thumbnail.label("image"),
    ).where(*conds)
    matches = select(literal(1)).select_from(t).where(*conds)
    # Ties broken by the id as text, as the merged page orders them.
    return _Part(query, (t.first_at.desc(), track_id.desc()), matches)


def search(
    db: Database, filters: SearchFilters, *, limit: int = 50, offset: int = 0
) -> SearchResult:
    """Events and tracks matching the filters, newest first.

    Args:
        db: The database.
        filters: What hits must match. A ``type`` only events have, so it leaves tracks out.
        limit: Hits on this page (at most ``SEARCH_LIMIT_MAX``).
        offset: Hits skipped (earlier pages).

    Returns:
        The page, and the number of hits in all (up to ``SEARCH_COUNT_MAX``, or past the
        page asked for; ``more`` when there are more).
    """
    limit = max(1, min(limit, SEARCH_LIMIT_MAX))
    parts: list[_Part] = []
    if filters.kind in (SearchKind.EVENTS, SearchKind.ALL):
        parts.append(_event_query(filters))
    only_events = filters.type or filters.plate
    if filters.kind in (SearchKind.TRACKS, SearchKind.ALL) and not only_events:
        parts.append(_track_query(filters))
    if not parts:
        return SearchResult(0, [])
    # Counting every match of a broad filter over a year of a city's events costs more than
    # the page itself: count as far as anyone pages, then say "more".
    bound = max(SEARCH_COUNT_MAX, offset + limit)
    with db.session() as s:
        counted = sum(
            s.scalar(select(func.count()).select_from(p.matches.limit(bound + 1).subquery())) or 0
            for p in parts
        )
        total, more = min(counted, bound), counted > bound
        if total == 0 or offset >= total:
            return SearchResult(total, [], more)
        rows = _page(s, parts, limit, offset)
        names = _camera_names(s, {r.camera_id for r in rows if r.camera_id is not None})
    hits = [
        Hit(
            kind=r.kind,
            id=r.id,
            camera_id=r.camera_id,
            camera_name=names.get(r.camera_id) if r.camera_id is not None else None,
            at=r.at,
            end=r.end,
            type=r.type,
            class_name=r.class_name,
            colour=r.colour,
            zone=r.zone,
            zones=json.loads(r.zones) if r.zones else [],
            image=r.image,
        )
        for r in rows
    ]
    return SearchResult(total, hits, more)


def _page(s: Session, parts: list[_Part], limit: int, offset: int) -> list[Any]:
    if len(parts) == 1:
        part = parts[0]
        return list(s.execute(part.query.order_by(*part.order).limit(limit).offset(offset)))
    # Each side cut to the rows the page could need, then merged.
    sides = [p.query.order_by(*p.order).limit(offset + limit).subquery() for p in parts]
    merged = union_all(*(select(side) for side in sides)).subquery()
    query = select(merged).order_by(merged.c.at.desc(), merged.c.id.desc())
    return list(s.execute(query.limit(limit).offset(offset)))


def _camera_names(s: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = s.execute(select(Camera.id, Camera.name).where(Camera.id.in_(ids)))
    return {camera_id: name for camera_id, name in rows}

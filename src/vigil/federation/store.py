"""Sites and their mirrored cameras, alarms and events in this server's database.

Everything a site sends is stored by its global id (camera and alarm ``uid``, event id),
in one transaction with the cursor that says it was read: a pass repeated after a cut
link, or read twice through the cursor's overlap, stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.domain.alarms import AlarmChanged
from vigil.domain.events import Event
from vigil.federation.cursor import Cursor, later
from vigil.federation.feed import ALARM_FIELDS
from vigil.federation.models import Site, SiteAlarm, SiteCamera
from vigil.security.secrets import SecretBox
from vigil.store import alarms as alarm_store
from vigil.store.db import Database
from vigil.store.events import add_events
from vigil.store.models import Alarm, Camera, EventRecord
from vigil.store.types import utcnow

# What a site's link is doing, as GET /api/sites shows it.
NEW, ONLINE, UNREACHABLE, REFUSED = "new", "online", "unreachable", "refused"
# Mirrored cameras are recorded by their own site: never by this installation's recorders.
MIRROR_URL = "vigil-site://{site}/cameras/{remote_id}"


SITE_FILTER = "only this site's: a linked site's name, or this installation's own"
LOCAL = "local"  # how rows of this installation may be stored (before it was named)


def stored_sites(name: str | None, installation: str) -> list[str] | None:
    """The stored ``site`` values that ``?site=NAME`` selects (None: no filter). This
    installation's own name, or "local", selects its own rows, stored either way."""
    if name is None:
        return None
    return [LOCAL, installation] if name in (LOCAL, installation) else [name]


class DuplicateSite(ValueError):
    """A site of this name is registered already."""


@dataclass(frozen=True, slots=True)
class SiteLink:
    """What connecting to a site takes (the token decrypted)."""

    name: str
    url: str
    token: str
    fingerprint: str
    certificate: str


SITE_SNAPSHOT = "@site"
"""A mirrored alarm's or event's ``snapshot``: its site has one (relayed by the centre), no
file here."""


def link_of(site: Site, secrets: SecretBox) -> SiteLink:
    """A site's connection details, its token decrypted."""
    token = secrets.decrypt(site.token_encrypted)
    return SiteLink(site.name, site.url, token, site.fingerprint, site.certificate)


# ----- sites ---------------------------------------------------------------------------------


def create_site(db: Database, **fields: Any) -> Site:
    """Register a site; raises :class:`DuplicateSite`."""
    try:
        with db.session() as s:
            site = Site(state=NEW, created_at=utcnow(), **fields)
            s.add(site)
            s.flush()
            return site
    except IntegrityError as exc:
        raise DuplicateSite(fields.get("name", "")) from exc


def list_sites(db: Database) -> Sequence[Site]:
    """All registered sites, by name."""
    with db.session() as s:
        return s.scalars(select(Site).order_by(Site.name)).all()


def get_site(db: Database, name: str) -> Site | None:
    """One site, or None."""
    with db.session() as s:
        return s.get(Site, name)


def site_link(db: Database, secrets: SecretBox, name: str) -> SiteLink | None:
    """The link to a registered site; None when no site has that name (any more)."""
    site = get_site(db, name)
    return link_of(site, secrets) if site is not None else None


def delete_site(db: Database, name: str) -> bool:
    """Forget a site and everything mirrored from it; False if it was not registered."""
    with db.session() as s:
        if s.get(Site, name) is None:
            return False
        cameras = select(SiteCamera.camera_id).where(SiteCamera.site == name)
        alarms = select(SiteAlarm.alarm_id).where(SiteAlarm.site == name)
        s.execute(delete(Alarm).where(Alarm.id.in_(alarms)))
        s.execute(delete(Camera).where(Camera.id.in_(cameras)))
        s.execute(delete(EventRecord).where(EventRecord.site == name))
        s.execute(delete(Site).where(Site.name == name))
        return True


def claim_link(db: Database, name: str, owner: str, *, until: datetime) -> bool:
    """Take (or keep) the site's link for ``owner`` until ``until``, unless another server
    holds it still: one link per site however many servers run."""
    now = utcnow()
    with db.session() as s:
        result = s.execute(
            update(Site)
            .where(
                Site.name == name,
                or_(Site.link_owner.is_(None), Site.link_owner == owner, Site.link_until < now),
            )
            .values(link_owner=owner, link_until=until)
        )
        return bool(getattr(result, "rowcount", 0))


def release_link(db: Database, name: str, owner: str) -> None:
    """Let another server take the link at once (this one stops)."""
    with db.session() as s:
        s.execute(
            update(Site)
            .where(Site.name == name, Site.link_owner == owner)
            .values(link_owner=None, link_until=None)
        )


def mark(db: Database, name: str, state: str, error: str | None = None) -> None:
    """Record how the link to a site is; ``last_seen_at`` moves when it answered."""
    values: dict[str, Any] = {"state": state, "last_error": error}
    if state == ONLINE:
        values["last_seen_at"] = utcnow()
    with db.session() as s:
        s.execute(update(Site).where(Site.name == name).values(**values))


# ----- cameras -------------------------------------------------------------------------------


def _camera_name(s: Session, site: str, name: str, uid: str) -> str:
    wanted = f"{site}/{name}"[:120]
    taken = s.scalar(select(Camera.id).where(Camera.name == wanted, Camera.uid != uid))
    return wanted if taken is None else f"{site}/{name}"[:110] + f" ({uid[:6]})"


def sync_cameras(db: Database, site: str, items: Sequence[dict[str, Any]]) -> None:
    """Make the site's mirrored cameras what it lists now: new ones added, changed ones
    updated, those it no longer shows (removed, or not allowed to the token) removed."""
    with db.session() as s:
        mirrored = {
            link.remote_id: link
            for link in s.scalars(select(SiteCamera).where(SiteCamera.site == site))
        }
        seen = set()
        for item in items:
            remote_id, uid = int(item["id"]), str(item["uid"])
            seen.add(remote_id)
            camera = s.scalar(select(Camera).where(Camera.uid == uid))
            name = _camera_name(s, site, str(item["name"]), uid)
            fields = {"name": name, "location": item.get("location"), "site": site}
            if camera is None:
                camera = Camera(
                    uid=uid,
                    main_url=MIRROR_URL.format(site=site, remote_id=remote_id),
                    enabled=False,
                    **fields,
                )
                s.add(camera)
                s.flush()
            elif any(getattr(camera, k) != v for k, v in fields.items()):
                for key, value in fields.items():
                    setattr(camera, key, value)
            if remote_id not in mirrored:
                s.add(SiteCamera(camera_id=camera.id, site=site, remote_id=remote_id))
        gone = [link.camera_id for rid, link in mirrored.items() if rid not in seen]
        if gone:
            s.execute(delete(Camera).where(Camera.id.in_(gone)))


def _local_cameras(s: Session, site: str) -> dict[int, int]:
    """The site's camera ids mapped to this server's ids of their mirrors."""
    rows = s.execute(
        select(SiteCamera.remote_id, SiteCamera.camera_id).where(SiteCamera.site == site)
    )
    return {remote: local for remote, local in rows}


def camera_link(db: Database, secrets: SecretBox, camera_id: int) -> tuple[SiteLink, int] | None:
    """For a mirrored camera, the link to its site and its id there; None for a camera of
    this site."""
    with db.session() as s:
        row = s.get(SiteCamera, camera_id)
        site = s.get(Site, row.site) if row else None
        return (link_of(site, secrets), row.remote_id) if row and site else None


# ----- alarms --------------------------------------------------------------------------------

# What a site's feed sends that the centre copies onto its mirror (ids and times of its
# own rows are the centre's).
_ALARM_FIELDS = tuple(
    f for f in ALARM_FIELDS if f not in {"id", "uid", "camera_id", "created_at", "updated_at"}
)
_TIMES = {"first_at", "last_at", "escalated_at", "acknowledged_at", "closed_at"}


def _when(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    fields = {k: (_when(item.get(k)) if k in _TIMES else item.get(k)) for k in _ALARM_FIELDS}
    fields["snapshot"] = SITE_SNAPSHOT if item.get("has_snapshot") else None
    return fields


def _store_alarm(
    s: Session, site: str, item: dict[str, Any], cameras: dict[int, int]
) -> tuple[Alarm, str] | None:
    """Add or update one mirrored alarm; the change to announce, None if it was stale or
    unchanged."""
    remote_updated = _when(item["updated_at"])
    assert remote_updated is not None
    fields = _fields(item)
    alarm = s.scalar(select(Alarm).where(Alarm.uid == item["uid"]).with_for_update())
    if alarm is None:
        camera = item.get("camera_id")
        alarm = Alarm(
            uid=item["uid"],
            site=site,
            rule_id=None,
            camera_id=cameras.get(int(camera)) if camera is not None else None,
            escalate_after_min=None,  # its own site escalates it; the new priority comes
            created_at=_when(item["created_at"]),
            **fields,
        )
        s.add(alarm)
        s.flush()
        s.add(
            SiteAlarm(
                alarm_id=alarm.id,
                site=site,
                remote_id=int(item["id"]),
                remote_updated_at=remote_updated,
            )
        )
        return alarm, "raised"
    link = s.get(SiteAlarm, alarm.id)
    if link is None or link.remote_updated_at >= remote_updated:
        return None  # an alarm of this site with the same uid, or an older version
    link.remote_updated_at = remote_updated
    changed = {k: v for k, v in fields.items() if getattr(alarm, k) != v}
    for key, value in changed.items():
        setattr(alarm, key, value)
    if not changed:
        return None
    return alarm, "state" if "state" in changed else "updated"


def store_alarms(
    db: Database, site: str, items: Sequence[dict[str, Any]], cursor: str | None
) -> list[AlarmChanged]:
    """Store a page of a site's alarms and move its cursor, in one transaction; the
    changes to announce to this server's operators."""
    changes = []
    now = utcnow()
    with db.session() as s:
        cameras = _local_cameras(s, site)
        for item in items:
            stored = _store_alarm(s, site, item, cameras)
            if stored is not None:
                changes.append(alarm_store.alarm_changed(stored[0], stored[1], at=now))
        row = s.get(Site, site, with_for_update=True)
        if row is not None and cursor is not None:
            row.alarms_cursor = later(row.alarms_cursor, Cursor.decode(cursor))
    return changes


def apply_alarm(db: Database, alarm_id: int, item: dict[str, Any]) -> list[AlarmChanged]:
    """Update a mirrored alarm from its site's answer to an operator's action here."""
    with db.session() as s:
        link = s.get(SiteAlarm, alarm_id)
        if link is None:
            return []
        stored = _store_alarm(s, link.site, item, _local_cameras(s, link.site))
        return [alarm_store.alarm_changed(stored[0], stored[1], at=utcnow())] if stored else []


def alarm_link(db: Database, secrets: SecretBox, alarm_id: int) -> tuple[SiteLink, int] | None:
    """For a mirrored alarm, the link to its site and its id there; None for an alarm of
    this site."""
    with db.session() as s:
        row = s.get(SiteAlarm, alarm_id)
        site = s.get(Site, row.site) if row else None
        return (link_of(site, secrets), row.remote_id) if row and site else None


# ----- events --------------------------------------------------------------------------------


def store_events(
    db: Database, site: str, items: Sequence[dict[str, Any]], cursor: str | None
) -> int:
    """Store a page of a site's events (those not stored yet) and move its cursor, in one
    transaction; how many were new."""
    with db.session() as s:
        cameras = _local_cameras(s, site)
        events = []
        for item in items:
            event = Event.model_validate(
                {k: v for k, v in item.items() if k not in ("snapshot_url", "cursor")}
            )
            camera = cameras.get(event.camera_id) if event.camera_id is not None else None
            # The site's snapshot files stay there: the centre relays them.
            snapshot = SITE_SNAPSHOT if event.snapshot else None
            update = {"site": site, "camera_id": camera, "snapshot": snapshot}
            events.append(event.model_copy(update=update))
        added = add_events(s, events, site=site)
        row = s.get(Site, site, with_for_update=True)
        if row is not None and cursor is not None:
            row.events_cursor = later(row.events_cursor, Cursor.decode(cursor))
        return len(added)

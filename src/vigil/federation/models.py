"""Tables of federation (migration 0011): registered sites and what links their cameras
and alarms to the rows mirroring them here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.models import Base
from vigil.store.types import UTCDateTime, utcnow


class Site(Base):
    """A site this server links to: where, with which token, trusting which certificate,
    and how far it has read."""

    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    token_encrypted: Mapped[str] = mapped_column(Text)  # security/secrets.py
    fingerprint: Mapped[str] = mapped_column(String(95))  # SHA-256, AA:BB:...
    certificate: Mapped[str] = mapped_column(Text)  # the pinned PEM: the only one trusted
    state: Mapped[str] = mapped_column(String(16), default="new")  # see domain SiteState
    last_error: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where reading resumes: "<ISO time>|<id>" of the last row read (federation/cursor.py).
    alarms_cursor: Mapped[str | None] = mapped_column(String(80))
    events_cursor: Mapped[str | None] = mapped_column(String(80))
    # The server whose link task holds the site, until when (one link per site in a cluster).
    link_owner: Mapped[str | None] = mapped_column(String(120))
    link_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SiteCamera(Base):
    """A camera of a site, mirrored here as ``camera_id`` (``remote_id`` there)."""

    __tablename__ = "site_cameras"
    __table_args__ = (UniqueConstraint("site", "remote_id", name="uq_site_cameras_remote"),)

    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    site: Mapped[str] = mapped_column(ForeignKey("sites.name", ondelete="CASCADE"))
    remote_id: Mapped[int] = mapped_column(Integer)


class SiteAlarm(Base):
    """An alarm of a site, mirrored here as ``alarm_id``; ``remote_updated_at``: the site's
    time of the version stored, so that an older answer never overwrites a newer one."""

    __tablename__ = "site_alarms"
    __table_args__ = (UniqueConstraint("site", "remote_id", name="uq_site_alarms_remote"),)

    alarm_id: Mapped[int] = mapped_column(
        ForeignKey("alarms.id", ondelete="CASCADE"), primary_key=True
    )
    site: Mapped[str] = mapped_column(ForeignKey("sites.name", ondelete="CASCADE"))
    remote_id: Mapped[int] = mapped_column(Integer)
    remote_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

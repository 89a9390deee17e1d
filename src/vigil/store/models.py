"""Database tables, as SQLAlchemy 2 typed models. API schemas live apart, in ``api/schemas``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vigil.store.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    """Base of all tables."""


class Camera(Base):
    """A video source: main stream for recording, optional sub-stream for grids and analytics."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    main_url: Mapped[str] = mapped_column(String(2000))
    sub_url: Mapped[str | None] = mapped_column(String(2000))
    username: Mapped[str | None] = mapped_column(String(200))
    # Fernet token; the plain password never reaches the database.
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    retention_days: Mapped[float | None] = mapped_column(Float)
    # "continuous", or "events": only footage around recording requests is kept.
    recording_mode: Mapped[str] = mapped_column(String(16), default="continuous")
    event_retention_days: Mapped[float | None] = mapped_column(Float)
    # Privacy masks (``domain/privacy.py``, JSON list); written by ``store/privacy.py``,
    # which leaves ``updated_at`` alone so that a mask change never restarts recording.
    privacy_masks: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    # The recorder node an administrator pinned the camera to (domain/placement.py).
    pinned_node: Mapped[str | None] = mapped_column(String(120))
    # Where it is on the map and site plans (``domain/map.py`` ``CameraPosition`` as JSON);
    # written by ``store/cameras.py`` ``set_position``, which leaves ``updated_at`` alone.
    position: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Which installation it belongs to, and an id unique across sites (federation).
    site: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: uuid.uuid4().hex)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SitePlan(Base):
    """A site plan: a floor or area drawing (an uploaded image) that cameras are placed on."""

    __tablename__ = "site_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # In the database, not a data directory: every server of a cluster serves it.
    image: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CameraHealth(Base):
    """The latest health of a camera's ingest, written by the recorder that owns it."""

    __tablename__ = "camera_health"

    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    node: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(32))
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    bitrate_bps: Mapped[float] = mapped_column(Float, default=0.0)
    last_frame_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    video_codec: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(Base):
    """One recorded file of a stream (~10 s of fragmented MP4). ``end`` is null while open."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_camera_start", "camera_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(120))
    path: Mapped[str] = mapped_column(String(1000), unique=True)  # relative to recordings dir
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    video_codec: Mapped[str | None] = mapped_column(String(32))
    audio_codec: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # Evidence (``evidence/chain.py``): the file's SHA-256 and its link in the camera's chain,
    # set when the segment is closed.
    sha256: Mapped[str | None] = mapped_column(String(64))
    prev_chain_hash: Mapped[str | None] = mapped_column(String(64))
    chain_hash: Mapped[str | None] = mapped_column(String(64))


class SegmentTombstone(Base):
    """A hashed segment that Vigil deleted by policy: lets verification bridge the chain."""

    __tablename__ = "segment_tombstones"
    __table_args__ = (
        Index("ix_segment_tombstones_camera", "camera_id", "start"),
        Index("ix_segment_tombstones_chain", "chain_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sha256: Mapped[str | None] = mapped_column(String(64))
    prev_chain_hash: Mapped[str | None] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EvidenceLock(Base):
    """Footage of a camera protected from every deletion (retention, disk budget, events
    mode) until ``until`` (null: indefinitely) or until released."""

    __tablename__ = "evidence_locks"
    __table_args__ = (Index("ix_evidence_locks_camera", "camera_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer)  # no foreign key: the record outlives it
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(120))
    release_reason: Mapped[str | None] = mapped_column(Text)


class Gap(Base):
    """A recorded absence of video and why (camera unreachable, storage full...)."""

    __tablename__ = "gaps"
    __table_args__ = (Index("ix_gaps_camera_start", "camera_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)


class Node(Base):
    """A running recorder process and where its media API answers."""

    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    media_url: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What it reported at its last heartbeat (cluster/membership.py), for placement and the API.
    capacity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cpu_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    free_disk_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # An administrator is moving its cameras off (maintenance): it gets no new ones.
    draining: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class RuleState(Base):
    """What a rule's conditions remember for one camera (``rules/conditions.py``): the
    matches counted in its window and when it last fired (for its cooldown)."""

    __tablename__ = "rule_state"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True
    )
    camera_key: Mapped[int] = mapped_column(Integer, primary_key=True)  # -1: no camera
    seen: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ISO times in the window
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CameraLease(Base):
    """Which node records a camera, until when, under which fencing epoch.

    The epoch grows with every grant: a node writes index rows for a camera only while it
    holds the lease with the epoch it was given, so a node that lost its lease (paused,
    cut off) can never write for a camera another node records now.
    """

    __tablename__ = "camera_leases"

    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    node: Mapped[str | None] = mapped_column(String(120))  # None: released, to be granted
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Asked to hand the camera over (drain, pin): the holder stops and releases it.
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class CameraGroup(Base):
    """A named set of cameras (an area, a district, a building), used by rules and stats."""

    __tablename__ = "camera_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class CameraGroupMember(Base):
    """A camera in a group."""

    __tablename__ = "camera_group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("camera_groups.id", ondelete="CASCADE"), primary_key=True
    )
    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )


class EventRecord(Base):
    """A stored event (see ``domain/events.py``). Kept when its camera is removed."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_at", "at"),
        Index("ix_events_camera_at", "camera_id", "at"),
        Index("ix_events_type_at", "type", "at"),
        # Forensic search by what an object was.
        Index("ix_events_class_at", "object_class", "at"),
        Index("ix_events_colour_at", "colour", "at"),
        Index("ix_events_plate_at", "plate", "at"),
        Index("ix_events_register_id", "register_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    camera_id: Mapped[int | None] = mapped_column(Integer)
    zone: Mapped[str | None] = mapped_column(String(120))
    object_class: Mapped[str | None] = mapped_column(String(64))
    track_id: Mapped[int | None] = mapped_column(Integer)
    colour: Mapped[str | None] = mapped_column(String(32))
    # The licence plate of a plate reading or a register hit (normalised), for plate search.
    plate: Mapped[str | None] = mapped_column(String(32))
    # The register of a watchlist hit: its access decides who is shown the event.
    register_id: Mapped[int | None] = mapped_column(Integer)
    count: Mapped[int | None] = mapped_column(Integer)
    object: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    snapshot: Mapped[str | None] = mapped_column(String(1000))
    track: Mapped[list[Any]] = mapped_column(JSON, default=list)
    site: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    source: Mapped[str] = mapped_column(String(200), default="vigil")
    # When this database stored it (a late event has an old ``at``): federated catch-up.
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)


class TimeProfile(Base):
    """A named schedule (``domain/schedules.py`` ``TimeProfileSpec`` as JSON)."""

    __tablename__ = "time_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)


class Rule(Base):
    """A rule (``domain/rules.py`` ``RuleSpec`` as JSON; action secrets encrypted)."""

    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Alarm(Base):
    """An alarm in the operators' queue; see ``domain/alarms.py`` for its lifecycle."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_state_priority", "state", "priority", "created_at"),
        Index("ix_alarms_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(120))
    event_id: Mapped[str | None] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(100))
    camera_id: Mapped[int | None] = mapped_column(Integer)
    # An alarm raised by a watchlist hit: its register's access decides who is alerted.
    register_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="new")
    owner: Mapped[str | None] = mapped_column(String(120))
    # [{"text": ..., "done": bool, "by": str | None, "at": iso | None}]
    sop: Mapped[list[Any]] = mapped_column(JSON, default=list)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    snapshot: Mapped[str | None] = mapped_column(String(1000))
    escalate_after_min: Mapped[float | None] = mapped_column(Float)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closing_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Raised here ("local"), or a registered site's mirrored here (federation/); unique ids
    # across sites, so that a site catching up stores each alarm once.
    site: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: uuid.uuid4().hex)


class AlarmNote(Base):
    """The alarm's history: comments, state changes, escalations, action outcomes."""

    __tablename__ = "alarm_notes"
    __table_args__ = (Index("ix_alarm_notes_alarm", "alarm_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author: Mapped[str | None] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(32))  # comment | state | escalation | action
    text: Mapped[str] = mapped_column(Text)


class ActionRun(Base):
    """One action of one firing: the outbox. Stored with the alarm, before anything is
    sent; retried with backoff; resumed after a restart."""

    __tablename__ = "action_runs"
    __table_args__ = (Index("ix_action_runs_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="SET NULL"))
    event_id: Mapped[str | None] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    action: Mapped[dict[str, Any]] = mapped_column(JSON)  # the action's spec at firing time
    values: Mapped[dict[str, Any]] = mapped_column(JSON)  # template values and event data
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A server attempting it now (store/actions.claim_due_runs): no other takes it until
    # then, and if that server dies the run is due again afterwards.
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Bookmark(Base):
    """A marked moment (or range) on a camera's timeline."""

    __tablename__ = "bookmarks"
    __table_args__ = (Index("ix_bookmarks_camera_at", "camera_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(500))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecordingRequest(Base):
    """Footage of a camera to record and keep: ``start``..``end``, until ``keep_until``
    (retention applies when null). Events-mode cameras keep only these ranges."""

    __tablename__ = "recording_requests"
    __table_args__ = (Index("ix_recording_requests_camera", "camera_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    keep_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PushSubscription(Base):
    """A browser's Web Push subscription (a phone of an operator or field officer)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(2000), unique=True)
    # Whose device: it is notified only of alarms its user may see (None: subscribed before
    # subscriptions had owners; notified of nothing until it subscribes again).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)


class CameraAnalytics(Base):
    """A camera's analytics configuration (``analytics/config.py`` ``CameraAnalyticsConfig``
    as JSON): stream, rate, detector, tracker, zones, lines and behaviours."""

    __tablename__ = "camera_analytics"

    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TrackRecord(Base):
    """One object followed on one camera, stored when its track ends: what forensic search
    and heatmaps read. Kept when its camera is removed, like events."""

    __tablename__ = "tracks"
    __table_args__ = (
        Index("ix_tracks_camera_first", "camera_id", "first_at"),
        Index("ix_tracks_class_first", "object_class", "first_at"),
        Index("ix_tracks_last", "last_at"),
        Index("ix_tracks_first", "first_at"),
        Index("ix_tracks_colour_first", "colour", "first_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer)
    track_id: Mapped[int] = mapped_column(Integer)
    object_class: Mapped[str] = mapped_column(String(64))
    colour: Mapped[str | None] = mapped_column(String(32))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # [(seconds since first_at, x, y)], anchor points as fractions of the image, thinned.
    path: Mapped[list[Any]] = mapped_column(JSON, default=list)
    box: Mapped[list[float] | None] = mapped_column(JSON)  # best view, fractions x1,y1,x2,y2
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    thumbnail: Mapped[str | None] = mapped_column(String(1000))  # under the data dir
    node: Mapped[str] = mapped_column(String(120))
    uid: Mapped[str | None] = mapped_column(String(32), unique=True)  # across nodes and sites
    site: Mapped[str] = mapped_column(String(64), default="local", server_default="local")


# Users, roles, sessions, API tokens, audit (issue 5; migration 0006) ----------------------
class User(Base):
    """A person who signs in. Usernames are stored lower-case; passwords as argon2id hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    # Fernet token (security/secrets.py); set by TOTP setup, used once confirmed.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Time step of the last accepted code: the same code is never accepted twice.
    totp_last_counter: Mapped[int | None] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoleRecord(Base):
    """A role: ``grants`` is ``domain/permissions.py`` ``Grant.to_json`` of each grant."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    grants: Mapped[list[Any]] = mapped_column(JSON, default=list)


class UserRole(Base):
    """A role held by a user, narrowed to ``scope`` (``Scope.to_json``) when set."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiToken(Base):
    """A token for integrations: shown once, stored as SHA-256, found by its prefix."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Permission names the token is limited to (within its user's); null: all of the user's.
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthSession(Base):
    """A browser's sign-in: the cookie holds the token, the table its SHA-256."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    mfa_passed: Mapped[bool] = mapped_column(Boolean, default=False)


class ThrottleCounter(Base):
    """Failed sign-ins per ``user:<name>`` and per ``addr:<ip>`` (known or not, alike)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One audited action. ``hash`` = SHA-256(prev_hash || canonical JSON of the entry)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_user_at", "username", "at"),
        Index("ix_audit_log_camera_at", "camera_id", "at"),
    )

    # Given by the chain (head + 1), never by a sequence: a gap means a deleted entry.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(500))
    address: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last id and hash, one row: appends lock it, so entries never fork, and a
    removed last entry is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


# Tables kept in their own modules register on Base when this module is imported.
from vigil.store import models_registers as _registers  # noqa: E402, F401
from vigil.store import models_subject_requests as _subject_requests  # noqa: E402, F401

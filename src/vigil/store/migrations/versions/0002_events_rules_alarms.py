"""events rules alarms actions bookmarks recording requests push

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 12:42:11.152764
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "camera_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("zone", sa.String(length=120), nullable=True),
        sa.Column("object_class", sa.String(length=64), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("colour", sa.String(length=32), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("object", sa.JSON(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.String(length=1000), nullable=True),
        sa.Column("track", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_at", ["at"], unique=False)
        batch_op.create_index("ix_events_camera_at", ["camera_id", "at"], unique=False)
        batch_op.create_index("ix_events_type_at", ["type", "at"], unique=False)

    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "time_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("rule_name", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("sop", sa.JSON(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot", sa.String(length=1000), nullable=True),
        sa.Column("escalate_after_min", sa.Float(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closing_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index("ix_alarms_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_alarms_state_priority", ["state", "priority", "created_at"], unique=False
        )

    op.create_table(
        "camera_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["camera_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "camera_id"),
    )
    op.create_table(
        "action_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("alarm_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(length=32), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("action", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("action_runs", schema=None) as batch_op:
        batch_op.create_index("ix_action_runs_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "alarm_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alarm_notes", schema=None) as batch_op:
        batch_op.create_index("ix_alarm_notes_alarm", ["alarm_id", "at"], unique=False)

    op.create_table(
        "bookmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.create_index("ix_bookmarks_camera_at", ["camera_id", "at"], unique=False)

    op.create_table(
        "recording_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("keep_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recording_requests", schema=None) as batch_op:
        batch_op.create_index("ix_recording_requests_camera", ["camera_id", "start"], unique=False)

    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recording_mode", sa.String(length=16), nullable=False, server_default="continuous"
            )
        )
        batch_op.add_column(sa.Column("event_retention_days", sa.Float(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_column("event_retention_days")
        batch_op.drop_column("recording_mode")

    with op.batch_alter_table("recording_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_recording_requests_camera")

    op.drop_table("recording_requests")
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.drop_index("ix_bookmarks_camera_at")

    op.drop_table("bookmarks")
    with op.batch_alter_table("alarm_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_alarm_notes_alarm")

    op.drop_table("alarm_notes")
    with op.batch_alter_table("action_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_action_runs_due")

    op.drop_table("action_runs")
    op.drop_table("camera_group_members")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_state_priority")
        batch_op.drop_index("ix_alarms_created_at")

    op.drop_table("alarms")
    op.drop_table("time_profiles")
    op.drop_table("rules")
    op.drop_table("push_subscriptions")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_type_at")
        batch_op.drop_index("ix_events_camera_at")
        batch_op.drop_index("ix_events_at")

    op.drop_table("events")
    op.drop_table("camera_groups")

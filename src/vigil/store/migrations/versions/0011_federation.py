"""federation: registered sites, the children's cameras and alarms mirrored here, a global
id and a site for alarms, and when each event was stored (the catch-up cursor)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(95), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alarms_cursor", sa.String(80), nullable=True),
        sa.Column("events_cursor", sa.String(80), nullable=True),
        sa.Column("link_owner", sa.String(120), nullable=True),
        sa.Column("link_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "site_cameras",
        sa.Column(
            "camera_id",
            sa.Integer(),
            sa.ForeignKey("cameras.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "site", sa.String(64), sa.ForeignKey("sites.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("remote_id", sa.Integer(), nullable=False),
        sa.UniqueConstraint("site", "remote_id", name="uq_site_cameras_remote"),
    )
    op.create_table(
        "site_alarms",
        sa.Column(
            "alarm_id",
            sa.Integer(),
            sa.ForeignKey("alarms.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "site", sa.String(64), sa.ForeignKey("sites.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("remote_id", sa.Integer(), nullable=False),
        sa.Column("remote_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("site", "remote_id", name="uq_site_alarms_remote"),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("site", sa.String(64), nullable=False, server_default="local")
        )
        batch_op.add_column(sa.Column("uid", sa.String(32), nullable=True))
    alarms = sa.table("alarms", sa.column("id", sa.Integer), sa.column("uid", sa.String))
    bind = op.get_bind()
    for (alarm_id,) in bind.execute(sa.select(alarms.c.id)).all():
        bind.execute(alarms.update().where(alarms.c.id == alarm_id).values(uid=uuid.uuid4().hex))
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.alter_column("uid", existing_type=sa.String(32), nullable=False)
        batch_op.create_unique_constraint("uq_alarms_uid", ["uid"])
    op.create_index("ix_alarms_updated_at", "alarms", ["updated_at", "id"])
    # Events arrive late (a recorder's outbox replays after an outage): a site that catches
    # up asks for what was stored since, not for what happened since.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True))
    events = sa.table("events", sa.column("at", sa.DateTime(timezone=True)), sa.column("stored_at"))
    bind.execute(events.update().values(stored_at=events.c.at))
    op.create_index("ix_events_stored_at", "events", ["stored_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_stored_at", "events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("stored_at")
    op.drop_index("ix_alarms_updated_at", "alarms")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alarms_uid", type_="unique")
        batch_op.drop_column("uid")
        batch_op.drop_column("site")
    op.drop_table("site_alarms")
    op.drop_table("site_cameras")
    op.drop_table("sites")

"""cluster: camera leases with fencing epochs, node capacity and draining, pinned cameras,
claims on action runs, rule condition state; sites and ids unique across them

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_leases",
        sa.Column(
            "camera_id",
            sa.Integer(),
            sa.ForeignKey("cameras.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("node", sa.String(120), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_camera_leases_node", "camera_leases", ["node"])
    op.create_table(
        "rule_state",
        sa.Column(
            "rule_id",
            sa.Integer(),
            sa.ForeignKey("rules.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("camera_key", sa.Integer(), primary_key=True),
        sa.Column("seen", sa.JSON(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("cpu_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("free_disk_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("draining", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pinned_node", sa.String(120), nullable=True))
    _sites_and_uids()
    with op.batch_alter_table("action_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def _sites_and_uids() -> None:
    """Every camera, event and track gets a site; cameras and tracks an id unique across
    sites (existing cameras a fresh one; existing tracks keep none, they are local)."""

    def site() -> sa.Column[str]:
        return sa.Column("site", sa.String(64), nullable=False, server_default="local")

    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(site())
        batch_op.add_column(sa.Column("uid", sa.String(32), nullable=True))
    cameras = sa.table("cameras", sa.column("id", sa.Integer), sa.column("uid", sa.String))
    bind = op.get_bind()
    for (camera_id,) in bind.execute(sa.select(cameras.c.id)).all():
        bind.execute(cameras.update().where(cameras.c.id == camera_id).values(uid=uuid.uuid4().hex))
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.alter_column("uid", existing_type=sa.String(32), nullable=False)
        batch_op.create_unique_constraint("uq_cameras_uid", ["uid"])
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(site())
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(site())
        batch_op.add_column(sa.Column("uid", sa.String(32), nullable=True))
        batch_op.create_unique_constraint("uq_tracks_uid", ["uid"])


def downgrade() -> None:
    with op.batch_alter_table("action_runs", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tracks_uid", type_="unique")
        batch_op.drop_column("uid")
        batch_op.drop_column("site")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("site")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_constraint("uq_cameras_uid", type_="unique")
        batch_op.drop_column("uid")
        batch_op.drop_column("site")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_column("pinned_node")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        for column in ("draining", "free_disk_bytes", "cpu_count", "capacity"):
            batch_op.drop_column(column)
    op.drop_table("rule_state")
    op.drop_index("ix_camera_leases_node", "camera_leases")
    op.drop_table("camera_leases")

"""camera analytics and tracks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 13:17:37.682079
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("object_class", sa.String(length=64), nullable=False),
        sa.Column("colour", sa.String(length=32), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("thumbnail", sa.String(length=1000), nullable=True),
        sa.Column("node", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index("ix_tracks_camera_first", ["camera_id", "first_at"], unique=False)
        batch_op.create_index("ix_tracks_class_first", ["object_class", "first_at"], unique=False)
        batch_op.create_index("ix_tracks_last", ["last_at"], unique=False)

    op.create_table(
        "camera_analytics",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id"),
    )


def downgrade() -> None:

    op.drop_table("camera_analytics")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index("ix_tracks_last")
        batch_op.drop_index("ix_tracks_class_first")
        batch_op.drop_index("ix_tracks_camera_first")

    op.drop_table("tracks")

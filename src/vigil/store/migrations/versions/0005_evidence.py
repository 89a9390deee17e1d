"""evidence: hash chain on segments, tombstones of deleted segments, evidence locks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("prev_chain_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))

    # What Vigil itself deleted from the middle of a chain (events mode, around locks), so
    # that verification tells a policy deletion from a segment removed behind its back.
    op.create_table(
        "segment_tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("prev_chain_hash", sa.String(length=64), nullable=True),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("segment_tombstones", schema=None) as batch_op:
        batch_op.create_index("ix_segment_tombstones_camera", ["camera_id", "start"], unique=False)
        batch_op.create_index("ix_segment_tombstones_chain", ["chain_hash"], unique=False)

    op.create_table(
        "evidence_locks",
        sa.Column("id", sa.Integer(), nullable=False),
        # No foreign key: the record of who protected what outlives its camera.
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=120), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evidence_locks", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_locks_camera", ["camera_id", "start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_locks", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_locks_camera")
    op.drop_table("evidence_locks")
    with op.batch_alter_table("segment_tombstones", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_tombstones_chain")
        batch_op.drop_index("ix_segment_tombstones_camera")
    op.drop_table("segment_tombstones")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_column("chain_hash")
        batch_op.drop_column("prev_chain_hash")
        batch_op.drop_column("sha256")

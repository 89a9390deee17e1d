"""registers: lists of vehicles and persons, their entries, faces and sync;
the plate of plate readings and hits on events, for plate search

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("fuzzy", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sync_url", sa.String(1000), nullable=True),
        sa.Column("sync_mode", sa.String(8), nullable=False),
        sa.Column("sync_every_s", sa.Integer(), nullable=False),
        sa.Column("sync_etag", sa.String(200), nullable=True),
        sa.Column("sync_modified", sa.String(100), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_error", sa.Text(), nullable=True),
    )
    op.create_table(
        "register_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "register_id",
            sa.Integer(),
            sa.ForeignKey("registers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(120), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("photo", sa.String(1000), nullable=True),
        sa.UniqueConstraint("register_id", "key", name="uq_register_entries_key"),
    )
    op.create_table(
        "register_faces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "entry_id",
            sa.Integer(),
            sa.ForeignKey("register_entries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("descriptor", sa.JSON(), nullable=False),
    )
    op.create_index("ix_register_faces_entry_id", "register_faces", ["entry_id"])
    op.create_index("ix_register_entries_key", "register_entries", ["key"])
    op.add_column("events", sa.Column("plate", sa.String(32), nullable=True))
    op.create_index("ix_events_plate_at", "events", ["plate", "at"])


def downgrade() -> None:
    op.drop_index("ix_events_plate_at", "events")
    op.drop_column("events", "plate")
    op.drop_index("ix_register_faces_entry_id", "register_faces")
    op.drop_table("register_faces")
    op.drop_index("ix_register_entries_key", "register_entries")
    op.drop_table("register_entries")
    op.drop_table("registers")

"""indexes for forensic search by class and colour

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_class_at", "events", ["object_class", "at"])
    op.create_index("ix_events_colour_at", "events", ["colour", "at"])
    op.create_index("ix_tracks_first", "tracks", ["first_at"])
    op.create_index("ix_tracks_colour_first", "tracks", ["colour", "first_at"])


def downgrade() -> None:
    op.drop_index("ix_tracks_colour_first", table_name="tracks")
    op.drop_index("ix_tracks_first", table_name="tracks")
    op.drop_index("ix_events_colour_at", table_name="events")
    op.drop_index("ix_events_class_at", table_name="events")

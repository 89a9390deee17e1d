"""register access: who sees a register, edits its entries and is alerted by its hits; the
register of each hit on its event and alarm, so that lists leave out what is not the
caller's

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("registers", sa.Column("access", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("events", sa.Column("register_id", sa.Integer(), nullable=True))
    op.create_index("ix_events_register_id", "events", ["register_id"])
    op.add_column("alarms", sa.Column("register_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("alarms", "register_id")
    op.drop_index("ix_events_register_id", "events")
    op.drop_column("events", "register_id")
    op.drop_column("registers", "access")

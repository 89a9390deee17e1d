"""push subscriptions belong to a user: a phone is notified only of the alarms its user may
see (a subscription made before has no owner and is notified of nothing until renewed)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("push_subscriptions") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_push_subscriptions_user_id", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_push_subscriptions_user_id", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("push_subscriptions") as batch:
        batch.drop_index("ix_push_subscriptions_user_id")
        batch.drop_constraint("fk_push_subscriptions_user_id", type_="foreignkey")
        batch.drop_column("user_id")

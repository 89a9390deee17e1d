"""plate search by part: a trigram index on events.plate (PostgreSQL's pg_trgm), so that a
partial plate (``*1234*``, ``CA12??AB``) is found without reading every plate reading

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite (one machine, a demo): a partial plate is found by reading them all
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning(
            "pg_trgm cannot be created (%s): partial plate search reads every plate reading; "
            "ask the database administrator to CREATE EXTENSION pg_trgm",
            str(exc.orig).splitlines()[0],
        )
        return
    op.create_index(
        "ix_events_plate_trgm",
        "events",
        ["plate"],
        postgresql_using="gin",
        postgresql_ops={"plate": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_events_plate_trgm")

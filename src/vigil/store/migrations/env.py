"""Alembic environment: runs migrations on the URL that ``vigil.store.db.migrate`` sets."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from vigil.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
connectable = engine_from_config(
    {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()

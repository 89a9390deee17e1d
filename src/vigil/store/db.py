"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# SQLSTATEs of a transaction PostgreSQL aborted to let a concurrent one through: chosen as a
# deadlock's victim, or not serialisable. Its work rolled back whole; running it again is safe.
LOCK_CONFLICTS = frozenset({"40P01", "40001"})
CONFLICT_ATTEMPTS = 5
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine tuned for its database: SQLite gets WAL and a busy timeout, since the
    server and recorder processes write to the same file."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(url: str) -> None:
    """Bring the database schema up to the newest migration."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    command.upgrade(cfg, "head")


def advisory_lock(session: Session, *keys: int) -> None:
    """Serialise this transaction with every other taking the same key(s) (1 or 2 ints),
    until it ends: a PostgreSQL advisory lock. SQLite serialises writers by itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    names = ", ".join(f":k{i}" for i in range(len(keys)))
    session.execute(
        text(f"SELECT pg_advisory_xact_lock({names})"), {f"k{i}": k for i, k in enumerate(keys)}
    )


def lock_rule_camera(session: Session, rule_id: int, camera_id: int | None) -> None:
    """Firings of one rule for one camera, one transaction at a time across servers."""
    advisory_lock(session, rule_id, camera_id if camera_id is not None else 0)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close all connections."""
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Migrate the schema to the newest version, then connect: what every role does first."""
    migrate(url)
    return Database(url)


def retry_on_lock_conflict(work: Callable[[], T], *, attempts: int = CONFLICT_ATTEMPTS) -> T:
    """Run a transaction (``work`` opens and commits its own session) again when PostgreSQL
    aborted it to break a deadlock with concurrent writers, e.g. an administrator deleting
    a camera while its recorder node writes the camera's segments and health."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            state = getattr(exc.orig, "sqlstate", None)
            if state not in LOCK_CONFLICTS or attempt == attempts:
                raise
            log.info("transaction aborted by a lock conflict (%s); attempt %d", state, attempt)
            time.sleep(random.uniform(0.05, 0.2) * attempt)  # apart from the other writer
    raise AssertionError("unreachable")

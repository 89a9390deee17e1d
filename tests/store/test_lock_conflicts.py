"""A transaction that PostgreSQL aborts to break a deadlock runs again (retry_on_lock_conflict),
as an administrator's camera deletion must when the camera's recorder node writes its rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import fresh_postgres
from vigil.store.db import Database, retry_on_lock_conflict


@pytest.fixture
def pg() -> Iterator[Database]:
    with fresh_postgres("vigil_locks") as url:
        db = Database(url)
        with db.session() as s:
            s.execute(text("CREATE TABLE t (id int PRIMARY KEY, n int)"))
            s.execute(text("INSERT INTO t VALUES (1, 0), (2, 0)"))
        try:
            yield db
        finally:
            db.dispose()


def _deadlocking_pair(db: Database) -> tuple[threading.Thread, threading.Event, list[int]]:
    """A writer that locks row 1, then row 2 once ``ours`` holds row 2; it waits long before
    checking for deadlocks, so that the other side is chosen as the victim. Started, it
    returns once it holds row 1 (otherwise, on a busy machine, our side could take both
    rows first and there would be no deadlock)."""
    ours = threading.Event()
    holds_row_1 = threading.Event()
    attempts: list[int] = []

    def other() -> None:
        with db.session() as s:
            s.execute(text("SET LOCAL deadlock_timeout = '10s'"))
            s.execute(text("UPDATE t SET n = n + 1 WHERE id = 1"))
            holds_row_1.set()
            ours.wait(10)
            s.execute(text("UPDATE t SET n = n + 1 WHERE id = 2"))

    thread = threading.Thread(target=other)
    thread.start()
    assert holds_row_1.wait(20), "the other writer never locked row 1"
    return thread, ours, attempts


def _work(db: Database, ours: threading.Event, attempts: list[int]) -> str:
    with db.session() as s:
        attempts.append(1)
        s.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
        s.execute(text("UPDATE t SET n = n + 10 WHERE id = 2"))
        ours.set()
        s.execute(text("UPDATE t SET n = n + 10 WHERE id = 1"))
    return "done"


def test_a_deadlock_victim_runs_again_and_both_writes_land(pg: Database) -> None:
    writer, ours, attempts = _deadlocking_pair(pg)
    try:
        assert retry_on_lock_conflict(lambda: _work(pg, ours, attempts)) == "done"
    finally:
        ours.set()
        writer.join(20)
    assert len(attempts) == 2, "aborted once as the deadlock's victim, then done"
    with pg.session() as s:
        assert s.execute(text("SELECT n FROM t ORDER BY id")).scalars().all() == [11, 11]


def test_without_the_retry_the_victim_fails(pg: Database) -> None:
    writer, ours, attempts = _deadlocking_pair(pg)
    try:
        with pytest.raises(DBAPIError) as caught:
            _work(pg, ours, attempts)
    finally:
        ours.set()
        writer.join(20)
    assert getattr(caught.value.orig, "sqlstate", None) == "40P01"

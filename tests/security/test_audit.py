"""Audit trail: hash chain, tampering detected (edited, deleted, inserted, truncated), CSV."""

from __future__ import annotations

import csv
import io
import itertools
import threading

from sqlalchemy import delete, select, update

from vigil.security import audit
from vigil.security.audit import AuditFilter, Outcome
from vigil.store.db import Database
from vigil.store.models import AuditEntry


def _fill(db: Database, n: int = 5) -> list[audit.AuditRecord]:
    return [
        audit.record(
            db,
            action="camera.live" if i % 2 else "auth.login",
            username=f"user{i % 2}",
            camera_id=i if i % 2 else None,
            address="10.0.0.1",
            outcome=Outcome.SUCCESS if i != 3 else Outcome.FAILURE,
            details={"i": i, "note": "ünïcode", "nested": {"b": 1, "a": [1, 2.5]}},
        )
        for i in range(1, n + 1)
    ]


def test_chain_links_and_verifies(db: Database) -> None:
    entries = _fill(db)
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    report = audit.verify_chain(db)
    assert report.ok and report.entries == 5 and report.last_id == 5
    assert audit.verify_chain(db, batch=2).ok, "batches do not matter"


def test_edited_details_detected(db: Database) -> None:
    _fill(db)
    with db.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 3).values(details={"i": 99}))
    report = audit.verify_chain(db)
    assert [(p.id, p.kind) for p in report.problems] == [(3, "edited")]


def test_edited_outcome_detected(db: Database) -> None:
    _fill(db)
    with db.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 3).values(outcome="success"))
    assert [(p.id, p.kind) for p in audit.verify_chain(db).problems] == [(3, "edited")]


def test_deleted_entry_detected(db: Database) -> None:
    _fill(db)
    with db.session() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == 2))
    kinds = {(p.id, p.kind) for p in audit.verify_chain(db).problems}
    assert kinds == {(3, "missing"), (3, "inserted")}


def test_deleted_last_entry_detected(db: Database) -> None:
    _fill(db)
    with db.session() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id == 5))
    report = audit.verify_chain(db)
    assert [(p.id, p.kind) for p in report.problems] == [(5, "head")]


def test_inserted_entry_detected(db: Database) -> None:
    entries = _fill(db)
    # A forged entry squeezed in: ids shifted up by one from 3 on, the forgery at 3 with a
    # correct hash over its own content, chained to entry 2.
    with db.session() as s:
        for entry_id in (5, 4, 3):
            s.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(id=entry_id + 1))
        forged = dict(
            id=3,
            at=entries[1].at,
            username="mallory",
            action="auth.login",
            camera_id=None,
            target=None,
            address="10.6.6.6",
            outcome="success",
            details={},
        )
        digest = audit.chain_hash(entries[1].hash, audit.canonical(**forged))  # type: ignore[arg-type]
        s.add(AuditEntry(**forged, prev_hash=entries[1].hash, hash=digest))
    problems = {(p.id, p.kind) for p in audit.verify_chain(db).problems}
    # The shifted entries no longer match their hashes (ids are hashed), the one after the
    # forgery does not follow it, and the head does not match the end.
    assert (4, "inserted") in problems and (4, "edited") in problems
    assert (5, "head") in problems


def test_appended_forgery_detected(db: Database) -> None:
    _fill(db, 2)
    with db.session() as s:
        s.add(
            AuditEntry(
                id=3,
                at=audit.utcnow(),
                username="mallory",
                action="auth.login",
                outcome="success",
                details={},
                prev_hash="f" * 64,
                hash="e" * 64,
            )
        )
    kinds = {p.kind for p in audit.verify_chain(db).problems}
    assert kinds == {"inserted", "edited", "head"}


def test_concurrent_appends_never_fork(db: Database) -> None:
    def write(k: int) -> None:
        for i in range(5):
            audit.record(db, action="test.concurrent", details={"k": k, "i": i})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    report = audit.verify_chain(db)
    assert report.ok, report.problems
    assert report.entries == 20


def test_filters_paging_and_csv(db: Database) -> None:
    _fill(db, 6)
    audit.record(db, action="user.create", username="=cmd|' /C calc'!A0", target="-2+3")
    page, total = audit.list_entries(db, AuditFilter(action="camera.live"), limit=2)
    assert total == 3 and [e.id for e in page] == [5, 3]
    assert audit.list_entries(db, AuditFilter(action="auth."))[1] == 3
    assert audit.list_entries(db, AuditFilter(camera_id=5))[1] == 1
    assert audit.list_entries(db, AuditFilter(outcome="failure"))[1] == 1
    out = io.StringIO()
    assert audit.write_csv(audit.iter_entries(db, AuditFilter(), batch=3), out) == 7
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [int(r["id"]) for r in rows] == list(range(1, 8))
    assert rows[0]["details"].startswith("{") and "ünïcode" in rows[0]["details"]
    assert rows[-1]["username"].startswith("'=") and rows[-1]["target"] == "'-2+3"
    with db.session() as s:
        assert s.scalar(select(AuditEntry.hash).where(AuditEntry.id == 7)) == rows[-1]["hash"]

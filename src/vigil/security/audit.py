"""The audit trail: who did what, when, on which camera, from where, with what outcome.

Entries form a hash chain: ``hash = SHA-256(prev_hash || canonical JSON of the entry)``,
ids are consecutive, and a one-row head holds the last id and hash. So an edited entry
(its hash no longer matches), a deleted one (a gap, or the next entry's ``prev_hash``
points elsewhere), an inserted one (its ``prev_hash`` or the next one's does not match)
and a removed tail (the head is ahead) are found by :func:`verify_chain`. Someone who can
write the database *and* recompute every later hash is not detected by the chain alone:
anchoring the head outside the database (signed checkpoints) closes that.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from vigil.store.db import Database
from vigil.store.models import AuditEntry, AuditHead
from vigil.store.types import utcnow

GENESIS = "0" * 64
HEAD_ID = 1
CSV_COLUMNS = (
    "id",
    "at",
    "username",
    "action",
    "camera_id",
    "target",
    "address",
    "outcome",
    "details",
    "prev_hash",
    "hash",
)


class Outcome(StrEnum):
    """How an audited action ended."""

    SUCCESS = "success"
    FAILURE = "failure"  # tried and failed (wrong password, invalid input)
    DENIED = "denied"  # not allowed


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An entry as stored."""

    id: int
    at: datetime
    username: str | None
    action: str
    camera_id: int | None
    target: str | None
    address: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def canonical(
    *,
    id: int,
    at: datetime,
    username: str | None,
    action: str,
    camera_id: int | None,
    target: str | None,
    address: str | None,
    outcome: str,
    details: dict[str, Any],
) -> str:
    """The entry's canonical JSON: sorted keys, no spaces, UTC time with microseconds."""
    return json.dumps(
        {
            "id": id,
            "at": at.isoformat(timespec="microseconds"),
            "username": username,
            "action": action,
            "camera_id": camera_id,
            "target": target,
            "address": address,
            "outcome": outcome,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def chain_hash(prev_hash: str, canonical_json: str) -> str:
    """SHA-256 over the previous hash followed by the entry's canonical JSON."""
    return hashlib.sha256(prev_hash.encode() + canonical_json.encode()).hexdigest()


def _record(row: AuditEntry) -> AuditRecord:
    return AuditRecord(
        row.id,
        row.at,
        row.username,
        row.action,
        row.camera_id,
        row.target,
        row.address,
        row.outcome,
        dict(row.details or {}),
        row.prev_hash,
        row.hash,
    )


def record(
    db: Database,
    *,
    action: str,
    outcome: Outcome | str = Outcome.SUCCESS,
    username: str | None = None,
    camera_id: int | None = None,
    target: str | None = None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append an entry to the chain, in its own transaction.

    The head row is updated first, which locks it on PostgreSQL and takes SQLite's write
    lock, so concurrent appends (several servers, a recorder) queue and never fork the chain.

    Args:
        db: the database.
        action: dotted name, e.g. ``auth.login``, ``user.create``, ``camera.live``.
        outcome: success, failure or denied.
        username: who (None: nobody signed in, or the system).
        camera_id: the camera concerned, if any.
        target: what was acted on (``user:7``, a username, a file name).
        address: the client's address.
        details: more facts as JSON (never secrets).
        at: when (default now).
    """
    details = json.loads(json.dumps(details or {}, default=str))  # as it will read back
    for _ in range(3):
        try:
            with db.session() as s:
                bumped = s.execute(
                    update(AuditHead)
                    .where(AuditHead.id == HEAD_ID)
                    .values(last_id=AuditHead.last_id + 0)
                )
                if bumped.rowcount == 0:  # type: ignore[attr-defined]
                    s.add(AuditHead(id=HEAD_ID, last_id=0, hash=GENESIS))
                    s.flush()
                head = s.get(AuditHead, HEAD_ID, populate_existing=True)
                assert head is not None
                entry = AuditEntry(
                    id=head.last_id + 1,
                    at=(at or utcnow()).astimezone(UTC),
                    username=username,
                    action=action,
                    camera_id=camera_id,
                    target=target,
                    address=address,
                    outcome=str(outcome),
                    details=details,
                    prev_hash=head.hash,
                )
                entry.hash = chain_hash(head.hash, _canonical_of(entry))
                s.add(entry)
                head.last_id, head.hash = entry.id, entry.hash
                return _record(entry)
        except IntegrityError:  # two first appends created the head at once
            continue
    raise RuntimeError("could not append to the audit trail (head contention)")


def _canonical_of(row: AuditEntry | AuditRecord) -> str:
    return canonical(
        id=row.id,
        at=row.at,
        username=row.username,
        action=row.action,
        camera_id=row.camera_id,
        target=row.target,
        address=row.address,
        outcome=row.outcome,
        details=dict(row.details or {}),
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to list: all fields optional."""

    since: datetime | None = None
    until: datetime | None = None
    username: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("auth.")
    camera_id: int | None = None
    outcome: str | None = None


def _filtered(f: AuditFilter) -> Select[Any]:
    q = select(AuditEntry)
    if f.since is not None:
        q = q.where(AuditEntry.at >= f.since)
    if f.until is not None:
        q = q.where(AuditEntry.at < f.until)
    if f.username is not None:
        q = q.where(AuditEntry.username == f.username)
    if f.action is not None:
        if f.action.endswith("."):
            q = q.where(AuditEntry.action.startswith(f.action, autoescape=True))
        else:
            q = q.where(AuditEntry.action == f.action)
    if f.camera_id is not None:
        q = q.where(AuditEntry.camera_id == f.camera_id)
    if f.outcome is not None:
        q = q.where(AuditEntry.outcome == f.outcome)
    return q


def list_entries(
    db: Database, f: AuditFilter, *, limit: int = 100, offset: int = 0
) -> tuple[list[AuditRecord], int]:
    """One page of entries, newest first, and how many match in all."""
    q = _filtered(f)
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
        return [_record(r) for r in rows], int(total)


def iter_entries(db: Database, f: AuditFilter, *, batch: int = 1000) -> Iterator[AuditRecord]:
    """Every matching entry, oldest first, read in batches (for CSV export)."""
    after = 0
    while True:
        with db.session() as s:
            rows = [
                _record(r)
                for r in s.scalars(
                    _filtered(f).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(batch)
                )
            ]
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """One break in the chain, at an entry id."""

    id: int
    kind: str  # edited | missing | inserted | head
    message: str


@dataclass(slots=True)
class ChainReport:
    """What :func:`verify_chain` found."""

    entries: int = 0
    last_id: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def verify_chain(db: Database, *, batch: int = 1000, max_problems: int = 1000) -> ChainReport:
    """Walk the whole chain and report every entry that does not fit.

    An edited entry fails its own hash; a deleted one leaves a gap in the ids and a
    ``prev_hash`` that points to nothing; an inserted one has an id out of sequence or a
    ``prev_hash`` that does not match, or makes the next entry's not match; a removed last
    entry leaves the head ahead of the table.
    """
    report = ChainReport()
    prev_id, prev_hash = 0, GENESIS

    def problem(entry_id: int, kind: str, message: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(ChainProblem(entry_id, kind, message))

    for row in iter_entries(db, AuditFilter(), batch=batch):
        report.entries += 1
        if row.id != prev_id + 1:
            problem(
                row.id,
                "missing",
                f"entries {prev_id + 1}..{row.id - 1} are missing (deleted)",
            )
        if row.prev_hash != prev_hash:
            problem(
                row.id,
                "inserted",
                f"entry {row.id} does not follow entry {prev_id}: an entry before it was "
                "deleted, inserted or changed",
            )
        if chain_hash(row.prev_hash, _canonical_of(row)) != row.hash:
            problem(row.id, "edited", f"entry {row.id} was changed after it was written")
        prev_id, prev_hash = row.id, row.hash
    report.last_id = prev_id
    with db.session() as s:
        head = s.get(AuditHead, HEAD_ID)
        head_id, head_hash = (head.last_id, head.hash) if head else (0, GENESIS)
    if (head_id, head_hash) != (prev_id, prev_hash):
        problem(
            head_id,
            "head",
            f"the trail ends at entry {prev_id} but its head says {head_id}: the last "
            "entries were removed or changed",
        )
    return report


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with these as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(entries: Iterable[AuditRecord], out: IO[str], *, header: bool = True) -> int:
    """Write entries as CSV (header first unless told not to); how many rows. Cells that a
    spreadsheet would run as formulas get a leading apostrophe."""
    writer = csv.writer(out)
    if header:
        writer.writerow(CSV_COLUMNS)
    n = 0
    for e in entries:
        writer.writerow(
            [
                e.id,
                e.at.isoformat(),
                _cell(e.username),
                _cell(e.action),
                "" if e.camera_id is None else e.camera_id,
                _cell(e.target),
                _cell(e.address),
                e.outcome,
                _cell(json.dumps(e.details, sort_keys=True, ensure_ascii=False)),
                e.prev_hash,
                e.hash,
            ]
        )
        n += 1
    return n

"""Registers kept in step with a file at a URL (a national register's CSV export).

Every server looks for due registers every ``POLL_S``; each due one is claimed by one server
(``store.registers.claim_due_syncs``), fetched with ``If-None-Match`` / ``If-Modified-Since``
(304: nothing to do) and applied: a ``full`` file is the register (what it lacks is removed),
a ``delta`` file adds, replaces and (rows with ``action`` ``delete``) removes. Each sync is
audited (``register.sync``) with its URL and counts, or its error, which the register also
shows until the next sync succeeds. Only the URL an administrator configured is fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from vigil.domain.registers import parse_entries_csv
from vigil.security import audit
from vigil.store import registers as register_store
from vigil.store.db import Database
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

POLL_S = 30.0
TIMEOUT_S = 30.0
MAX_BYTES = 50 * 1024 * 1024
SYNC_USER = "register-sync"


class SyncFailed(RuntimeError):
    """A register's file could not be fetched or read (the message says why)."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync did (``changed`` False: the file had not changed, 304)."""

    changed: bool
    added: int = 0
    updated: int = 0
    removed: int = 0
    errors: tuple[str, ...] = ()


def _where(url: str) -> str:
    """The URL without credentials or query (for logs and the audit trail)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class RegisterSync:
    """Keeps the registers that have a ``sync_url`` in step with it."""

    def __init__(self, db: Database, *, poll_s: float = POLL_S) -> None:
        self._db = db
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=True)

    async def start(self) -> None:
        """Start looking for due registers."""
        self._task = asyncio.create_task(self._loop(), name="register-sync")

    async def stop(self) -> None:
        """Stop (a sync in hand is abandoned; it is due again at once on the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                await self.sync_due()
            except Exception:  # the database is away: say so, try again later
                log.exception("register sync: could not look for due registers")
            await asyncio.sleep(self._poll_s)

    async def sync_due(self) -> None:
        """Sync every register that is due (claimed by this server)."""
        claimed = await asyncio.to_thread(register_store.claim_due_syncs, self._db, utcnow())
        for register_id in claimed:
            with contextlib.suppress(SyncFailed):  # recorded and audited already
                await self.sync(register_id)

    async def sync(self, register_id: int, *, by: str = SYNC_USER) -> SyncResult:
        """Fetch and apply one register's file now.

        Raises:
            SyncFailed: It has no URL, or the file could not be fetched or read.
        """
        register = await asyncio.to_thread(register_store.get_register, self._db, register_id)
        if register is None or not register.sync_url:
            raise SyncFailed(f"register {register_id} has no sync URL")
        url, name = register.sync_url, register.name
        headers = {"Accept": "text/csv, text/plain;q=0.5"}
        if register.sync_etag:
            headers["If-None-Match"] = register.sync_etag
        if register.sync_modified:
            headers["If-Modified-Since"] = register.sync_modified
        try:
            result, etag, modified = await self._fetch_and_apply(
                register_id, register.sync_mode, url, headers, by
            )
        except SyncFailed as exc:
            await asyncio.to_thread(
                register_store.record_sync, self._db, register_id, at=utcnow(), error=str(exc)
            )
            await asyncio.to_thread(self._audit, register_id, name, url, by, error=str(exc))
            log.warning("register %s: sync from %s failed: %s", name, _where(url), exc)
            raise
        await asyncio.to_thread(
            register_store.record_sync,
            self._db,
            register_id,
            at=utcnow(),
            etag=etag,
            modified=modified,
        )
        if result.changed:
            await asyncio.to_thread(self._audit, register_id, name, url, by, result=result)
        return result

    async def _fetch_and_apply(
        self, register_id: int, mode: str, url: str, headers: dict[str, str], by: str
    ) -> tuple[SyncResult, str | None, str | None]:
        try:
            response = await self._client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise SyncFailed(f"cannot fetch {_where(url)}: {exc or type(exc).__name__}") from None
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        if response.status_code == 304:
            return (
                SyncResult(changed=False),
                etag or headers.get("If-None-Match"),
                (modified or headers.get("If-Modified-Since")),
            )
        if response.status_code != 200:
            raise SyncFailed(f"{_where(url)} answered {response.status_code}")
        if len(response.content) > MAX_BYTES:
            raise SyncFailed(f"{_where(url)} sent more than {MAX_BYTES // 2**20} MB")
        try:
            parsed = parse_entries_csv(response.content.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SyncFailed(f"the file at {_where(url)} cannot be read: {exc}") from None
        if mode == "full":
            added, updated, removed = await asyncio.to_thread(
                register_store.replace_entries, self._db, register_id, parsed.entries, by=by
            )
        else:
            added, updated = await asyncio.to_thread(
                register_store.put_entries, self._db, register_id, parsed.entries, by=by
            )
            removed = await asyncio.to_thread(
                register_store.remove_entries, self._db, register_id, parsed.removed
            )
        result = SyncResult(True, added, updated, removed, tuple(parsed.errors))
        return result, etag, modified

    def _audit(
        self,
        register_id: int,
        name: str,
        url: str,
        by: str,
        *,
        result: SyncResult | None = None,
        error: str | None = None,
    ) -> None:
        details: dict[str, object] = {"register": name, "url": _where(url)}
        if result is not None:
            details |= {
                "added": result.added,
                "updated": result.updated,
                "removed": result.removed,
                "errors": len(result.errors),
            }
        if error is not None:
            details["error"] = error
        audit.record(
            self._db,
            action="register.sync",
            outcome=audit.Outcome.FAILURE if error else audit.Outcome.SUCCESS,
            username=by,
            target=f"register:{register_id}",
            details=details,
        )

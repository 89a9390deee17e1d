"""The links to registered sites: each pass reads a site's cameras, then its alarms and
events from where the last pass stopped, and stores them here; a cut link marks the site
unreachable and the next pass after it returns catches up from the cursor.

One server of a cluster links each site (a lease in the ``sites`` row), so that the
mirrors are written once however many servers run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from vigil.bus.base import EventBus
from vigil.config import FederationSettings
from vigil.domain.alarms import AlarmChanged
from vigil.federation import store
from vigil.federation.client import SiteAnswered, SiteClient, SiteError, SiteRefused
from vigil.federation.cursor import resume_from
from vigil.federation.models import Site
from vigil.security.secrets import SecretBox
from vigil.store.db import Database
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

PAGE = 500  # rows per request; a pass reads pages until a short one
FEED = "/api/federation"


def server_identity() -> str:
    """This server's name as a link holder: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


async def read_pages(
    client: SiteClient,
    path: str,
    stored_cursor: str | None,
    keep: Callable[[Sequence[dict[str, Any]], str | None], Awaitable[None]],
) -> None:
    """Read a feed from (a little before) the stored cursor to its end, handing each page
    and the cursor after it to ``keep``."""
    start = resume_from(stored_cursor)
    after = start.encode() if start else None
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if after:
            params["after"] = after
        page = await client.request("GET", path, params=params)
        await keep(page["items"], page["cursor"])
        if len(page["items"]) < PAGE or not page["cursor"]:
            return
        after = page["cursor"]


class FederationService:
    """Runs the links of the sites this server holds."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        secrets: SecretBox,
        settings: FederationSettings,
        *,
        owner: str | None = None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._secrets = secrets
        self._settings = settings
        self.owner = owner or server_identity()
        self._task: asyncio.Task[None] | None = None
        self._held: set[str] = set()

    async def start(self) -> None:
        """Start linking (the sites registered now and later)."""
        self._task = asyncio.create_task(self._run(), name="federation-links")

    async def stop(self) -> None:
        """Stop linking and let another server take the sites at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for name in self._held:
            await asyncio.to_thread(store.release_link, self._db, name, self.owner)

    async def _run(self) -> None:
        while True:
            try:
                await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next pass tries again; a bug must not end the links
                log.exception("federation pass failed")
            await asyncio.sleep(self._settings.poll_s)

    async def pass_once(self) -> None:
        """One pass over every site this server holds (or can take)."""
        sites = await asyncio.to_thread(store.list_sites, self._db)
        until = utcnow() + timedelta(seconds=self._settings.lease_s)
        mine = []
        for site in sites:
            if await asyncio.to_thread(
                store.claim_link, self._db, site.name, self.owner, until=until
            ):
                mine.append(site)
        self._held = {s.name for s in mine}
        await asyncio.gather(*(self.sync_site(site) for site in mine))

    async def _publish(self, changes: Sequence[AlarmChanged]) -> None:
        for change in changes:
            await self._bus.publish(change.subject(), change)

    async def sync_site(self, site: Site) -> None:
        """Bring this server's mirror of one site up to date; record how the link is."""
        try:
            link = store.link_of(site, self._secrets)
            async with SiteClient(link, timeout=self._settings.timeout_s) as client:
                await self._sync(client, site)
        except SiteError as exc:
            refused = isinstance(exc, SiteRefused) or (
                isinstance(exc, SiteAnswered) and exc.status in (403, 404)
            )
            state = store.REFUSED if refused else store.UNREACHABLE
            if site.state != state or site.last_error != str(exc):
                log.warning("site %s %s: %s", site.name, state, exc)
            await asyncio.to_thread(store.mark, self._db, site.name, state, str(exc))
            return
        if site.state != store.ONLINE:
            log.info("site %s online at %s", site.name, site.url)
        await asyncio.to_thread(store.mark, self._db, site.name, store.ONLINE)

    async def _sync(self, client: SiteClient, site: Site) -> None:
        name = site.name
        cameras = await client.request("GET", f"{FEED}/cameras")
        await asyncio.to_thread(store.sync_cameras, self._db, name, cameras["items"])

        async def keep_alarms(items: Sequence[dict[str, Any]], cursor: str | None) -> None:
            changes = await asyncio.to_thread(store.store_alarms, self._db, name, items, cursor)
            await self._publish(changes)

        async def keep_events(items: Sequence[dict[str, Any]], cursor: str | None) -> None:
            await asyncio.to_thread(store.store_events, self._db, name, items, cursor)

        await read_pages(client, f"{FEED}/alarms", site.alarms_cursor, keep_alarms)
        await read_pages(client, f"{FEED}/events", site.events_cursor, keep_events)


async def forward_alarm_action(
    db: Database,
    bus: EventBus,
    secrets: SecretBox,
    settings: FederationSettings,
    alarm_id: int,
    action: str,
    body: dict[str, Any],
) -> bool:
    """Do an operator's action on a mirrored alarm at its site (``action``: the path after
    ``/api/alarms/{id}/`` there), and update the mirror from the site's answer. False for
    an alarm of this site (nothing done); raises :class:`SiteError`."""
    found = await asyncio.to_thread(store.alarm_link, db, secrets, alarm_id)
    if found is None:
        return False
    link, remote_id = found
    async with SiteClient(link, timeout=settings.timeout_s) as client:
        answer = await client.request("POST", f"/api/alarms/{remote_id}/{action}", json=body)
    for change in await asyncio.to_thread(store.apply_alarm, db, alarm_id, answer):
        await bus.publish(change.subject(), change)
    return True


async def site_alarm_detail(
    db: Database, secrets: SecretBox, settings: FederationSettings, alarm_id: int
) -> dict[str, Any] | None:
    """A mirrored alarm's detail as its site has it now (history, actions, event), or None
    for an alarm of this site; raises :class:`SiteError`."""
    found = await asyncio.to_thread(store.alarm_link, db, secrets, alarm_id)
    if found is None:
        return None
    link, remote_id = found
    async with SiteClient(link, timeout=settings.timeout_s) as client:
        answer: dict[str, Any] = await client.request("GET", f"/api/alarms/{remote_id}")
    return answer

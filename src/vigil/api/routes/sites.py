"""Federated sites.

At a centre: register the sites it links to (``/api/sites``), and watch, play back and
export their cameras through it (``/api/federation/cameras/{camera_id}/...``, the id this
server gave the mirrored camera). At a site: what a centre holding one of its tokens reads
(``/api/federation/cameras``, ``/alarms``, ``/events``), limited to what that token's
user may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, WebSocket, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from vigil.api.auth import (
    CAMERA_ACCESS,
    ManageUser,
    Principal,
    audit_action,
    require,
    visible_for,
)
from vigil.api.deps import ContextDep, ServerContext, WsContextDep
from vigil.api.schemas_evidence import EvidenceExportCreate
from vigil.api.ws import push_until_gone
from vigil.config import SITE_PATTERN
from vigil.domain.events import Event
from vigil.domain.permissions import Permission, Visible
from vigil.federation import feed
from vigil.federation import store as site_store
from vigil.federation.client import SiteClient, SiteError
from vigil.federation.cursor import Cursor
from vigil.federation.link import forward_alarm_action, site_alarm_detail
from vigil.federation.pinning import (
    PinError,
    fetch_certificate,
    fingerprint,
    host_port,
    normalise_fingerprint,
    pinned_context,
)
from vigil.federation.store import DuplicateSite, SiteLink

log = logging.getLogger(__name__)
router = APIRouter(tags=["sites"])

FEED_LIMIT_MAX = 1000
RESERVED_SITE_NAMES = ("local",)


class SiteCreate(BaseModel):
    """A site to link to. Without ``fingerprint`` nothing is stored: the answer (409) shows
    the certificate the site presents, to be confirmed and sent again."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=SITE_PATTERN, description="how this server marks its items")
    url: str = Field(max_length=500, description="https://host:port of the site's server")
    token: SecretStr = Field(description="an API token the site's administrator issued")
    fingerprint: str | None = Field(None, description="SHA-256 of the site's certificate")


class SitePublic(BaseModel):
    """A registered site and how its link is (never its token)."""

    model_config = ConfigDict(from_attributes=True)
    name: str
    url: str
    fingerprint: str
    state: str = Field(description="new, online, unreachable, refused")
    last_error: str | None
    last_seen_at: datetime | None
    created_at: datetime
    created_by: str | None


class FeedPage(BaseModel):
    """Rows after a cursor, oldest first; ``cursor``: where the next page starts."""

    items: list[dict[str, Any]]
    cursor: str | None


# ----- a centre's sites ----------------------------------------------------------------------


def _check_name(ctx: ServerContext, name: str) -> None:
    if name in RESERVED_SITE_NAMES or name == ctx.settings.site:
        raise HTTPException(422, f"{name!r} names this installation: give the site another name")


@router.post("/api/sites", response_model=SitePublic, status_code=status.HTTP_201_CREATED)
async def add_site(
    body: SiteCreate, ctx: ContextDep, request: Request, user: ManageUser
) -> SitePublic:
    """Link to a site: its certificate is pinned (the one whose fingerprint is given), the
    token checked against it, then stored encrypted."""
    _check_name(ctx, body.name)
    try:
        host_port(body.url)
        given = normalise_fingerprint(body.fingerprint) if body.fingerprint else None
        pem = await asyncio.to_thread(fetch_certificate, body.url)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    except PinError as exc:
        raise HTTPException(422, f"{exc}: is the site's server running at that address?") from None
    presented = fingerprint(pem.encode())
    if given is None:
        return_body = {
            "detail": f"site {body.url} presents the certificate with SHA-256 fingerprint "
            f"{presented}: check it with the site's administrator, then send it as "
            "'fingerprint' to trust it",
            "fingerprint": presented,
        }
        raise HTTPException(409, return_body)
    if given != presented:
        raise HTTPException(
            422,
            f"site {body.url} presents the certificate {presented}, not the fingerprint "
            f"given ({given}): it was not registered",
        )
    url = body.url.rstrip("/")
    link = SiteLink(body.name, url, body.token.get_secret_value(), presented, pem)
    try:
        async with SiteClient(link, timeout=ctx.settings.federation.timeout_s) as client:
            await client.request("GET", "/api/federation/cameras")
    except SiteError as exc:
        raise HTTPException(422, f"cannot link to the site: {exc}") from None
    try:
        site = await asyncio.to_thread(
            site_store.create_site,
            ctx.db,
            name=body.name,
            url=url,
            token_encrypted=ctx.secrets.encrypt(link.token),
            fingerprint=presented,
            certificate=pem,
            created_by=user.username,
        )
    except DuplicateSite:
        raise HTTPException(409, f"a site named {body.name!r} is registered already") from None
    await run_in_threadpool(
        audit_action, request, user, "site.add", target=body.name, url=url, fingerprint=presented
    )
    return SitePublic.model_validate(site)


@router.get(
    "/api/sites",
    response_model=list[SitePublic],
    dependencies=[Depends(require(*CAMERA_ACCESS))],
)
def list_sites(ctx: ContextDep) -> list[SitePublic]:
    """The registered sites and whether each answers now."""
    return [SitePublic.model_validate(s) for s in site_store.list_sites(ctx.db)]


@router.delete("/api/sites/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_site(name: str, ctx: ContextDep, request: Request, user: ManageUser) -> Response:
    """Unlink a site and forget what was mirrored from it (it keeps all of it itself)."""
    if not await asyncio.to_thread(site_store.delete_site, ctx.db, name):
        raise HTTPException(404, f"site {name!r} is not registered")
    await run_in_threadpool(audit_action, request, user, "site.remove", target=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----- what a centre reads from this site ----------------------------------------------------


def _cursor(after: str | None) -> Cursor | None:
    try:
        return Cursor.decode(after) if after else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def _cameras(visible: Visible) -> frozenset[int] | None:
    return None if visible.all else visible.camera_ids


@router.get("/api/federation/cameras", response_model=FeedPage)
def feed_cameras(
    ctx: ContextDep, visible: Annotated[Visible, Depends(visible_for(*CAMERA_ACCESS))]
) -> FeedPage:
    """This site's own cameras the caller may see."""
    return FeedPage(items=feed.own_cameras(ctx.db, _cameras(visible)), cursor=None)


Limit = Annotated[int, Query(ge=1, le=FEED_LIMIT_MAX)]
After = Annotated[str | None, Query(description="a cursor from an earlier page")]


@router.get("/api/federation/alarms", response_model=FeedPage)
def feed_alarms(
    ctx: ContextDep,
    visible: Annotated[Visible, Depends(visible_for(Permission.ALARMS))],
    after: After = None,
    limit: Limit = 500,
) -> FeedPage:
    """This site's alarms changed after the cursor (raised, acknowledged, closed...)."""
    items, cursor = feed.alarms_after(
        ctx.db,
        _cursor(after),
        limit=limit,
        cameras=_cameras(visible),
        hidden_registers=visible.hidden_registers,
    )
    return FeedPage(items=items, cursor=cursor)


@router.get("/api/federation/events", response_model=FeedPage)
def feed_events(
    ctx: ContextDep,
    visible: Annotated[Visible, Depends(visible_for(*CAMERA_ACCESS))],
    after: After = None,
    limit: Limit = 500,
) -> FeedPage:
    """This site's events stored after the cursor."""
    mirrored = [s.name for s in site_store.list_sites(ctx.db)]
    items, cursor = feed.events_after(
        ctx.db,
        _cursor(after),
        limit=limit,
        cameras=_cameras(visible),
        mirrored_sites=mirrored,
        hidden_registers=visible.hidden_registers,
    )
    return FeedPage(items=items, cursor=cursor)


# ----- a site's camera, through this server --------------------------------------------------


async def _remote(ctx: ServerContext, camera_id: int) -> tuple[SiteLink, int]:
    found = await asyncio.to_thread(site_store.camera_link, ctx.db, ctx.secrets, camera_id)
    if found is None:
        raise HTTPException(404, f"camera {camera_id} is not a camera of a linked site")
    return found


RELAYED_HEADERS = ("content-type", "content-disposition", "x-vigil-start", "content-length")


async def relay(
    ctx: ServerContext, link: SiteLink, path: str, params: dict[str, Any], *, json: Any = None
) -> Response:
    """A site's answer to a GET (a POST of ``json`` when given), streamed on as it comes
    (video, images, packages); the site's refusal with its status, 503 while it cannot be
    reached."""
    client = SiteClient(link, timeout=ctx.settings.federation.timeout_s)
    stream = client.stream(path, params, json=json)
    try:
        upstream = await stream.__aenter__()
    except SiteError as exc:
        await client.__aexit__(None, None, None)
        raise HTTPException(exc.status, f"site {link.name}: {exc}") from None

    async def body() -> AsyncIterator[bytes]:
        async for chunk in upstream.aiter_raw():
            yield chunk

    async def close() -> None:
        with contextlib.suppress(Exception):
            await stream.__aexit__(None, None, None)
        await client.__aexit__(None, None, None)

    headers = {k: v for k, v in upstream.headers.items() if k.lower() in RELAYED_HEADERS}
    return StreamingResponse(
        body(), status_code=upstream.status_code, headers=headers, background=BackgroundTask(close)
    )


async def _relay(
    ctx: ServerContext,
    request: Request,
    user: Principal,
    camera_id: int,
    what: str,
    *,
    json: Any = None,
) -> Response:
    link, remote_id = await _remote(ctx, camera_id)
    path = f"/api/cameras/{remote_id}/{what}"
    response = await relay(ctx, link, path, dict(request.query_params), json=json)
    await run_in_threadpool(
        audit_action,
        request,
        user,
        f"camera.{what.split('.')[0]}",
        camera_id=camera_id,
        site=link.name,
        query=str(request.query_params),
    )
    return response


PlaybackUser = Annotated[Principal, Depends(require(Permission.PLAYBACK, Permission.LIVE))]


@router.get("/api/federation/cameras/{camera_id}/timeline")
async def site_timeline(
    camera_id: int, ctx: ContextDep, request: Request, user: PlaybackUser
) -> Response:
    """The site camera's timeline (as its site's ``/api/cameras/{id}/timeline``)."""
    return await _relay(ctx, request, user, camera_id, "timeline")


@router.get("/api/federation/cameras/{camera_id}/playback.mp4")
async def site_playback(
    camera_id: int,
    ctx: ContextDep,
    request: Request,
    user: Annotated[Principal, Depends(require(Permission.PLAYBACK))],
) -> Response:
    """The site camera's recordings from ``start`` (as its ``playback.mp4``)."""
    return await _relay(ctx, request, user, camera_id, "playback.mp4")


@router.get("/api/federation/cameras/{camera_id}/export")
async def site_export(
    camera_id: int,
    ctx: ContextDep,
    request: Request,
    user: Annotated[Principal, Depends(require(Permission.EXPORT))],
) -> Response:
    """An MP4 of the site camera's [start, end] (as its ``export``)."""
    return await _relay(ctx, request, user, camera_id, "export")


@router.post("/api/federation/cameras/{camera_id}/evidence-export")
async def site_evidence_export(
    camera_id: int,
    body: EvidenceExportCreate,
    ctx: ContextDep,
    request: Request,
    user: Annotated[Principal, Depends(require(Permission.EXPORT))],
) -> Response:
    """A signed evidence package of the site camera's [start, end], built and signed by the
    site that holds the footage (as its ``evidence-export``; ``vigil verify`` checks it
    against the site's key)."""
    return await _relay(
        ctx, request, user, camera_id, "evidence-export", json=body.model_dump(mode="json")
    )


@router.get("/api/federation/cameras/{camera_id}/snapshot.jpg")
async def site_snapshot(
    camera_id: int,
    ctx: ContextDep,
    request: Request,
    user: Annotated[Principal, Depends(require(Permission.LIVE))],
) -> Response:
    """The site camera's latest frame as JPEG (as its ``snapshot.jpg``)."""
    return await _relay(ctx, request, user, camera_id, "snapshot.jpg")


@router.websocket("/api/federation/cameras/{camera_id}/live")
async def site_live(
    websocket: WebSocket,
    camera_id: int,
    ctx: WsContextDep,
    user: Annotated[Principal, Depends(require(Permission.LIVE))],
) -> None:
    """The site camera's live stream (messages as its ``/api/cameras/{id}/live``)."""
    await websocket.accept()
    try:
        link, remote_id = await _remote(ctx, camera_id)
    except HTTPException as exc:
        await websocket.close(code=4404, reason=str(exc.detail)[:120])
        return
    await run_in_threadpool(
        audit_action, websocket, user, "camera.live", camera_id=camera_id, site=link.name
    )
    query = websocket.url.query
    url = f"{link.url.replace('https', 'wss', 1)}/api/cameras/{remote_id}/live"
    try:
        async with connect(
            f"{url}?{query}" if query else url,
            ssl=pinned_context(link.certificate),
            additional_headers={"Authorization": f"Bearer {link.token}"},
            max_size=16 * 1024**2,
            open_timeout=ctx.settings.federation.timeout_s,
        ) as upstream:

            async def downstream() -> None:
                async for message in upstream:
                    if isinstance(message, bytes):
                        await websocket.send_bytes(message)
                    else:
                        await websocket.send_text(message)

            await push_until_gone(websocket, downstream())
    except (OSError, WebSocketException, TimeoutError) as exc:
        message = f"site {link.name} unavailable: {exc}"
        with contextlib.suppress(Exception):
            await websocket.send_json({"type": "error", "message": message})
            await websocket.close(code=4503, reason=message[:120])


# ----- working a site's alarm here -----------------------------------------------------------


async def site_alarm_snapshot(ctx: ServerContext, alarm_id: int) -> Response | None:
    """A site's alarm's snapshot, relayed from the site; None for an alarm of this site."""
    found = await asyncio.to_thread(site_store.alarm_link, ctx.db, ctx.secrets, alarm_id)
    if found is None:
        return None
    link, remote_id = found
    return await relay(ctx, link, f"/api/alarms/{remote_id}/snapshot", {})


async def site_event_snapshot(ctx: ServerContext, event: Event) -> Response | None:
    """A site's event's snapshot, relayed from the site; None for an event of this site."""
    if event.snapshot != site_store.SITE_SNAPSHOT or event.site is None:
        return None
    link = await asyncio.to_thread(site_store.site_link, ctx.db, ctx.secrets, event.site)
    if link is None:
        raise HTTPException(404, f"event {event.id}: site {event.site} is no longer linked")
    return await relay(ctx, link, f"/api/events/{event.id}/snapshot", {})


async def site_history(ctx: ServerContext, alarm_id: int) -> dict[str, Any] | None:
    """A site's alarm's detail as its site has it now; None for an alarm of this site or
    while the site cannot be reached (the mirror then speaks for it)."""
    try:
        return await site_alarm_detail(ctx.db, ctx.secrets, ctx.settings.federation, alarm_id)
    except SiteError as exc:
        log.warning("alarm %s: its site's history is unavailable (%s)", alarm_id, exc)
        return None


async def forwarded(ctx: ServerContext, alarm_id: int, action: str, body: BaseModel) -> bool:
    """Do an operator's action on a site's alarm at that site (True), or nothing for an
    alarm of this installation (False). 503 while the site cannot be reached; the site's
    own refusal (a transition not allowed...) with its status."""
    try:
        return await forward_alarm_action(
            ctx.db,
            ctx.bus,
            ctx.secrets,
            ctx.settings.federation,
            alarm_id,
            action,
            body.model_dump(mode="json", exclude_unset=True),
        )
    except SiteError as exc:
        raise HTTPException(exc.status, f"the alarm is the site's, and {exc}") from None

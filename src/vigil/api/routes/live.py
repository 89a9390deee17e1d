"""Live view: the server relays a camera's fMP4 fragments from the recorder that owns it.

Every viewer of a camera shares the recorder's one ingest; the server only relays.
Messages to the browser are the recorder's (see ``api/recorder_app.py``), plus
``{"type": "error", "message": ...}`` when no recorder can serve the camera.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

import websockets
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool
from websockets.asyncio.client import ClientConnection, connect

from vigil.api.auth import Principal, audit_action, holds, require
from vigil.api.deps import WsContextDep
from vigil.api.recorder_app import LIVE_PATH, LiveStream
from vigil.api.ws import push_until_gone
from vigil.domain.permissions import Permission
from vigil.security.service_token import service_headers
from vigil.store import cameras as camera_store
from vigil.store import nodes

router = APIRouter(tags=["live"])

UPSTREAM_OPEN_TIMEOUT_S = 5


@router.websocket("/api/cameras/{camera_id}/live")
async def live(
    websocket: WebSocket,
    camera_id: int,
    ctx: WsContextDep,
    user: Annotated[Principal, Depends(require(Permission.LIVE))],
    stream: LiveStream = "main",
) -> None:
    """Relay one camera's live fMP4 stream to a browser (Media Source Extensions);
    ``stream=sub`` asks for the lighter sub-stream, for grids."""
    await websocket.accept()
    camera = camera_store.get_camera(ctx.db, camera_id)
    if camera is None:
        await _refuse(websocket, f"camera {camera_id} not found", 4404)
        return
    if not camera.enabled:
        await _refuse(websocket, f"camera {camera_id} is disabled", 4409)
        return
    media_url = nodes.media_url_for_camera(ctx.db, camera_id)
    if media_url is None:
        await _refuse(websocket, "no live recorder node records this camera now", 4503)
        return
    # Without the unmask permission the recorder fills the camera's privacy masks in, also
    # when masks are added while watching (media/privacy_live.py).
    masked = not holds(websocket, user, Permission.UNMASK, camera_id)
    await run_in_threadpool(
        audit_action,
        websocket,
        user,
        "camera.live",
        camera_id=camera_id,
        stream=stream,
        masked=masked,
    )
    path = LIVE_PATH.format(camera_id=camera_id)
    upstream_url = f"{media_url.replace('http', 'ws', 1)}{path}?stream={stream}"
    if masked:
        upstream_url += "&masked=1"
    try:
        async with connect(
            upstream_url,
            open_timeout=UPSTREAM_OPEN_TIMEOUT_S,
            max_size=16 * 1024**2,
            additional_headers=service_headers(ctx.settings.data_dir),
        ) as upstream:
            await _relay(websocket, upstream)
    except (OSError, websockets.WebSocketException, TimeoutError) as exc:
        await _refuse(websocket, f"recorder {media_url} unavailable: {exc}", 4503)


async def _relay(websocket: WebSocket, upstream: ClientConnection) -> None:
    async def downstream() -> None:
        async for message in upstream:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)

    await push_until_gone(websocket, downstream())


async def _refuse(websocket: WebSocket, message: str, code: int) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.send_json({"type": "error", "message": message})
        await websocket.close(code=code, reason=message[:120])

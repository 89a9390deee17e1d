"""Live updates for clients: bus messages relayed to browsers over a WebSocket."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from vigil.api.deps import WsContextDep
from vigil.api.ws import push_until_gone

router = APIRouter(tags=["events"])

# What a browser may follow; internal subjects (configuration) stay on the server.
CLIENT_SUBJECTS = ("cameras.*.status",)


@router.websocket("/api/events")
async def events(websocket: WebSocket, ctx: WsContextDep) -> None:
    """Each message is a JSON envelope: ``subject``, ``kind``, ``version``, ``payload``.

    Camera status changes arrive as kind ``camera.status`` with a
    :class:`~vigil.domain.messages.CameraStatusChanged` payload.
    """
    await websocket.accept()

    async def relay() -> None:
        async with ctx.bus.subscribe(CLIENT_SUBJECTS[0]) as messages:
            async for envelope in messages:
                await websocket.send_text(envelope.model_dump_json(exclude={"origin"}))

    await push_until_gone(websocket, relay())

"""The bus hub: recorders of this installation publish and subscribe through the server."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from vigil.api.deps import WsContextDep
from vigil.bus.base import Envelope
from vigil.bus.hub import HUB_PATH

router = APIRouter(tags=["internal"])


@router.websocket(HUB_PATH)
async def bus_hub(websocket: WebSocket, ctx: WsContextDep) -> None:
    """Relay envelopes between a recorder and the server's in-process bus."""
    await websocket.accept()
    origin = websocket.query_params.get("origin")
    forwarders: list[asyncio.Task[None]] = []

    async def forward(pattern: str) -> None:
        async with ctx.bus.subscribe(pattern) as messages:
            async for envelope in messages:
                if envelope.origin is None or envelope.origin != origin:  # no echoes
                    await websocket.send_text(envelope.model_dump_json())

    try:
        while True:
            msg = json.loads(await websocket.receive_text())
            if msg.get("op") == "sub":
                forwarders.append(asyncio.create_task(forward(str(msg["pattern"]))))
            elif msg.get("op") == "pub":
                envelope = Envelope.model_validate(msg["envelope"])
                await ctx.bus.publish_envelope(envelope)
                if "ack" in msg:  # a durable envelope: the recorder may forget it now
                    await websocket.send_text(json.dumps({"op": "ack", "seq": int(msg["ack"])}))
    except (WebSocketDisconnect, json.JSONDecodeError, KeyError, ValueError):
        pass
    finally:
        for task in forwarders:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

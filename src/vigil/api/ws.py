"""WebSocket helpers shared by the routes that push to browsers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect


async def push_until_gone(websocket: WebSocket, pusher: Coroutine[Any, Any, None]) -> None:
    """Run ``pusher`` (which sends to the client) until it ends or the client leaves.

    The client sends nothing, so only receiving tells us that it has gone; without this a
    pusher with nothing to send would wait forever and hold the server's shutdown.
    """
    push = asyncio.create_task(pusher)
    try:
        while True:
            waiter = asyncio.create_task(websocket.receive())
            done, _ = await asyncio.wait({push, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if push in done:
                waiter.cancel()
                push.result()
                return
            if waiter.result()["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        push.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await push

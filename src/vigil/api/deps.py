"""Typed dependencies: the one place routes get their services from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket

from vigil.alarms.manager import AlarmManager
from vigil.analytics.status_board import AnalyticsStatusBoard
from vigil.bus.base import EventBus
from vigil.config import Settings
from vigil.integrations import Integrations
from vigil.integrations.tiles import TileRelay
from vigil.registers.sync import RegisterSync
from vigil.rules.dispatcher import Dispatcher
from vigil.rules.engine import RulesEngine
from vigil.security.bootstrap import SetupToken
from vigil.security.secrets import SecretBox
from vigil.store import cameras as camera_store
from vigil.store.db import Database
from vigil.store.models import Camera


@dataclass(slots=True)
class ServerContext:
    """What the server's routes share; built once in the app's lifespan."""

    settings: Settings
    db: Database
    bus: EventBus
    secrets: SecretBox
    engine: RulesEngine
    dispatcher: Dispatcher
    alarms: AlarmManager
    integrations: Integrations
    analytics_status: AnalyticsStatusBoard
    register_sync: RegisterSync
    # The first administrator's one-time token while no user exists (security/bootstrap.py).
    setup: SetupToken = field(default_factory=SetupToken)
    # Street map tiles, when a tile server is configured (settings.map.tile_url).
    tiles: TileRelay | None = None


def _context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _ws_context(websocket: WebSocket) -> ServerContext:
    ctx: ServerContext = websocket.app.state.ctx
    return ctx


ContextDep = Annotated[ServerContext, Depends(_context)]
WsContextDep = Annotated[ServerContext, Depends(_ws_context)]


def _camera(camera_id: int, request: Request) -> Camera:
    camera = camera_store.get_camera(_context(request).db, camera_id)
    if camera is None:
        raise HTTPException(404, f"camera {camera_id} not found")
    return camera


CameraDep = Annotated[Camera, Depends(_camera)]

"""The bus a process uses, chosen by the settings: NATS in cluster mode, else embedded."""

from __future__ import annotations

from vigil.bus.base import EventBus
from vigil.bus.hub import HubBus
from vigil.bus.jetstream import NatsBus
from vigil.bus.memory import InProcessBus
from vigil.config import Settings
from vigil.security.service_token import service_token
from vigil.security.tls import client_ssl_context


async def server_bus(settings: Settings) -> EventBus:
    """The server's bus: NATS when configured, else its own in-process bus (the hub)."""
    if settings.bus.url is None:
        return InProcessBus()
    bus = NatsBus(
        settings.bus.url,
        namespace=settings.bus.namespace,
        outbox_path=settings.outbox_dir / f"server-{settings.server.port}.sqlite3",
        name=f"vigil-server-{settings.server.port}",
    )
    await bus.connect(settings.bus.connect_timeout_s)
    return bus


async def recorder_bus(settings: Settings) -> EventBus:
    """A recorder's bus: NATS when configured, else a link to the server's hub."""
    node = settings.recorder.node_name
    outbox = settings.outbox_dir / f"recorder-{node}.sqlite3"
    if settings.bus.url is None:
        hub = HubBus(
            settings.server_url,
            token=service_token(settings.data_dir),
            tls=lambda: client_ssl_context(settings),
            outbox_path=outbox,
        )
        hub.start()
        return hub
    bus = NatsBus(
        settings.bus.url,
        namespace=settings.bus.namespace,
        outbox_path=outbox,
        name=f"vigil-recorder-{node}",
    )
    await bus.connect(settings.bus.connect_timeout_s)
    return bus

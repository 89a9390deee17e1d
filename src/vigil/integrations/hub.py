"""The integrations of one server: their clients, their lifetimes and their executors."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from vigil import __version__
from vigil.bus.base import EventBus
from vigil.config import Settings
from vigil.integrations.delivery import TIMEOUT
from vigil.integrations.mqtt import MqttBridge
from vigil.integrations.webpush import VapidKey
from vigil.rules.actions import Executor
from vigil.rules.registry import ExecutorContext, build_executors
from vigil.security.secrets import SecretBox
from vigil.store.db import Database

log = logging.getLogger(__name__)


class Integrations:
    """MQTT, webhooks, e-mail, Web Push and signage. Nothing goes out unless an
    administrator configured it: MQTT is off and SMTP unset by default."""

    def __init__(
        self, *, settings: Settings, db: Database, bus: EventBus, secrets: SecretBox
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._http = httpx.AsyncClient(
            timeout=TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": f"Vigil/{__version__}"},
        )
        self.vapid = VapidKey.for_data_dir(settings.data_dir)
        self.mqtt = (
            MqttBridge(settings=settings.mqtt, db=db, bus=bus) if settings.mqtt.enabled else None
        )
        # Every registered action type's executor (vigil.rules.kinds), with these clients.
        self._executors: dict[str, Executor] = build_executors(
            ExecutorContext(
                db=db, http=self._http, mqtt=self.mqtt, settings=settings, vapid=self.vapid
            )
        )

    @property
    def executors(self) -> Mapping[str, Executor]:
        """Executors by action type, for the action dispatcher."""
        return self._executors

    async def start(self) -> None:
        """Start the long-lived clients (the MQTT connection, when enabled)."""
        if self.mqtt is not None:
            await self.mqtt.start()
        else:
            log.info("MQTT integration is off (VIGIL_MQTT__ENABLED)")

    async def stop(self) -> None:
        """Disconnect and release the clients."""
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self._http.aclose()

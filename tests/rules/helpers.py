"""Helpers for rules tests: rules and cameras written straight to the store, bus listeners."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from vigil.bus.memory import InProcessBus
from vigil.domain.alarms import AlarmChanged
from vigil.domain.rules import RuleSpec
from vigil.rules.specs import seal
from vigil.security.secrets import SecretBox
from vigil.store import cameras as camera_store
from vigil.store import rules as rule_store
from vigil.store.db import Database
from vigil.store.types import utcnow

BOX = SecretBox(b"0" * 43 + b"=")


def add_rule(db: Database, **spec: Any) -> int:
    """Store a rule from RuleSpec fields (with defaults for a minimal alarm rule)."""
    fields: dict[str, Any] = {
        "name": "Intrusion",
        "trigger": {"kind": "event", "event_types": ["intrusion"]},
        "actions": [{"type": "raise_alarm", "priority": 2, "category": "security"}],
        **spec,
    }
    rule = RuleSpec.model_validate(fields)
    return rule_store.create_rule(db, name=rule.name, enabled=rule.enabled, spec=seal(rule, BOX)).id


def add_camera(db: Database, name: str = "Gate", location: str | None = "North") -> int:
    """Store a camera."""
    return camera_store.create_camera(
        db, name=name, main_url=f"rtsp://10.0.0.1/{name}", location=location
    ).id


class Changes:
    """AlarmChanged messages seen on the bus."""

    def __init__(self) -> None:
        self.items: list[AlarmChanged] = []
        self._new = asyncio.Event()

    async def wait_for(self, n: int) -> list[AlarmChanged]:
        """Wait (10 s at most) until ``n`` changes have arrived."""
        async with asyncio.timeout(10):
            while len(self.items) < n:
                self._new.clear()
                await self._new.wait()
        return self.items

    def add(self, change: AlarmChanged) -> None:
        self.items.append(change)
        self._new.set()


@asynccontextmanager
async def alarm_changes(bus: InProcessBus) -> AsyncIterator[Changes]:
    """Collect AlarmChanged messages while the context is open."""
    changes = Changes()
    ready = asyncio.Event()

    async def listen() -> None:
        async with bus.subscribe(AlarmChanged.SUBJECTS) as messages:
            ready.set()
            async for envelope in messages:
                changes.add(envelope.open(AlarmChanged))

    task = asyncio.create_task(listen())
    await ready.wait()
    try:
        yield changes
    finally:
        task.cancel()


def at(seconds: float, base: datetime | None = None) -> datetime:
    """A moment ``seconds`` after a fixed base."""
    from datetime import timedelta

    return (base or BASE) + timedelta(seconds=seconds)


BASE = utcnow().replace(microsecond=0)

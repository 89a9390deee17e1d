"""The rules engine on the in-process bus, for the tests of this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vigil.bus.memory import InProcessBus
from vigil.rules.engine import RulesEngine
from vigil.store.db import Database


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    yield b
    await b.close()


@pytest.fixture
async def engine(db: Database, bus: InProcessBus) -> AsyncIterator[RulesEngine]:
    e = RulesEngine(db, bus)
    await e.start()
    yield e
    await e.stop()

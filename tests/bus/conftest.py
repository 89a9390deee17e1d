"""Both bus implementations, for tests that every bus must pass."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest

from tests.conftest import free_port, require_service
from vigil.bus.base import EventBus
from vigil.bus.jetstream import BusUnavailable, NatsBus
from vigil.bus.memory import InProcessBus

NATS_URL = os.environ.get("VIGIL_TEST_NATS", "nats://127.0.0.1:4222")


async def nats_bus(namespace: str, outbox: Path | None = None) -> NatsBus:
    """A NATS bus in its own namespace (so parallel tests share the server safely)."""
    bus = NatsBus(NATS_URL, namespace=namespace, outbox_path=outbox)
    try:
        await bus.connect(timeout_s=2)
    except BusUnavailable as exc:
        require_service("NATS with JetStream", str(exc))
    return bus


async def delete_stream(namespace: str) -> None:
    """Remove a test namespace's stream from the shared server."""
    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(f"{namespace.upper()}_DURABLE")
    except Exception:  # already gone, or never made
        pass
    finally:
        await nc.close()


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    """A namespace of this test's own on the shared NATS server, removed afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    await delete_stream(name)


@pytest.fixture(params=["memory", "nats"])
async def bus_factory(
    request: pytest.FixtureRequest, namespace: str, tmp_path: Path
) -> AsyncIterator[object]:
    """Makes buses that talk to each other: the same in-process bus, or NATS clients of
    one namespace (each a separate connection, as separate processes would have)."""
    made: list[EventBus] = []
    shared = InProcessBus()

    async def make() -> EventBus:
        if request.param == "memory":
            return shared
        bus = await nats_bus(namespace, tmp_path / f"outbox-{len(made)}.sqlite3")
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()
    await shared.close()


class PrivateNats:
    """nats-server with JetStream on a port and folder of its own, so that a test can stop
    and restart it without touching anybody else's broker."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            require_service("nats-server", "the nats-server binary is not installed")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again: same port, same JetStream folder, so the streams are kept)."""
        log = (self.folder / "nats.log").open("ab")
        cmd = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        cmd += ["-sd", str(self.folder / "js")]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it: SIGTERM shuts it down in order, SIGKILL is a crash."""
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[PrivateNats]:
    """A private nats-server for this test, stopped afterwards."""
    server = PrivateNats(tmp_path)
    server.start()
    yield server
    server.stop()

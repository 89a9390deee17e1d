"""Real peers for the integrations: Mosquitto, a local HTTP receiver, an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.conftest import require_service
from vigil.config import MqttSettings, Settings, StorageSettings
from vigil.domain.events import Event
from vigil.domain.rules import Action, template_values
from vigil.rules.actions import ActionJob
from vigil.store.db import Database, migrate

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883

_actions: TypeAdapter[Action] = TypeAdapter(Action)


def make_job(
    action: dict[str, Any],
    *,
    event: Event | None = None,
    alarm_id: int | None = 7,
    run_id: int = 41,
    attempt: int = 1,
    rule: str = "Door forced",
) -> ActionJob:
    """One attempt of one action, as the dispatcher hands it to an executor."""
    event = event or Event(
        type="access.door_forced",
        at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        camera_id=3,
        attributes={"name": "door_forced", "payload": {"door": "B2"}},
    )
    values = template_values(
        rule=rule,
        event=event,
        camera_name="Gate 1",
        location="North gate",
        priority=1,
        category="intrusion",
        alarm_id=alarm_id,
    )
    return ActionJob(
        run_id=run_id,
        attempt=attempt,
        rule_id=5,
        rule_name=rule,
        alarm_id=alarm_id,
        event=event,
        values=values,
        action=_actions.validate_python(action),
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on a fresh SQLite database (the executors' tests need no PostgreSQL run)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'vigil.db'}",
        storage=StorageSettings(min_free_bytes=0),
    )


@pytest.fixture
def sqlite_db(sqlite_settings: Settings) -> Iterator[Database]:
    migrate(sqlite_settings.db_url)
    db = Database(sqlite_settings.db_url)
    yield db
    db.dispose()


# MQTT ---------------------------------------------------------------------------------------
@pytest.fixture
def mqtt_settings() -> MqttSettings:
    """The broker on 127.0.0.1:1883 with a topic prefix of this test's own."""
    try:
        socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2).close()
    except OSError as exc:
        require_service("Mosquitto", f"{MQTT_HOST}:{MQTT_PORT}: {exc}")
    return MqttSettings(
        enabled=True,
        host=MQTT_HOST,
        port=MQTT_PORT,
        topic_prefix=f"vigiltest-{uuid.uuid4().hex[:10]}",
    )


# HTTP receiver ------------------------------------------------------------------------------
@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, bytes]


@dataclass
class Receiver:
    """A real HTTP server on a free port that records what it gets; ``answer`` decides the
    reply (status and body) for each request."""

    answer: Callable[[Received], Reply] = lambda _: (200, b"ok")
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait(self, count: int = 1, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.requests) >= count, f"expected {count} requests, got {self.requests}"
        return self.requests


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            got = Received(
                "POST",
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            rec.requests.append(got)
            status, body = rec.answer(got)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
async def integrations(sqlite_settings: Settings, sqlite_db: Database) -> Any:
    """Integrations as the server builds them (MQTT off, SMTP unset: the defaults)."""
    from vigil.bus.memory import InProcessBus
    from vigil.integrations import Integrations
    from vigil.security.secrets import SecretBox

    hub = Integrations(
        settings=sqlite_settings,
        db=sqlite_db,
        bus=InProcessBus(),
        secrets=SecretBox.for_data_dir(sqlite_settings.data_dir),
    )
    await hub.start()
    yield hub
    await hub.stop()

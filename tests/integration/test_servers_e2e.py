"""Two servers on one PostgreSQL and one NATS: each event handled once, each webhook once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.bus.conftest import NATS_URL, nats_bus
from tests.conftest import Stack, free_port, fresh_postgres, wait_until
from vigil.domain.events import Event
from vigil.store.db import Database
from vigil.store.models import Alarm, EventRecord
from vigil.store.types import utcnow

pytestmark = pytest.mark.slow

EVENTS = 1000


class Receiver:
    """A webhook endpoint that counts deliveries by event id."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        lock = threading.Lock()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    seen[body["event"]["id"]] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Stack, subprocess.Popen[bytes], str]]:
    with fresh_postgres("vigil_servers") as url:
        yield from _two_servers(tmp_path, url)


def _two_servers(tmp_path: Path, url: str) -> Iterator[tuple[Stack, subprocess.Popen[bytes], str]]:
    namespace = f"t{uuid.uuid4().hex[:12]}"
    env = {"VIGIL_BUS__URL": NATS_URL, "VIGIL_BUS__NAMESPACE": namespace}
    first = Stack(tmp_path / "data", url, env=env)
    first.data_dir.mkdir(parents=True)
    first.start_server()
    second_port = free_port()
    log = (first.data_dir / "server-2.log").open("ab")
    second = subprocess.Popen(
        [sys.executable, "-m", "vigil", "server"],
        env={**first.env, "VIGIL_SERVER__PORT": str(second_port)},
        stdout=log,
        stderr=log,
    )
    try:
        health = f"http://127.0.0.1:{second_port}/api/health"
        wait_until(lambda: first._ok(health), 30, "second server up", first.logs)
        yield first, second, namespace
    finally:
        second.terminate()
        second.wait(20)
        first.stop()


async def publish_events(namespace: str, camera_id: int, tmp_path: Path) -> list[str]:
    bus = await nats_bus(namespace, tmp_path / "sensor-outbox.sqlite3")
    events = [Event(type="intrusion", camera_id=camera_id, at=utcnow()) for _ in range(EVENTS)]
    try:
        for event in events:
            await bus.publish(event.subject(), event)
        await asyncio.wait_for(bus.sent(), 60)
    finally:
        await bus.close()
    return [e.id for e in events]


def test_two_servers_raise_each_alarm_and_send_each_webhook_once(
    two_servers: tuple[Stack, subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    stack, _, namespace = two_servers
    receiver = Receiver()
    try:
        camera = stack.add_camera("gate", "rtsp://127.0.0.1:9/none", enabled=False)
        rule = {
            "name": "Intrusion",
            "trigger": {"kind": "event", "event_types": ["intrusion"]},
            "actions": [
                {"type": "raise_alarm", "priority": 2, "category": "security"},
                {"type": "webhook", "url": receiver.url},
            ],
        }
        r = stack.client.post("/api/rules", json=rule)
        assert r.status_code == 201, r.text
        ids = asyncio.run(publish_events(namespace, camera["id"], tmp_path))
        wait_until(lambda: len(receiver.seen) >= EVENTS, 180, "every webhook delivered", stack.logs)
        db = Database(stack.db_url)
        try:
            with db.session() as s:
                stored = s.scalar(select(func.count()).select_from(EventRecord))
                occurrences = s.scalar(select(func.sum(Alarm.occurrences)))
        finally:
            db.dispose()
        assert set(receiver.seen) == set(ids)
        assert max(receiver.seen.values()) == 1, "a webhook sent twice"
        assert stored == EVENTS
        assert occurrences == EVENTS, "each event counted on its alarm once"
        assert "Traceback" not in stack.logs()
    finally:
        receiver.close()

"""NATS, PostgreSQL and the server restarted under load: no event lost, none twice.

A server and a recorder node run as real processes on a PostgreSQL and a nats-server of
the test's own (so stopping them touches no other test). Two producers run at a steady
rate across the restart: a sensor posting webhook inputs to the server's API (events that
enter at the server), and a publisher with a persistent outbox on the bus, as a recorder
publishes its analytics events and camera status (events that enter at a node). A rule
raises an alarm on every event. Afterwards every accepted event is stored exactly once,
its alarm counted exactly once, and the server and the node are still running and
recording.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import func, select

from tests.bus.conftest import PrivateNats
from tests.conftest import STARTUP_S, free_port, require_service, wait_until
from tests.integration.test_cluster_e2e import Cluster
from vigil.bus.jetstream import NatsBus
from vigil.devices.simulator import Simulator
from vigil.domain.events import Event
from vigil.store.db import Database
from vigil.store.models import Alarm, EventRecord, Segment
from vigil.store.types import utcnow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EVENTS = 120  # of each producer
PAUSE_S = 0.05  # between two events of a producer: a steady trickle across the restart
DOWN_S = 3.0  # how long a restarted service stays away
# Generous: the waits say what must happen, not how fast (a busy 2-core machine is slow).
SETTLE_S = 240
SENSOR_SOURCE = "restart-sensor"


class PrivatePostgres:
    """A PostgreSQL instance of the test's own (Debian's binaries, a free port, trust
    auth), which the test may stop abruptly and start again on the same data."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            require_service("PostgreSQL binaries", "no initdb under /usr/lib/postgresql/*/bin")
        assert initdb is not None
        self.bin = Path(initdb).parent
        # Not pytest's tmp_path: it lies in root's private folder, which the postgres user
        # (who must own the data when the tests run as root) cannot enter.
        self.folder = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/vigil"
        self._as: list[str] = []

    def init(self) -> None:
        """Make the data folder (initdb), as the postgres user when the tests run as root."""
        if os.geteuid() == 0:  # initdb refuses root
            try:
                uid = pwd.getpwnam("postgres").pw_uid
            except KeyError:
                require_service("PostgreSQL", "running as root, and there is no postgres user")
            os.chown(self.folder, uid, -1)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        cmd = [*self._as, str(self.bin / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            log = self.folder / "postgres.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}\n{tail}")

    def start(self) -> None:
        """Start (again: same port, same data) and wait until it accepts connections."""
        # fsync off: the test kills processes, not the machine, and the disk is shared.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += f" -c unix_socket_directories={self.folder}"
        log = str(self.folder / "postgres.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "120", "start"
        )

    def create_database(self) -> None:
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE DATABASE vigil")

    def stop(self, mode: str = "immediate") -> None:
        """Stop: ``immediate`` is a crash (recovery at the next start), ``fast`` in order."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop")

    def remove(self) -> None:
        """Stop it if it runs, and delete its data."""
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _version(initdb: str) -> float:
    try:
        return float(Path(initdb).parent.parent.name)
    except ValueError:
        return 0.0


class Producer(threading.Thread):
    """Makes ``EVENTS`` events at a steady rate; ``accepted`` holds the ids of those
    that were taken (what must end up stored)."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.accepted: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.produce()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def produce(self) -> None:
        raise NotImplementedError


class WebhookSensor(Producer):
    """Posts webhook inputs ``{"n": n}`` to the server, each until it is accepted (202):
    a refusal while the database or the server is away is tried again, as a sensor would.

    A request cut off after it was sent (the server killed while answering) may have been
    taken all the same: its ``n`` is noted in ``uncertain``, where a retry may make a
    second event."""

    def __init__(self, url: str, headers: dict[str, str], hook: str) -> None:
        super().__init__("webhook-sensor")
        self.url, self.headers, self.hook = url, headers, hook
        self.uncertain: set[int] = set()

    def produce(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=60) as client:
            for n in range(EVENTS):
                while True:
                    try:
                        r = client.post(f"/api/inputs/webhook/{self.hook}", json={"n": n})
                    except httpx.ConnectError:
                        r = None  # the server is away: it never saw the request
                    except httpx.TransportError:
                        r = None
                        self.uncertain.add(n)
                    if r is not None and r.status_code == 202:
                        self.accepted.append(r.json()["event_id"])
                        break
                    time.sleep(0.2)
                time.sleep(PAUSE_S)


class NodePublisher(Producer):
    """Publishes analytics events on the bus through a persistent outbox, as a recorder
    node does: the outbox takes each at once, whether the broker is there or not."""

    def __init__(self, nats_url: str, namespace: str, outbox: Path, camera_id: int) -> None:
        super().__init__("node-publisher")
        self.nats_url, self.namespace, self.outbox = nats_url, namespace, outbox
        self.camera_id = camera_id

    def produce(self) -> None:
        asyncio.run(self._produce())

    async def _produce(self) -> None:
        bus = NatsBus(self.nats_url, namespace=self.namespace, outbox_path=self.outbox)
        await bus.connect(timeout_s=60)
        try:
            for _ in range(EVENTS):
                event = Event(
                    type="intrusion", camera_id=self.camera_id, at=utcnow(), source=SENSOR_SOURCE
                )
                await bus.publish(event.subject(), event)
                self.accepted.append(event.id)
                await asyncio.sleep(PAUSE_S)
            await bus.sent()  # the broker has them all before the bus closes
        finally:
            await bus.close()


class Installation:
    """The processes under test and the services they depend on."""

    def __init__(self, tmp_path: Path, postgres: PrivatePostgres, nats: PrivateNats) -> None:
        self.postgres, self.nats = postgres, nats
        self.namespace = f"t{uuid.uuid4().hex[:12]}"
        self.cluster = Cluster(tmp_path / "data", postgres.url, self.namespace)
        self.cluster.env["VIGIL_BUS__URL"] = nats.url
        self.cluster.data_dir.mkdir(parents=True)
        self.hook = f"restart-{uuid.uuid4().hex[:8]}"
        self.db = Database(postgres.url)

    def logs(self) -> str:
        own = [self.nats.folder / "nats.log", self.postgres.folder / "postgres.log"]
        tails = [p.read_text(errors="replace")[-2000:] for p in own if p.exists()]
        return self.cluster.logs() + "\n" + "\n".join(tails)

    def count(self, query: Callable[[], int]) -> int:
        """A count from the database, or -1 while it is away."""
        try:
            return query()
        except Exception:
            return -1

    def stored(self, ids: list[str]) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(EventRecord.id).where(EventRecord.id.in_(ids))))

    def inputs_stored(self) -> Counter[int]:
        """How many events the server stored of each of the sensor's inputs (by ``n``)."""
        with self.db.session() as s:
            query = select(EventRecord.attributes).where(
                EventRecord.source == f"webhook:{self.hook}"
            )
            return Counter(int(a["payload"]["n"]) for a in s.scalars(query))

    def published_stored(self) -> int:
        """How many of the node publisher's events are stored."""
        with self.db.session() as s:
            query = select(func.count()).select_from(EventRecord)
            return int(s.scalar(query.where(EventRecord.source == SENSOR_SOURCE)) or 0)

    def stored_total(self) -> int:
        return self.published_stored() + self.inputs_stored().total()

    def occurrences(self, rule_id: int) -> int:
        with self.db.session() as s:
            query = select(func.sum(Alarm.occurrences)).where(Alarm.rule_id == rule_id)
            return int(s.scalar(query) or 0)

    def segments_since(self, camera_id: int, since: datetime) -> int:
        with self.db.session() as s:
            query = select(func.count()).select_from(Segment)
            query = query.where(Segment.camera_id == camera_id, Segment.start > since)
            return int(s.scalar(query) or 0)


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    postgres = PrivatePostgres()
    nats = PrivateNats(tmp_path)
    try:
        postgres.init()
        postgres.start()
        postgres.create_database()
        nats.start()
        inst = Installation(tmp_path, postgres, nats)
        try:
            inst.cluster.start_server()
            yield inst
        finally:
            inst.cluster.stop()
            inst.db.dispose()
    finally:
        nats.stop()
        postgres.remove()


def restart_nats(inst: Installation) -> None:
    inst.nats.stop(signal.SIGKILL)  # a crash, not a goodbye
    time.sleep(DOWN_S)
    inst.nats.start()


def restart_postgres(inst: Installation) -> None:
    inst.postgres.stop("immediate")
    time.sleep(DOWN_S)
    inst.postgres.start()


def restart_server(inst: Installation, sig: int = signal.SIGTERM) -> None:
    server = inst.cluster.server
    assert server is not None
    server.send_signal(sig)
    server.wait(60)
    time.sleep(DOWN_S)
    inst.cluster.start_server()


def kill_server(inst: Installation) -> None:
    """kill -9: what it took and had not finished comes to the restarted one."""
    restart_server(inst, signal.SIGKILL)


@pytest.mark.parametrize(
    "restart",
    [restart_nats, restart_postgres, restart_server, kill_server],
    ids=["nats", "postgresql", "server", "server-killed"],
)
def test_no_event_is_lost_or_doubled_across_a_restart(
    installation: Installation,
    simulator: Simulator,
    tmp_path: Path,
    restart: Callable[[Installation], None],
) -> None:
    inst, cluster = installation, installation.cluster
    cluster.start_node("n1")
    camera = cluster.add_camera("gate", simulator.url_for("pattern"))
    rule = {
        "name": "Anything",
        "trigger": {"kind": "event", "event_types": ["intrusion", "input.webhook"]},
        "actions": [{"type": "raise_alarm", "priority": 2, "category": "security"}],
    }
    r = cluster.client.post("/api/rules", json=rule)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    recording = lambda: cluster.recording(camera["id"])  # noqa: E731
    wait_until(recording, STARTUP_S, "the camera recording", inst.logs)

    sensor = WebhookSensor(cluster.url, cluster.auth_headers, inst.hook)
    node = NodePublisher(
        inst.nats.url, inst.namespace, tmp_path / "node-outbox.sqlite3", camera["id"]
    )
    producers = [sensor, node]
    for producer in producers:
        producer.start()
    wait_until(
        lambda: all(len(p.accepted) >= EVENTS // 3 for p in producers),
        SETTLE_S,
        "a third of the events produced before the restart",
        inst.logs,
    )
    restart(inst)
    restarted_at = utcnow()
    for producer in producers:
        producer.join(SETTLE_S)
        assert not producer.is_alive(), f"{producer.name} never finished\n{inst.logs()}"
        assert producer.error is None, f"{producer.name}: {producer.error!r}\n{inst.logs()}"
    ids = sensor.accepted + node.accepted
    assert len(set(ids)) == 2 * EVENTS

    wait_until(
        lambda: inst.count(lambda: len(inst.stored(ids))) == len(ids),
        SETTLE_S,
        f"all {len(ids)} events stored",
        inst.logs,
    )
    wait_until(
        lambda: inst.count(lambda: inst.occurrences(rule_id) - inst.stored_total()) >= 0,
        SETTLE_S,
        "an alarm occurrence for every event",
        inst.logs,
    )
    time.sleep(3)  # anything handled twice would be written by now
    assert inst.published_stored() == EVENTS, "an event of the node stored twice"
    per_input = inst.inputs_stored()
    assert set(per_input) == set(range(EVENTS))
    twice = {n for n, count in per_input.items() if count > 1 and n not in sensor.uncertain}
    assert not twice, f"inputs accepted once, stored more than once: {sorted(twice)}"
    assert inst.occurrences(rule_id) == inst.stored_total(), (
        "an event counted on its alarm twice (or never)"
    )

    # Both processes lived through it, and the node records again.
    assert cluster.server is not None and cluster.server.poll() is None, inst.logs()
    assert cluster.nodes["n1"].poll() is None, f"the node died\n{inst.logs()}"
    wait_until(
        lambda: inst.count(lambda: inst.segments_since(camera["id"], restarted_at)) > 0,
        SETTLE_S,
        "the node recording after the restart",
        inst.logs,
    )

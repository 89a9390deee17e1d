"""Shared fixtures: generated clips, databases (SQLite and PostgreSQL), services."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from vigil.api.app import create_app
from vigil.config import Settings, StorageSettings
from vigil.devices.simulator import Simulator, generate_test_clip, gstreamer_missing
from vigil.security.bootstrap import create_admin
from vigil.security.tokens import create_token
from vigil.store import users as user_store
from vigil.store.db import Database, migrate


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def h264_clip(clip_dir: Path) -> Path:
    """A 6 s 640x360 25 fps H.264 clip with a keyframe every second, no audio."""
    return generate_test_clip(clip_dir / "pattern.mp4", seconds=6)


@pytest.fixture(scope="session")
def h264_aac_clip(clip_dir: Path) -> Path:
    """A 6 s H.264 clip with an AAC audio track."""
    return generate_test_clip(clip_dir / "pattern-audio.mp4", seconds=6, audio=True)


# Databases -------------------------------------------------------------------------------
POSTGRES_ADMIN_URL = os.environ.get(
    "VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def require_service(name: str, reason: str) -> None:
    """Skip when a real service is missing, except under CI=true where that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI=true: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@contextmanager
def fresh_postgres(prefix: str = "vigil_test") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", str(exc).strip())
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with fresh_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using it runs against SQLite and against PostgreSQL, on empty tables."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vigil.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    from vigil.store.models import Base

    migrate(url)
    yield url
    db = Database(url)
    with db.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    db.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings for one test: its own data directory and database."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        storage=StorageSettings(min_free_bytes=0, segment_seconds=2.0),
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The migrated database of the test's settings."""
    migrate(settings.db_url)
    database = Database(settings.db_url)
    yield database
    database.dispose()


# Signed-in callers ------------------------------------------------------------------------
ADMIN_PASSWORD = "correct horse battery staple 42"


def admin_token(db: Database, username: str = "admin") -> str:
    """An API token of an administrator (created on first use) of this database."""
    user = next((u for u in user_store.list_users(db) if u.username == username), None)
    if user is None:
        user = create_admin(db, username=username, password=ADMIN_PASSWORD)
    token, _ = create_token(db, user_id=user.id, name=f"tests {uuid.uuid4().hex[:6]}")
    return token


def authorise(client: httpx.Client, db: Database | str, username: str = "admin") -> str:
    """Make every request of ``client`` an administrator's (bearer token); returns the token."""
    database = Database(db) if isinstance(db, str) else db
    try:
        token = admin_token(database, username)
    finally:
        if isinstance(db, str):
            database.dispose()
    client.headers["Authorization"] = f"Bearer {token}"
    return token


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The server application in-process on the test's settings, signed in as an
    administrator (tests of permissions make their own users)."""
    with TestClient(create_app(settings)) as c:
        authorise(c, settings.db_url)
        yield c


# Running installation (simulator, server and recorder as real processes) -----------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# A process's start (imports, migrations) on a machine busy with other test runs can take
# well over 30 s: waited for, never timed.
STARTUP_S = 120


class Stack:
    """A running Vigil: server and recorder processes over one data directory."""

    def __init__(self, data_dir: Path, db_url: str, *, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.token: str | None = None  # an administrator's, once the server has started
        self.port = free_port()
        self.recorder_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(data_dir),
            "VIGIL_DATABASE_URL": db_url,
            "VIGIL_SERVER__PORT": str(self.port),
            "VIGIL_RECORDER__PORT": str(self.recorder_port),
            "VIGIL_RECORDER__HEALTH_INTERVAL_S": "0.5",
            "VIGIL_RECORDER__RECONNECT_MIN_S": "0.5",
            "VIGIL_RECORDER__RECONNECT_MAX_S": "2",
            "VIGIL_STORAGE__SEGMENT_SECONDS": "2",
            "VIGIL_STORAGE__MIN_FREE_BYTES": "0",
            **(env or {}),
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.recorder: subprocess.Popen[bytes] | None = None
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}  # start_node's, by name
        self.client = httpx.Client(base_url=self.url, timeout=20)

    def _spawn(self, role: str) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"{role}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "vigil", role], env=self.env, stdout=log, stderr=log
        )

    def start_server(self) -> None:
        self.server = self._spawn("server")
        wait_until(lambda: self._ok(f"{self.url}/api/health"), STARTUP_S, "server up", self.logs)
        if self.token is None:
            self.token = authorise(self.client, self.db_url)

    @property
    def auth_headers(self) -> dict[str, str]:
        """The administrator's Authorization header, for clients other than ``client``."""
        assert self.token is not None, "start the server first"
        return {"Authorization": f"Bearer {self.token}"}

    def start_recorder(self) -> None:
        self.recorder = self._spawn("recorder")
        media = f"http://127.0.0.1:{self.recorder_port}/media/health"
        wait_until(lambda: self._ok(media), STARTUP_S, "recorder up", self.logs)

    def start_node(
        self, name: str, *, data_dir: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        """Start (or start again) ``vigil recorder --node NAME`` on a port of its own;
        ``data_dir``: a data directory of its own (a node with its own disk), else the
        stack's. Its log is ``recorder-NAME.log`` beside the stack's."""
        port = free_port()
        node_env = {**self.env, "VIGIL_RECORDER__PORT": str(port), **(env or {})}
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            node_env["VIGIL_DATA_DIR"] = str(data_dir)
        with (self.data_dir / f"recorder-{name}.log").open("ab") as log:
            self.nodes[name] = subprocess.Popen(
                [sys.executable, "-m", "vigil", "recorder", "--node", name, "--port", str(port)],
                env=node_env,
                stdout=log,
                stderr=log,
            )
        url = f"http://127.0.0.1:{port}/media/health"
        wait_until(lambda: self._ok(url), STARTUP_S, f"node {name} up", self.logs)

    def stop_node(self, name: str, timeout: float = 60) -> None:
        """Stop node ``name`` cleanly (resumed first if paused); killed if it hangs."""
        _interrupt(self.nodes[name])
        _wait_or_kill(self.nodes[name], timeout)

    def kill_recorder(self, sig: int = signal.SIGKILL) -> None:
        assert self.recorder is not None
        self.recorder.send_signal(sig)
        self.recorder.wait(20)

    def _ok(self, url: str) -> bool:
        try:
            return httpx.get(url, timeout=1).is_success
        except httpx.HTTPError:
            return False

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in sorted(self.data_dir.glob("*.log"))
        )

    def add_camera(self, name: str, url: str, **extra: object) -> dict[str, Any]:
        r = self.client.post("/api/cameras", json={"name": name, "main_url": url, **extra})
        assert r.status_code == 201, r.text
        camera: dict[str, Any] = r.json()
        return camera

    def camera(self, camera_id: int) -> dict[str, Any]:
        camera: dict[str, Any] = self.client.get(f"/api/cameras/{camera_id}").json()
        return camera

    def wait_status(self, camera_id: int, status: str, timeout: float = 30) -> dict[str, Any]:
        wait_until(
            lambda: self.camera(camera_id)["health"]["status"] == status,
            timeout,
            f"camera {camera_id} {status}",
            self.logs,
        )
        return self.camera(camera_id)

    def timeline(self, camera_id: int) -> dict[str, Any]:
        r = self.client.get(f"/api/cameras/{camera_id}/timeline")
        assert r.status_code == 200, r.text
        timeline: dict[str, Any] = r.json()
        return timeline

    def stop(self) -> None:
        for node in self.nodes.values():  # all at once: each takes a while to close
            _interrupt(node)
        for node in self.nodes.values():
            _wait_or_kill(node, 20)
        for proc in (self.recorder, self.server):
            if proc and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in (self.recorder, self.server):
            if proc:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.client.close()


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Ask a process to stop as Ctrl-C does (resumed first, should it be paused)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGINT)


def _wait_or_kill(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:  # stopped all the same, as a crash would
        proc.kill()
        proc.wait(10)


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str] | None = None
) -> None:
    """Poll until ``check`` holds; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs() if logs else ''}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Server and recorder on SQLite in a fresh data directory."""
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    s.start_recorder()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def simulator(clip_dir: Path, h264_clip: Path, h264_aac_clip: Path) -> Iterator[Simulator]:
    """Simulated RTSP cameras: ``pattern`` (video) and ``pattern-audio`` (video and AAC)."""
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)
    with Simulator([h264_clip, h264_aac_clip], port=0, cache_dir=clip_dir / "sim-cache") as sim:
        yield sim

"""Shared fixtures: generated clips, databases (SQLite and PostgreSQL), services."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.config import Settings, StorageSettings
from vigil.store.db import Database, migrate


def _make_clip(path: Path, seconds: float, fps: int = 25, gop: int = 25, audio: bool = False) -> Path:
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc2=size=640x360:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-bf", "0",
            "-pix_fmt", "yuv420p", "-b:v", "1M"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    cmd.append(str(path))
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def h264_clip(clip_dir: Path) -> Path:
    """A 6 s 640x360 25 fps H.264 clip with a keyframe every second, no audio."""
    return _make_clip(clip_dir / "pattern.mp4", 6)


@pytest.fixture(scope="session")
def h264_aac_clip(clip_dir: Path) -> Path:
    """A 6 s H.264 clip with an AAC audio track."""
    return _make_clip(clip_dir / "pattern-audio.mp4", 6, audio=True)


# Databases -------------------------------------------------------------------------------
POSTGRES_ADMIN_URL = os.environ.get(
    "VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def require_service(name: str, reason: str) -> None:
    """Skip when a real service is missing, except under CI=true where that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI=true: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    import psycopg

    name = f"vigil_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", str(exc).strip())
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using it runs against SQLite and against PostgreSQL, on empty tables."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vigil.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    from vigil.store.db import Database, migrate
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

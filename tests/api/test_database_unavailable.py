"""A database that goes away answers 503 with Retry-After, never a 500 with a traceback."""

from __future__ import annotations

from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from tests.conftest import POSTGRES_ADMIN_URL, authorise, fresh_postgres
from vigil.api.app import create_app
from vigil.config import Settings, StorageSettings


def test_requests_while_the_database_is_gone_answer_503(tmp_path: Path) -> None:
    with fresh_postgres("vigil_gone") as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            storage=StorageSettings(min_free_bytes=0),
        )
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            authorise(client, url)
            assert client.get("/api/cameras").status_code == 200
            # Every connection of the server is cut, and no new one can be made.
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
            for path in ("/api/cameras", "/api/alarms"):
                r = client.get(path)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert "database is unavailable" in r.json()["detail"]
                assert r.headers["Retry-After"] == "5"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            assert client.get("/api/cameras").status_code == 200, "back when the database is"

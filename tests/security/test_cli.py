"""``vigil users create-admin`` and ``vigil audit verify`` on a real data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from vigil.cli import app
from vigil.config import Settings
from vigil.security import audit
from vigil.security.passwords import verify_password
from vigil.store import users as user_store
from vigil.store.db import Database
from vigil.store.models import AuditEntry


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.db_url)
    return settings


def test_create_admin_and_verify_audit(env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["users", "create-admin", "Root"], input="short\nshort\n")
    assert r.exit_code == 1 and "at least 12" in r.output
    r = runner.invoke(app, ["users", "create-admin", "root"], input="blue lantern 42\nother\n")
    assert r.exit_code != 0, "the two entries must match"
    pw = tmp_path / "pw"
    pw.write_text("blue lantern 42 under\n")
    r = runner.invoke(app, ["users", "create-admin", "Root", "--password-file", str(pw)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "create-admin", "root", "--password-file", str(pw)])
    assert r.exit_code == 1 and "already exists" in r.output
    db = Database(env.db_url)
    try:
        creds = user_store.credentials(db, "ROOT")
        assert creds is not None
        assert verify_password(creds.password_hash, "blue lantern 42 under")[0]
        # Counted from the table, not assumed to be one: a full run once found two more
        # entries here, written by something else on this worker's shared PostgreSQL.
        entries = list(audit.iter_entries(db, audit.AuditFilter()))
        created = [e for e in entries if e.action == "user.create"]
        assert [e.target for e in created] == ["user:root"], [e.action for e in entries]
        r = runner.invoke(app, ["audit", "verify"])
        assert r.exit_code == 0 and f"intact: {len(entries)} entries" in r.output, r.output
        with db.session() as s:
            s.execute(update(AuditEntry).values(target="user:someone-else"))
        r = runner.invoke(app, ["audit", "verify"])
        assert r.exit_code == 1 and "edited" in r.output and "NOT intact" in r.output
    finally:
        db.dispose()

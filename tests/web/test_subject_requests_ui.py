"""The data-subject request page in Chromium: open an erasure request (the form places the
server's refusal on its field), search generated footage for a drawn plate, review the hit,
erase it with the typed confirmation, and read the record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack
from tests.media.test_recording import record_file, segments_of
from tests.privacy.footage import clip, draw_plate
from vigil.config import Settings, StorageSettings
from vigil.store.db import Database

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A server alone: the footage is recorded from a file straight into its database."""
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    yield s
    s.stop()


def test_erasure_request_from_form_to_record(page: Page, stack: Stack, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=stack.data_dir,
        database_url=stack.db_url,
        storage=StorageSettings(min_free_bytes=0, segment_seconds=2.0),
    )
    db = Database(settings.db_url)
    try:
        camera_id, _ = record_file(db, settings, clip(tmp_path / "gate.mp4", draw_plate()))
        recorded = segments_of(db, camera_id)
    finally:
        db.dispose()

    page.goto("/#/privacy")
    page.get_by_test_id("dsr-new").click()
    page.get_by_test_id("field-kind").select_option("erasure")
    page.get_by_test_id("field-subject").fill("driver of the grey van")
    page.get_by_test_id("field-legal_reference").fill("GDPR art. 17, letter 2026-11-20")
    page.get_by_test_id("field-requester_contact").fill("subject@example.org")
    page.get_by_test_id("field-camera_ids").select_option(str(camera_id))
    # The file was recorded faster than real time: its last seconds lie ahead of now.
    later = datetime.now() + timedelta(hours=1)  # local time, as the browser's input is
    page.get_by_test_id("field-end").fill(later.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_test_id("dsr-create").click()
    expect(page.get_by_test_id("error-plate")).to_contain_text("plate, a face photo, or both")
    page.get_by_test_id("field-plate").fill("KA 482 BX")
    page.get_by_test_id("dsr-create").click()
    expect(page).to_have_url(re.compile(r"#/privacy/\d+$"))
    expect(page.get_by_test_id("dsr-status")).to_have_text("open")

    page.get_by_test_id("dsr-search").click()
    expect(page.get_by_test_id("dsr-job")).to_have_attribute("data-state", "done", timeout=90_000)
    expect(page.get_by_test_id("dsr-status")).to_have_text("review")
    hit = page.get_by_test_id("dsr-hit")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text("plate KA482BX")
    expect(hit.locator("img")).to_have_js_property("naturalWidth", 640)

    page.get_by_test_id("dsr-erase-reason").fill("request granted")
    page.get_by_test_id("dsr-erase-confirm").fill("yes")
    page.get_by_test_id("dsr-erase").click()
    expect(page.get_by_test_id("dsr-refusal")).to_contain_text('type "ERASE"')
    page.get_by_test_id("dsr-erase-reason").fill("request granted")
    page.get_by_test_id("dsr-pad").fill("0")  # the sightings alone: the 2-4 s segment
    page.get_by_test_id("dsr-erase-confirm").fill("ERASE")
    page.get_by_test_id("dsr-erase").click()
    expect(page.get_by_test_id("dsr-status")).to_have_text("completed")
    erase = page.locator('[data-testid="dsr-record-row"][data-action="erase"]')
    expect(erase).to_have_attribute("data-outcome", "success")
    expect(erase).to_contain_text("request granted")
    expect(page.get_by_test_id("dsr-hit").locator(".hit-noimage")).to_have_text("image deleted")

    # The erased segment's absence is explained on the camera's timeline.
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }
    timeline = stack.client.get(f"/api/cameras/{camera_id}/timeline", params=window).json()
    reasons = [g["reason"] for g in timeline["gaps"]]
    assert any("erased under data-subject request" in (r or "") for r in reasons), timeline
    assert len(timeline["ranges"]) == 2 and len(recorded) == 3

"""The export form's "Blur faces and plates" box, in a real browser against a running Vigil."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack
from tests.web.test_browser import iso, local_input, recorded
from vigil.devices.simulator import Simulator

pytestmark = pytest.mark.browser


def test_a_redacted_export_is_asked_for_and_saved(
    page: Page, stack: Stack, simulator: Simulator, tmp_path: Path
) -> None:
    cam = stack.add_camera("gate", simulator.url_for("pattern"))
    stack.wait_status(cam["id"], "online")
    first = recorded(stack, cam["id"], 5)
    start = iso(first["start"]).replace(microsecond=0) + timedelta(seconds=1)

    page.goto(f"/#/camera/{cam['id']}")
    redact = page.get_by_test_id("export-redact")
    expect(redact).not_to_be_checked()
    page.get_by_test_id("export-start").fill(local_input(start))
    page.get_by_test_id("export-end").fill(local_input(start + timedelta(hours=2)))
    redact.check()
    expect(page.get_by_test_id("export-info")).to_have_text(
        "A redacted export spans at most 15 minutes."
    )
    expect(page.get_by_test_id("export-button")).to_be_disabled()

    page.get_by_test_id("export-end").fill(local_input(start + timedelta(seconds=2)))
    expect(page.get_by_test_id("export-info")).to_have_text("2 s of video")
    with (
        page.expect_request("**/export?*") as asked,
        page.expect_download(timeout=120_000) as download_info,
    ):
        page.get_by_test_id("export-button").click()
    assert asked.value.url.count("redact=") == 2, asked.value.url
    assert "redact=faces" in asked.value.url and "redact=plates" in asked.value.url
    download = download_info.value
    assert download.suggested_filename.startswith("gate_")
    assert download.suggested_filename.endswith("_redacted.mp4")
    download.save_as(tmp_path / download.suggested_filename)
    expect(page.get_by_test_id("export-status")).to_contain_text("Saved")
    assert (tmp_path / download.suggested_filename).read_bytes()[4:8] == b"ftyp"

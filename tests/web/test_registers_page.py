"""The "Registers" administration page in Chromium: an administrator adds a register of
stolen vehicles, imports a CSV file (a bad row is named, the others imported), finds an
entry by plate, adds one by hand and removes one, and keeps its hits to one role; the
server holds what the page shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack

pytestmark = pytest.mark.browser

CSV = "plate,reason,valid_until\nCA 1234 AB,stolen,\nCB5678KK,stolen,2020-01-01\nX,too short,\n"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    yield s
    s.stop()


def entries(stack: Stack, register_id: int) -> list[dict[str, Any]]:
    r = stack.client.get(f"/api/registers/{register_id}/entries")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def test_a_register_is_made_imported_searched_and_edited(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    page.goto("/#/admin/registers")
    page.get_by_test_id("field-register-name").fill("Stolen (MVR)")
    page.get_by_test_id("field-register-category").select_option("stolen")
    page.get_by_test_id("create-register").click()
    row = page.get_by_test_id("register-row")
    expect(row).to_have_attribute("data-name", "Stolen (MVR)")
    register_id = int(row.get_attribute("data-register-id") or 0)

    csv = tmp_path / "stolen.csv"
    csv.write_text(CSV)
    row.get_by_test_id("import-file").set_input_files(str(csv))
    expect(page.get_by_test_id("toast")).to_contain_text("2 added")
    expect(page.get_by_test_id("toast")).to_contain_text("line 4")
    expect(row.get_by_test_id("register-entries-count")).to_have_text("2")
    expect(row.get_by_test_id("register-active-count")).to_have_text("1")

    row.get_by_role("link", name="Stolen (MVR)").click()
    table = page.get_by_test_id("entry-table")
    expect(table.get_by_test_id("entry-row")).to_have_count(2)
    expect(table.locator('[data-plate="CB5678KK"]')).to_have_attribute("data-active", "false")
    page.get_by_test_id("entries-filter").fill("CA")
    page.get_by_test_id("entries-filter").press("Enter")
    expect(table.get_by_test_id("entry-row")).to_have_count(1)

    page.get_by_test_id("entry-plate").fill("pb 777 xx")
    page.get_by_test_id("entry-reason").fill("wanted for questioning")
    page.get_by_test_id("add-entry").click()
    expect(row.get_by_test_id("register-entries-count")).to_have_text("3")
    page.get_by_test_id("entries-filter").fill("")
    page.get_by_test_id("entries-filter").press("Enter")
    page.get_by_test_id("entry-table").locator('[data-plate="CB5678KK"]').get_by_test_id(
        "delete-entry"
    ).click()
    expect(row.get_by_test_id("register-entries-count")).to_have_text("2")
    stored = {e["plate"]: e for e in entries(stack, register_id)}
    assert set(stored) == {"CA1234AB", "PB777XX"}
    assert stored["PB777XX"]["reason"] == "wanted for questioning"

    # Its hits alert investigators only; its entries are edited by administrators alone.
    access = page.get_by_test_id("register-access")
    access.locator('[data-testid="access-alert"][data-role="investigator"]').check()
    page.get_by_test_id("save-access").click()
    expect(page.get_by_test_id("toast").last).to_contain_text("access saved")
    listed = stack.client.get("/api/registers").json()
    assert listed[0]["access"] == {"see": [], "edit": [], "alert": ["investigator"]}
    expect(
        page.get_by_test_id("register-access").locator(
            '[data-testid="access-alert"][data-role="investigator"]'
        )
    ).to_be_checked()


EXAMPLES = Path(__file__).resolve().parents[3] / "shared/media/face_recognition-examples/examples"


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="needs ../shared/media")
def test_a_person_is_enrolled_from_photos_and_a_group_photo_refused(
    page: Page, stack: Stack
) -> None:
    page.goto("/#/admin/registers")
    page.get_by_test_id("field-register-name").fill("Wanted persons")
    page.get_by_test_id("field-register-kind").select_option("persons")
    page.get_by_test_id("field-register-category").select_option("wanted")
    page.get_by_test_id("create-register").click()
    row = page.get_by_test_id("register-row")
    row.get_by_role("link", name="Wanted persons").click()

    page.get_by_test_id("person-name").fill("Joe Biden")
    page.get_by_test_id("person-photos").set_input_files(str(EXAMPLES / "two_people.jpg"))
    page.get_by_test_id("enrol-person").click()
    # Faces are found and described on the server: seconds on a busy machine.
    expect(page.get_by_test_id("entry-error")).to_contain_text("2 faces in photo", timeout=30_000)

    page.get_by_test_id("person-photos").set_input_files(
        [str(EXAMPLES / "biden.jpg"), str(EXAMPLES / "knn_examples/train/biden/biden2.jpg")]
    )
    page.get_by_test_id("enrol-person").click()
    expect(row.get_by_test_id("register-entries-count")).to_have_text("1", timeout=30_000)
    entry = page.get_by_test_id("entry-table").get_by_test_id("entry-row")
    expect(entry).to_contain_text("Joe Biden")
    expect(entry.locator("img")).to_be_visible()

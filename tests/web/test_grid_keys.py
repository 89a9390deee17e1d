"""The live grid from the keyboard: + and - change the layout, Page Down turns the page, a
digit opens the camera of that tile (cameras that are not reachable: the tiles are there
all the same)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    yield s
    s.stop()


def test_layout_page_and_camera_by_number(page: Page, stack: Stack) -> None:
    ids = [stack.add_camera(f"gate-{n}", f"rtsp://127.0.0.1:9/{n}")["id"] for n in range(1, 6)]
    page.goto("/#/grid")
    page.get_by_test_id("layout-4").click()
    expect(page.get_by_test_id("tile")).to_have_count(4)
    page.keyboard.press("+")
    expect(page.get_by_test_id("grid")).to_have_attribute("data-layout", "9")
    expect(page.get_by_test_id("tile")).to_have_count(5)
    page.keyboard.press("-")
    page.keyboard.press("-")
    expect(page.get_by_test_id("grid")).to_have_attribute("data-layout", "1")
    page.keyboard.press("PageDown")
    expect(page.get_by_test_id("grid-page")).to_have_text("Page 2 / 5")
    page.keyboard.press("+")  # four tiles again, from the first page
    expect(page.get_by_test_id("tile")).to_have_count(4)
    shown = [int(t.get_attribute("data-camera-id") or 0) for t in page.get_by_test_id("tile").all()]
    assert shown == ids[:4], shown  # the cameras by name
    page.keyboard.press("3")
    expect(page).to_have_url(re.compile(rf"#/camera/{shown[2]}$"))

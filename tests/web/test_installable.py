"""The web client is an installable app: Chromium finds its manifest and icons and reports
nothing that keeps it from being installed (a phone's home screen, a kiosk window)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.conftest import Stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("installable")
    s = Stack(root / "data", f"sqlite:///{root / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    yield s
    s.stop()


def test_the_client_is_installable_with_its_manifest_and_icons(anonymous_page: Page) -> None:
    page = anonymous_page
    page.goto("/")
    cdp = page.context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["url"].endswith("/static/manifest.webmanifest")
    assert manifest["errors"] == [], manifest["errors"]
    served = json.loads(manifest["data"])
    assert (served["display"], served["start_url"]) == ("standalone", "/#/alarms")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are incognito ones, which nothing can be installed from; every
    # other check (manifest, icons, start URL, a secure origin) is made.
    assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == [], errors
    for size in (192, 512):
        r = page.request.get(f"/static/icons/vigil-{size}.png")
        assert r.ok and r.body()[:8] == b"\x89PNG\r\n\x1a\n"

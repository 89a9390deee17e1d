"""The "Recorder nodes" administration page and a camera's "Recorder node", in Chromium: an
administrator drains a node and pins a camera, and the API shows both (with two real
recorder nodes, so that the camera moves); an operator does not get the page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.cluster.two_nodes import FIRST, SECOND, two_node_stack
from tests.conftest import Stack, wait_until
from tests.web.conftest import open_page
from vigil.store import nodes
from vigil.store.db import Database
from vigil.store.models import Node
from vigil.store.types import utcnow

# Processes that start slowly on a busy machine: a hang guard, not a speed bar.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

SPARE = "spare"  # a node row only, down: its last heartbeat is minutes old
OPERATOR = ("otto", "otto's own long passphrase 7")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One installation for the module's tests (its processes start in a minute or more on
    a busy machine)."""
    with two_node_stack(tmp_path_factory.mktemp("nodes-page") / "data") as stack:
        db = Database(stack.db_url)
        nodes.heartbeat(db, SPARE, "http://127.0.0.1:9", capacity=4, free_disk_bytes=10**9)
        with db.session() as s:
            s.get_one(Node, SPARE).heartbeat_at = utcnow() - timedelta(minutes=5)
        db.dispose()
        yield stack


def node(stack: Stack, name: str) -> dict[str, object]:
    return next(n for n in stack.client.get("/api/nodes").json() if n["name"] == name)


def recorded_on(stack: Stack, camera_id: int) -> str | None:
    where: str | None = stack.camera(camera_id)["node"]
    return where


def test_an_administrator_drains_a_node_and_pins_a_camera(page: Page, stack: Stack) -> None:
    cam = stack.add_camera("Gate", "rtsp://127.0.0.1:9/none")
    wait_until(lambda: recorded_on(stack, cam["id"]) is not None, 30, "placed", stack.logs)
    where = recorded_on(stack, cam["id"])
    assert where is not None
    other = SECOND if where == FIRST else FIRST

    page.goto("/#/admin")
    page.get_by_test_id("admin-tab-nodes").click()
    expect(page.get_by_test_id("node-row")).to_have_count(3)
    row = page.locator(f'[data-testid="node-row"][data-name="{where}"]')
    expect(row).to_have_attribute("data-alive", "true")
    expect(row.get_by_test_id("node-cameras")).to_contain_text("Gate")
    spare = page.locator(f'[data-testid="node-row"][data-name="{SPARE}"]')
    expect(spare).to_have_attribute("data-alive", "false")
    expect(spare).to_contain_text("1.00 GB")

    row.get_by_test_id("toggle-drain").click()
    page.get_by_test_id("confirm-ok").click()
    expect(row).to_have_attribute("data-draining", "true")
    expect(row.get_by_test_id("node-draining")).to_be_visible()
    assert node(stack, where)["draining"] is True
    wait_until(lambda: recorded_on(stack, cam["id"]) == other, 60, "moved over", stack.logs)
    expect(row.get_by_test_id("node-cameras")).to_have_text("0")  # the page refreshes itself
    row.get_by_test_id("toggle-drain").click()  # undraining asks nothing
    expect(row).to_have_attribute("data-draining", "false")
    assert node(stack, where)["draining"] is False

    # Pin the camera back to the first node in its settings, which say where it is recorded.
    page.goto(f"/#/cameras/{cam['id']}/edit")
    select = page.get_by_test_id("field-pinned_node")
    expect(page.get_by_test_id("camera-recorded-on")).to_have_text(f"Recorded on {other} now.")
    expect(select).to_have_value("")
    expect(select.locator("option")).to_have_count(4)  # automatic and the three nodes
    expect(select.locator(f'option[value="{SPARE}"]')).to_contain_text("(down)")
    select.select_option(where)
    page.get_by_test_id("save-camera").click()
    expect(page.get_by_test_id("camera-form")).to_be_hidden()
    assert stack.camera(cam["id"])["pinned_node"] == where
    wait_until(lambda: recorded_on(stack, cam["id"]) == where, 60, "moved to its pin")
    camera_row = page.locator(f'[data-testid="camera-row"][data-camera-id="{cam["id"]}"]')
    expect(camera_row.get_by_test_id("camera-node")).to_have_text(f"recorded on {where}")

    page.goto(f"/#/cameras/{cam['id']}/edit")
    expect(select).to_have_value(where)
    select.select_option("")
    page.get_by_test_id("save-camera").click()
    expect(page.get_by_test_id("camera-form")).to_be_hidden()
    assert stack.camera(cam["id"])["pinned_node"] is None


def test_an_operator_does_not_get_the_page(browser: Browser, stack: Stack) -> None:
    r = stack.client.post(
        "/api/users",
        json={"username": OPERATOR[0], "password": OPERATOR[1], "roles": [{"role": "operator"}]},
    )
    assert r.status_code == 201, r.text
    with open_page(browser, stack, user=OPERATOR) as page:
        page.goto("/#/admin/nodes")
        expect(page.get_by_test_id("forbidden")).to_contain_text("manage")
        expect(page.get_by_test_id("node-table")).to_have_count(0)

"""Forensic search and heatmap pages in a real browser against a running Vigil server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack
from vigil.domain.events import Event, ObjectRef, TrackEnded
from vigil.store.db import Database
from vigil.store.events import save_events
from vigil.store.tracks import save_tracks
from vigil.store.types import utcnow

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A server alone: search reads the store, no recorder is needed."""
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    yield s
    s.stop()


def seed(stack: Stack) -> tuple[int, TrackEnded]:
    gate = stack.add_camera("Gate", "rtsp://127.0.0.1:9/gate")["id"]
    yard = stack.add_camera("Yard", "rtsp://127.0.0.1:9/yard")["id"]
    thumb = Path("thumbnails") / str(gate) / "car.jpg"
    (stack.data_dir / thumb).parent.mkdir(parents=True)
    red = np.zeros((96, 128, 3), np.uint8)
    red[:] = (30, 30, 200)
    (stack.data_dir / thumb).write_bytes(cv2.imencode(".jpg", red)[1].tobytes())
    first = (utcnow() - timedelta(minutes=10)).replace(microsecond=0)
    car = TrackEnded(
        camera_id=gate, track_id=7, class_name="car", colour="red", first_at=first,
        last_at=first + timedelta(seconds=6), path=[(0, 0.05, 0.6), (6, 0.95, 0.6)],
        thumbnail=str(thumb), node="rec1",
    )  # fmt: skip
    others = [
        TrackEnded(
            camera_id=yard, track_id=8, class_name="car", colour="blue", first_at=first,
            last_at=first + timedelta(seconds=3), node="rec1",
        ),
        TrackEnded(
            camera_id=gate, track_id=9, class_name="person", colour="red", first_at=first,
            last_at=first + timedelta(seconds=3), node="rec1",
        ),
    ]  # fmt: skip
    db = Database(stack.env["VIGIL_DATABASE_URL"])
    try:
        save_tracks(db, [car, *others])
        person = ObjectRef(class_name="person", colour="red")
        save_events(db, [Event(type="intrusion", at=first, camera_id=gate, object=person)])
    finally:
        db.dispose()
    return gate, car


def test_search_by_class_and_colour_then_open_playback_at_the_hit(page: Page, stack: Stack) -> None:
    gate, car = seed(stack)
    page.goto("/#/grid")
    page.get_by_test_id("nav-search").click()
    expect(page.get_by_test_id("search-summary")).to_have_attribute("data-total", "4")

    page.get_by_test_id("search-class").select_option("car")
    page.get_by_test_id("swatch-red").click()
    page.get_by_test_id("search-submit").click()
    expect(page).to_have_url(re.compile(r"#/search\?.*class_name=car.*colour=red"))
    hits = page.get_by_test_id("search-hit")
    expect(hits).to_have_count(1)
    hit = hits.first
    expect(hit).to_have_attribute("data-kind", "track")
    expect(hit).to_contain_text("Gate")
    expect(hit).to_contain_text("car")
    expect(hit.get_by_test_id("hit-colour")).to_have_attribute("data-colour", "red")
    thumbnail = hit.get_by_test_id("hit-thumbnail")
    expect(thumbnail).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 128", arg=thumbnail.element_handle()
    )

    # The search survives a reload (the filters are in the address).
    page.reload()
    expect(page.get_by_test_id("search-hit")).to_have_count(1)
    expect(page.get_by_test_id("swatch-red")).to_have_attribute("aria-pressed", "true")

    page.get_by_test_id("search-hit").click()
    start = (car.first_at - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    expect(page).to_have_url(re.compile(re.escape(f"#/camera/{gate}?at={quote(start, safe='')}")))


def test_bad_filter_is_explained(page: Page, stack: Stack) -> None:
    page.goto("/#/search?colour=teal")
    expect(page.get_by_test_id("search-error")).to_contain_text("black, white, grey")


def test_heatmap_page_shows_the_tracks_over_a_dark_stage_without_snapshot(
    page: Page, stack: Stack
) -> None:
    gate, _ = seed(stack)
    page.goto(f"/#/heatmap/{gate}")
    info = page.get_by_test_id("heatmap-info")
    expect(info).to_have_attribute("data-tracks", "2")  # Gate's person and car (the default)
    overlay = page.get_by_test_id("heatmap-overlay")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=overlay.element_handle()
    )
    expect(page.get_by_test_id("heatmap-stage")).to_have_class(re.compile("no-snapshot"))
    page.get_by_test_id("heatmap-class-car").uncheck()
    page.get_by_test_id("heatmap-apply").click()
    expect(info).to_have_attribute("data-tracks", "1")
    expect(page).to_have_url(re.compile(r"classes=person"))


def test_search_by_plate_pattern(page: Page, stack: Stack) -> None:
    gate = stack.add_camera("Gate", "rtsp://127.0.0.1:9/gate")["id"]
    at = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
    car = ObjectRef(class_name="car", track_id=3)
    db = Database(stack.env["VIGIL_DATABASE_URL"])
    try:
        save_events(
            db,
            [
                Event(type="plate.read", at=at, camera_id=gate, object=car,
                      attributes={"plate": "CA1234AB"}),
                Event(type="plate.read", at=at, camera_id=gate, object=car,
                      attributes={"plate": "PB5555XX"}),
            ],
        )  # fmt: skip
    finally:
        db.dispose()
    page.goto("/#/search")
    page.get_by_test_id("search-plate").fill("ca12*")
    page.get_by_test_id("search-submit").click()
    expect(page).to_have_url(re.compile(r"#/search\?.*plate=ca12"))
    expect(page.get_by_test_id("search-summary")).to_have_attribute("data-total", "1")

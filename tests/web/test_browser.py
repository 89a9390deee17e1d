"""The web client in a real browser against a running Vigil with simulated cameras."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import Stack, free_port, wait_until
from vigil.devices.simulator import Simulator

pytestmark = pytest.mark.browser

MAX_LIVE_LAG_S = 1.5
SHOWN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

# currentTime, decoded frames and buffered-end-minus-currentTime of the matching <video>s.
VIDEO_SAMPLES_JS = """(selector) => [...document.querySelectorAll(selector)].map((v) => ({
  t: v.currentTime,
  frames: v.getVideoPlaybackQuality().totalVideoFrames,
  lag: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : null,
}))"""


def video_samples(page: Page, selector: str) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = page.evaluate(VIDEO_SAMPLES_JS, selector)
    return samples


def assert_plays_live(page: Page, selector: str, count: int, seconds: float = 3.0) -> None:
    """Each of `count` videos advances and decodes frames, staying near the live edge."""
    wait_until(
        lambda: (
            (s := video_samples(page, selector)) != []
            and len(s) == count
            and all(v["frames"] > 0 and v["lag"] is not None for v in s)
        ),
        20,
        f"{count} live video(s) showing frames",
    )
    first = video_samples(page, selector)
    lags: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lags += [v["lag"] for v in video_samples(page, selector) if v["lag"] is not None]
        page.wait_for_timeout(200)
    last = video_samples(page, selector)
    for before, after in zip(first, last, strict=True):
        assert after["t"] > before["t"] + seconds / 2, (before, after)
        assert after["frames"] > before["frames"] + seconds * 5, (before, after)
    assert max(lags) < MAX_LIVE_LAG_S, f"live view fell behind: {max(lags):.2f} s"


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def recorded(stack: Stack, camera_id: int, seconds: float) -> dict[str, Any]:
    """Wait until the camera has `seconds` of continuous recording; its first range."""

    def enough() -> bool:
        ranges = stack.timeline(camera_id)["ranges"]
        return (
            bool(ranges)
            and (iso(ranges[-1]["end"]) - iso(ranges[-1]["start"])).total_seconds() >= seconds
        )

    wait_until(enough, 40, f"{seconds} s recorded", stack.logs)
    first: dict[str, Any] = stack.timeline(camera_id)["ranges"][-1]
    return first


def shown_time(text: str) -> datetime:
    """A date and time as the page shows it (local time zone) as an aware datetime."""
    match = SHOWN_TIME.search(text)
    assert match, f"no date and time in {text!r}"
    return datetime.strptime(match.group(0), "%Y-%m-%d %H:%M:%S").astimezone()


def local_input(moment: datetime) -> str:
    """A moment as a datetime-local input takes it (browser and tests share the time zone)."""
    return moment.astimezone().strftime("%Y-%m-%dT%H:%M:%S")


def row(page: Page, camera_id: int) -> Locator:
    return page.locator(f'[data-testid="camera-row"][data-camera-id="{camera_id}"]')


# -------------------------------------------------------------------------------------------


def test_camera_list_shows_health_and_the_servers_validation_messages(
    page: Page, stack: Stack, simulator: Simulator
) -> None:
    page.goto("/#/cameras")
    page.get_by_test_id("add-camera").click()
    page.get_by_test_id("field-name").fill("Gate")
    page.get_by_test_id("field-main_url").fill(simulator.url_for("pattern"))
    page.get_by_test_id("field-location").fill("North entrance")
    page.get_by_test_id("save-camera").click()
    expect(page.get_by_test_id("camera-form")).to_be_hidden()
    (camera,) = stack.client.get("/api/cameras").json()

    line = row(page, camera["id"])
    expect(line.get_by_test_id("camera-name")).to_have_text("Gate")
    expect(line).to_have_attribute("data-status", "online", timeout=30_000)
    expect(line.get_by_test_id("status-badge")).to_have_text("Online")
    wait_until(
        lambda: float(line.locator('[data-field="fps"]').inner_text() or 0) > 0, 15, "fps > 0"
    )
    expect(line.locator('[data-field="resolution"]')).to_have_text("640\u00d7360")
    assert int(line.locator('[data-field="bitrate"]').inner_text().replace(",", "")) > 0
    shown_time(line.locator('[data-field="last_frame"]').inner_text())

    # A URL Vigil cannot read: the server's message appears next to the field.
    page.get_by_test_id("add-camera").click()
    page.get_by_test_id("field-name").fill("Bad")
    page.get_by_test_id("field-main_url").fill("ftp://192.0.2.7/stream")
    page.get_by_test_id("save-camera").click()
    error = page.get_by_test_id("error-main_url")
    expect(error).to_be_visible()
    expect(error).to_contain_text("unsupported URL scheme 'ftp'")
    expect(page.get_by_test_id("field-main_url")).to_have_attribute("aria-invalid", "true")
    # A conflict that is not about one field shows above the form.
    page.get_by_test_id("field-name").fill("Gate")
    page.get_by_test_id("field-main_url").fill("rtsp://192.0.2.7/stream")
    expect(error).to_be_hidden()
    page.get_by_test_id("save-camera").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("already exists")
    assert len(stack.client.get("/api/cameras").json()) == 1, "nothing was added"


def test_live_view_plays_near_the_live_edge_in_camera_view_and_grid(
    page: Page, stack: Stack, simulator: Simulator
) -> None:
    mounts = ["pattern", "pattern-audio", "pattern", "pattern-audio"]
    cams = [stack.add_camera(f"cam {n}", simulator.url_for(m)) for n, m in enumerate(mounts)]
    for cam in cams:
        stack.wait_status(cam["id"], "online")

    page.goto(f"/#/camera/{cams[1]['id']}")
    expect(page.get_by_test_id("mode")).to_have_text("LIVE")
    assert_plays_live(page, '[data-testid="camera-video"]', 1)
    expect(page.get_by_test_id("video-overlay")).to_be_hidden()

    page.goto("/#/grid")
    page.get_by_test_id("layout-4").click()
    tiles = page.get_by_test_id("tile")
    expect(tiles).to_have_count(4)
    expect(page.get_by_test_id("grid")).to_have_attribute("data-layout", "4")
    expect(tiles.get_by_test_id("tile-name")).to_have_text([c["name"] for c in cams])
    for n in range(4):
        expect(tiles.nth(n)).to_have_attribute("data-status", "online")
    assert_plays_live(page, '[data-testid="tile"] video', 4)

    page.get_by_test_id("layout-1").click()
    expect(tiles).to_have_count(1)
    expect(page.get_by_test_id("grid-page")).to_have_text("Page 1 / 4")
    page.get_by_test_id("layout-4").click()
    tiles.nth(2).click()
    expect(page).to_have_url(re.compile(rf"#/camera/{cams[2]['id']}$"))
    expect(page.get_by_test_id("camera-view")).to_be_visible()


def test_clicking_the_timeline_plays_the_recording_from_that_moment(
    page: Page, stack: Stack, simulator: Simulator
) -> None:
    # With audio: the player must name both codecs to Media Source Extensions.
    cam = stack.add_camera("lobby", simulator.url_for("pattern-audio"))
    stack.wait_status(cam["id"], "online")
    first = recorded(stack, cam["id"], 8)
    chosen = iso(first["start"]) + timedelta(seconds=3)

    page.goto(f"/#/camera/{cam['id']}")
    page.get_by_test_id("zoom-15m").click()
    timeline = page.get_by_test_id("timeline")
    expect(timeline.get_by_test_id("timeline-range")).not_to_have_count(0)
    box = timeline.bounding_box()
    assert box is not None
    start, end = (int(timeline.get_attribute(a) or 0) for a in ("data-start", "data-end"))
    x = (chosen.timestamp() * 1000 - start) / (end - start) * box["width"]
    page.mouse.click(box["x"] + x, box["y"] + 15)

    expect(page.get_by_test_id("mode")).to_have_text("PLAYBACK")
    video = '[data-testid="camera-video"]'
    clock = page.get_by_test_id("video-clock")
    expect(clock).to_have_attribute("data-time", re.compile(r"^\d{4}-"))
    started = video_samples(page, video)[0]["t"]
    wait_until(lambda: video_samples(page, video)[0]["t"] > started + 0.2, 15, "playback")
    shown = shown_time(clock.inner_text())
    assert abs((shown - chosen).total_seconds()) <= 3, (shown, chosen)
    before = video_samples(page, video)[0]
    page.wait_for_timeout(1500)
    after = video_samples(page, video)[0]
    assert after["t"] > before["t"] + 0.5 and after["frames"] > before["frames"]
    later = shown_time(clock.inner_text())
    assert timedelta(0) < later - shown <= timedelta(seconds=4), "the clock follows the video"
    expect(timeline.get_by_test_id("timeline-cursor")).to_be_visible()

    page.get_by_test_id("live-button").click()
    expect(page.get_by_test_id("mode")).to_have_text("LIVE")
    assert_plays_live(page, video, 1, seconds=2)


def test_export_downloads_an_mp4_of_the_chosen_span(
    page: Page, stack: Stack, simulator: Simulator, tmp_path: Path
) -> None:
    cam = stack.add_camera("yard", simulator.url_for("pattern"))
    stack.wait_status(cam["id"], "online")
    first = recorded(stack, cam["id"], 8)
    start = iso(first["start"]).replace(microsecond=0) + timedelta(seconds=2)
    end = start + timedelta(seconds=5)

    page.goto(f"/#/camera/{cam['id']}")
    page.get_by_test_id("export-start").fill(local_input(start))
    page.get_by_test_id("export-end").fill(local_input(end))
    expect(page.get_by_test_id("export-info")).to_have_text("5 s of video")
    with page.expect_download(timeout=30_000) as download_info:
        page.get_by_test_id("export-button").click()
    download = download_info.value
    assert download.suggested_filename.startswith("yard_")
    assert download.suggested_filename.endswith(".mp4")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    expect(page.get_by_test_id("export-status")).to_contain_text("Saved")

    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(probe.stdout)
    codecs = [s["codec_name"] for s in info["streams"] if s["codec_type"] == "video"]
    assert codecs == ["h264"]
    # From the keyframe at or before the start (one per second in the clip) to the end.
    assert 4.5 <= float(info["format"]["duration"]) <= 7.0, info["format"]


def test_unreachable_camera_shows_why_it_is_still_connecting_then_is_disabled_and_removed(
    page: Page, stack: Stack
) -> None:
    cam = stack.add_camera("nowhere", f"rtsp://127.0.0.1:{free_port()}/stream")
    # Never online yet: "connecting" (offline only after the connect timeout), with the
    # reason of the last attempt.
    wait_until(
        lambda: bool(stack.camera(cam["id"])["health"]["last_error"]), 30, "an error", stack.logs
    )
    camera = stack.camera(cam["id"])
    assert camera["health"]["status"] == "connecting"
    error = camera["health"]["last_error"]

    page.goto("/#/cameras")
    line = row(page, cam["id"])
    expect(line).to_have_attribute("data-status", "connecting")
    expect(line.get_by_test_id("status-badge")).to_have_text("Connecting")
    expect(line.locator('[data-field="last_error"]')).to_have_text(error)
    expect(page.get_by_test_id("summary")).to_have_text("0/1 online")

    line.get_by_test_id("toggle-camera").click()
    expect(line).to_have_attribute("data-status", "disabled")
    assert stack.camera(cam["id"])["enabled"] is False
    expect(line.get_by_test_id("toggle-camera")).to_have_text("Enable")

    line.get_by_test_id("remove-camera").click()
    page.get_by_test_id("confirm-cancel").click()
    expect(line).to_be_visible()
    line.get_by_test_id("remove-camera").click()
    page.get_by_test_id("confirm-ok").click()
    expect(line).to_have_count(0)
    assert stack.client.get(f"/api/cameras/{cam['id']}").status_code == 404


def test_playback_wall_clock_skips_the_gaps_that_the_stream_collapses(page: Page) -> None:
    page.goto("/#/cameras")
    shown = page.evaluate(
        """async () => {
            const { wallAt } = await import('/static/js/playback-player.js');
            const t = (s) => new Date(Date.UTC(2026, 0, 1, 12, 0, s));
            // Recorded 12:00:00-12:00:10 and 12:00:30-12:00:40: the stream has 20 s of video.
            const ranges = [{ start: t(0), end: t(10) }, { start: t(30), end: t(40) }];
            return [2, 9.5, 10.5, 15, 25].map((s) => wallAt(ranges, t(1), s).toISOString());
        }"""
    )
    assert shown == [
        "2026-01-01T12:00:03.000Z",
        "2026-01-01T12:00:30.500Z",
        "2026-01-01T12:00:31.500Z",
        "2026-01-01T12:00:36.000Z",
        "2026-01-01T12:00:46.000Z",  # past the known ranges, time runs on
    ]

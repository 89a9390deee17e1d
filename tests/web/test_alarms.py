"""Alarms, rules and statistics in the web client, in a real browser against a running Vigil."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack, free_port, wait_until
from tests.integration.test_recording_e2e import recorded_seconds
from tests.web.test_browser import video_samples
from vigil.devices.simulator import Simulator
from vigil.store.alarms import CLEARED, add_note
from vigil.store.db import Database
from vigil.store.models import Alarm
from vigil.store.types import utcnow

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Vigil whose actions give up after one failed attempt, so a failure shows at once."""
    s = Stack(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'data' / 'vigil.db'}",
        env={"VIGIL_ALARMS__ACTION_MAX_ATTEMPTS": "1"},
    )
    s.data_dir.mkdir(parents=True)
    s.start_server()
    s.start_recorder()
    yield s
    s.stop()


def open_tab(page: Page, path: str) -> tuple[Page, list[str]]:
    """A second tab in the same browser context (same localStorage) and its script errors."""
    other = page.context.new_page()
    errors: list[str] = []
    other.on("pageerror", lambda exc: errors.append(str(exc)))
    other.goto(path)
    return other, errors


def alarm(stack: Stack, alarm_id: int) -> dict[str, Any]:
    r = stack.client.get(f"/api/alarms/{alarm_id}")
    assert r.status_code == 200, r.text
    detail: dict[str, Any] = r.json()
    return detail


def test_operator_builds_a_rule_fires_it_and_works_the_alarm_to_closed(
    page: Page, stack: Stack, simulator: Simulator
) -> None:
    camera = stack.add_camera("Gate", simulator.url_for("pattern"), location="North entrance")
    stack.wait_status(camera["id"], "online")
    # The alarm's video needs footage: a finished segment or two before the alarm.
    wait_until(
        lambda: recorded_seconds(stack.timeline(camera["id"])) >= 4, 30, "footage", stack.logs
    )

    # The operator watches the queue in one tab while a colleague works the rules in another.
    page.goto("/#/alarms")
    expect(page.get_by_test_id("alarms-empty")).to_be_visible()
    expect(page.get_by_test_id("alarm-badge")).to_be_hidden()
    rules, rules_errors = open_tab(page, "/#/rules")

    # A rule through the form; a bad webhook URL is refused next to its field.
    rules.get_by_test_id("add-rule").click()
    form = rules.get_by_test_id("rule-form")
    form.get_by_test_id("field-name").fill("Gate panic button")
    form.get_by_test_id("field-trigger.kind").select_option("manual")
    form.get_by_test_id("field-trigger.cameras").locator(
        f'[data-value="{camera["id"]}"] input'
    ).check()
    form.get_by_test_id("field-actions.0.priority").select_option("2")
    form.get_by_test_id("field-actions.0.category").fill("intrusion")
    form.get_by_test_id("field-actions.0.title").fill("Panic at {camera}")
    form.get_by_test_id("field-actions.0.sop").fill("Look at the gate camera\nCall the patrol")
    form.get_by_test_id("add-action-type").select_option("webhook")
    form.get_by_test_id("add-action").click()
    form.get_by_test_id("field-actions.1.url").fill("not a url")
    form.get_by_test_id("save-rule").click()
    url_error = form.get_by_test_id("error-actions.1.url")
    expect(url_error).to_be_visible()
    expect(url_error).to_contain_text("URL")
    expect(form.get_by_test_id("field-actions.1.url")).to_have_attribute("aria-invalid", "true")
    assert stack.client.get("/api/rules").json() == [], "nothing was saved"

    form.get_by_test_id("action-card").nth(1).get_by_test_id("remove-action").click()
    form.get_by_test_id("save-rule").click()
    expect(form).to_be_hidden()
    (rule,) = stack.client.get("/api/rules").json()
    assert rule["trigger"] == {
        "kind": "manual",
        "label": "Trigger",
        "cameras": [camera["id"]],
        "camera_groups": [],
    }
    assert rule["actions"][0]["sop"] == ["Look at the gate camera", "Call the patrol"]
    row = rules.locator(f'[data-testid="rule-row"][data-rule-id="{rule["id"]}"]')
    expect(row.get_by_test_id("rule-trigger")).to_contain_text("Gate")

    # Fire it: nobody is asked for a name, the server knows who is signed in.
    expect(row.get_by_test_id("trigger-camera")).to_have_value(str(camera["id"]))
    row.get_by_test_id("trigger-rule").click()
    expect(rules.get_by_test_id("toast").last).to_contain_text("alarm #")

    # The alarm arrives in the other tab without a reload, with its badge and beep.
    rows = page.get_by_test_id("alarm-row")
    expect(rows).to_have_count(1)
    line = rows.first
    expect(line).to_have_attribute("data-state", "new")
    expect(line).to_have_attribute("data-priority", "2")
    expect(line.get_by_test_id("alarm-title")).to_have_text("Panic at Gate")
    expect(page.get_by_test_id("alarm-badge")).to_have_text("1")
    expect(page.get_by_test_id("alarm-badge")).to_have_class("nav-badge fresh")
    expect(page.locator("body")).to_have_attribute("data-last-beep", "2")
    alarm_id = int(line.get_attribute("data-alarm-id") or 0)

    # Open it: facts, checklist, video, state moves, comments, closing.
    line.click()
    detail = page.get_by_test_id("alarm-detail")
    expect(detail.get_by_test_id("detail-title")).to_have_text("Panic at Gate")
    moves = detail.get_by_test_id("alarm-moves").get_by_role("button")
    expect(moves).to_have_text(["Acknowledge", "Start", "Close…"])
    sop = detail.get_by_test_id("sop-item")
    expect(sop).to_have_count(2)
    sop.nth(0).get_by_test_id("sop-check").check()
    expect(sop.nth(0)).to_have_attribute("data-done", "true")
    expect(sop.nth(0)).to_contain_text("admin")
    assert [s["done"] for s in alarm(stack, alarm_id)["sop"]] == [True, False]

    detail.get_by_test_id("play-video").click()
    video = '[data-testid="alarm-video"]'
    wait_until(
        lambda: (s := video_samples(page, video)) != [] and s[0]["frames"] > 0,
        30,
        "the alarm's video playing",
        stack.logs,
    )

    detail.get_by_test_id("move-acknowledged").click()
    expect(detail.get_by_test_id("alarm-state").first).to_have_text("Acknowledged")
    expect(moves).to_have_text(["Start", "Hold", "Close…"])
    expect(line.get_by_test_id("alarm-owner")).to_have_text("admin")
    expect(page.get_by_test_id("alarm-badge")).not_to_have_class("nav-badge fresh")

    detail.get_by_test_id("comment-text").fill("Patrol 7 on the way")
    detail.get_by_test_id("add-comment").click()
    expect(detail.locator('[data-testid="alarm-note"][data-kind="comment"]')).to_contain_text(
        "Patrol 7 on the way"
    )
    expect(detail.get_by_test_id("comment-text")).to_have_value("")

    detail.get_by_test_id("move-closed").click()
    closing = page.get_by_test_id("close-dialog")
    expect(closing.get_by_test_id("prompt-ok")).to_be_disabled()
    closing.get_by_test_id("prompt-input").fill("False alarm: button pressed by a child")
    closing.get_by_test_id("prompt-ok").click()
    expect(detail.get_by_test_id("closing-reason")).to_contain_text("pressed by a child")
    expect(moves).to_have_count(0)
    expect(rows).to_have_count(0)  # the queue shows open alarms
    expect(page.get_by_test_id("alarm-badge")).to_be_hidden()
    closed = alarm(stack, alarm_id)
    assert closed["state"] == "closed"
    assert closed["owner"] == "admin"
    assert closed["closing_reason"] == "False alarm: button pressed by a child"

    # Statistics count it.
    page.get_by_test_id("alarm-stats-link").click()
    expect(page.get_by_test_id("stats-total")).to_have_text("1")
    expect(page.get_by_test_id("stats-open")).to_have_text("0")
    expect(page.get_by_test_id("stats-acknowledged")).to_have_text("1")
    expect(page.get_by_test_id("stats-ack-median")).not_to_have_text("—")
    category = page.get_by_test_id("stats-by-category").get_by_test_id("stat-row")
    expect(category).to_have_count(1)
    expect(category).to_have_attribute("data-key", "intrusion")
    expect(category).to_have_attribute("data-count", "1")
    area = page.get_by_test_id("stats-by-area").get_by_test_id("stat-row")
    expect(area).to_have_attribute("data-key", "North entrance")
    priority = page.get_by_test_id("stats-by-priority").get_by_test_id("stat-row")
    expect(priority).to_have_attribute("data-key", "2")

    assert not rules_errors, f"uncaught errors in the rules tab: {rules_errors}"


def test_queue_filters_by_url_shows_a_failed_action_and_retries_it(
    page: Page, stack: Stack
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: the webhook fails
    r = stack.client.post(
        "/api/rules",
        json={
            "name": "Door forced",
            "trigger": {"kind": "manual"},
            "actions": [
                {"type": "raise_alarm", "priority": 4, "category": "access"},
                {"type": "webhook", "url": nobody, "secret": "s3cret"},
            ],
        },
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    fired = stack.client.post(f"/api/rules/{rule['id']}/trigger", json={})
    assert fired.status_code == 202, fired.text
    alarm_id = fired.json()["alarm_id"]
    wait_until(lambda: alarm(stack, alarm_id)["failed_actions"] == 1, 20, "the webhook failed")

    page.goto("/#/alarms?priority=1")
    expect(page.get_by_test_id("filter-priority")).to_have_value("1")
    expect(page.get_by_test_id("alarms-empty")).to_be_visible()
    page.get_by_test_id("filter-priority").select_option("")
    line = page.get_by_test_id("alarm-row")
    expect(line).to_have_count(1)
    expect(line.get_by_test_id("alarm-failed-actions")).to_have_text("⚠ 1 failed")

    line.click()
    assert re.search(rf"#/alarms/{alarm_id}$", page.url), page.url
    run = page.get_by_test_id("alarm-detail").locator(
        '[data-testid="action-row"][data-status="failed"]'
    )
    expect(run.get_by_test_id("action-error")).not_to_be_empty()
    run.get_by_test_id("retry-action").click()
    expect(page.get_by_test_id("toast").last).to_contain_text("queued again")
    notes = page.locator('[data-testid="alarm-note"][data-kind="action"]')
    expect(notes.filter(has_text="queued again")).to_have_count(1)

    page.get_by_test_id("filter-state").select_option("closed")
    expect(page.get_by_test_id("alarm-row")).to_have_count(0)
    assert page.url.endswith(f"#/alarms/{alarm_id}?state=closed"), page.url

    # Headless Chromium has no push service: the button says so instead of failing silently.
    button = page.get_by_test_id("push-button")
    expect(button).to_be_visible()
    button.click()
    expect(button).to_have_attribute("data-state", re.compile("^(error|unsupported)$"))
    expect(page.get_by_test_id("push-status")).to_contain_text("Notifications")

    # The editor reads back what it shows: saving unchanged keeps the rule (and its secret).
    page.goto(f"/#/rules/{rule['id']}/edit")
    form = page.get_by_test_id("rule-form")
    expect(form.get_by_test_id("field-actions.1.url")).to_have_value(nobody)
    form.get_by_test_id("save-rule").click()
    expect(form).to_be_hidden()
    saved = stack.client.get(f"/api/rules/{rule['id']}").json()
    assert {**saved, "updated_at": None} == {**rule, "updated_at": None}
    assert saved["actions"][1]["has_secret"] is True

    row = page.locator(f'[data-testid="rule-row"][data-rule-id="{rule["id"]}"]')
    row.get_by_test_id("rule-enabled").uncheck()
    expect(row).to_have_class("row-disabled")
    expect(row.get_by_test_id("trigger-rule")).to_be_disabled()
    assert stack.client.get(f"/api/rules/{rule['id']}").json()["enabled"] is False

    # What rules refer to: a time profile and a camera group, made on the same page.
    page.get_by_test_id("profile-name").fill("Nights")
    page.get_by_test_id("profile-start").fill("22:00")
    page.get_by_test_id("add-profile").click()
    expect(page.get_by_test_id("profile-row")).to_contain_text("Nights")
    (profile,) = stack.client.get("/api/time-profiles").json()
    assert profile["windows"] == [{"days": [0, 1, 2, 3, 4], "start": "22:00:00", "end": "06:00:00"}]
    page.get_by_test_id("group-name").fill("Car parks")
    page.get_by_test_id("add-group").click()
    expect(page.get_by_test_id("group-row")).to_contain_text("Car parks")
    page.get_by_test_id("group-name").fill("Car parks")  # the same name again
    page.get_by_test_id("add-group").click()
    expect(page.get_by_test_id("group-error")).to_contain_text("already exists")
    assert [g["name"] for g in stack.client.get("/api/camera-groups").json()] == ["Car parks"]


def test_camera_status_rule_gets_a_readable_title_and_a_cleared_alarm_says_so(
    page: Page, stack: Stack
) -> None:
    page.goto("/#/rules")
    page.get_by_test_id("add-rule").click()
    form = page.get_by_test_id("rule-form")
    form.get_by_test_id("field-name").fill("Camera offline")
    title = form.get_by_test_id("field-actions.0.title")
    expect(title).to_have_value("{rule} on {camera}")
    kind = form.get_by_test_id("field-trigger.kind")
    kind.select_option("camera_status")
    expect(title).to_have_value("Camera {camera} {status}")
    kind.select_option("manual")
    expect(title).to_have_value("{rule} on {camera}")
    title.fill("{camera}: {type}")
    kind.select_option("camera_status")
    expect(title).to_have_value("{camera}: {type}")  # a title the operator wrote stays
    title.fill("Camera {camera} {status}")
    form.get_by_test_id("field-trigger.statuses").locator('[data-value="offline"] input').check()
    form.get_by_test_id("save-rule").click()
    expect(form).to_be_hidden()
    (rule,) = stack.client.get("/api/rules").json()
    assert rule["actions"][0]["title"] == "Camera {camera} {status}"

    # An alarm an operator took whose camera came back, as the rules engine leaves it
    # (tests/rules/test_clearing.py); of no camera here, so the recorder raises none beside it.
    db = Database(stack.db_url)
    try:
        with db.session() as s:
            now = utcnow()
            alarm = Alarm(
                rule_id=rule["id"], rule_name=rule["name"], event_type="camera.offline",
                camera_id=None, title="Camera Gate offline", category="technical",
                priority=2, state="acknowledged", owner="admin", sop=[], first_at=now,
                last_at=now, acknowledged_at=now, created_at=now, updated_at=now,
            )  # fmt: skip
            s.add(alarm)
            s.flush()
            add_note(s, alarm.id, kind=CLEARED, text="condition cleared: camera back online")
    finally:
        db.dispose()
    page.goto("/#/alarms")
    line = page.get_by_test_id("alarm-row")
    expect(line.get_by_test_id("alarm-title")).to_have_text("Camera Gate offline")
    expect(line.get_by_test_id("alarm-condition-cleared")).to_be_visible()
    line.click()
    detail = page.get_by_test_id("alarm-detail")
    expect(detail.get_by_test_id("alarm-condition-cleared")).to_be_visible()
    expect(detail).to_contain_text("Condition cleared")


def test_the_queue_is_worked_from_the_keyboard(page: Page, stack: Stack) -> None:
    fired = []
    for name, priority in (("Panic button", 1), ("Door held open", 3)):
        r = stack.client.post(
            "/api/rules",
            json={
                "name": name,
                "trigger": {"kind": "manual"},
                "actions": [{"type": "raise_alarm", "priority": priority}],
            },
        )
        assert r.status_code == 201, r.text
        done = stack.client.post(f"/api/rules/{r.json()['id']}/trigger", json={})
        assert done.status_code == 202, done.text
        fired.append(done.json()["alarm_id"])
    urgent, later = fired
    page.goto("/#/alarms")
    expect(page.get_by_test_id("alarm-row")).to_have_count(2)
    page.keyboard.press("j")  # the first of the queue: priority 1
    expect(page.get_by_test_id("alarm-side")).to_be_visible()
    assert page.url.endswith(f"#/alarms/{urgent}"), page.url
    page.keyboard.press("a")
    wait_until(lambda: alarm(stack, urgent)["state"] == "acknowledged", 10, "acknowledged")
    assert alarm(stack, later)["state"] == "new"
    page.keyboard.press("ArrowDown")
    assert page.url.endswith(f"#/alarms/{later}"), page.url
    page.keyboard.press("k")
    assert page.url.endswith(f"#/alarms/{urgent}"), page.url
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("alarm-side")).to_be_hidden()
    # Typing in a field is typing: the queue's keys stay out of it.
    page.get_by_test_id("filter-category").focus()
    page.keyboard.press("j")
    expect(page.get_by_test_id("alarm-side")).to_be_hidden()

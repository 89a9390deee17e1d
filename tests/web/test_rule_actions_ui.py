"""The rule form draws each action's fields from the server's schema (GET
/api/rules/actions/schema), in a real browser against a running Vigil, and saves what the API
accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Stack

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A server only: rules need no recorder."""
    s = Stack(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'vigil.db'}")
    s.data_dir.mkdir(parents=True)
    s.start_server()
    yield s
    s.stop()


def test_action_fields_come_from_the_schema_and_the_rule_saves(page: Page, stack: Stack) -> None:
    r = stack.client.get("/api/rules/actions/schema")
    assert r.status_code == 200, r.text
    schemas = r.json()["actions"]
    mqtt = schemas["mqtt_publish"]

    page.goto("/#/rules")
    page.get_by_test_id("add-rule").click()
    form = page.get_by_test_id("rule-form")
    form.get_by_test_id("field-name").fill("Lamp on at the gate")
    form.get_by_test_id("field-trigger.kind").select_option("manual")

    # The type picker offers every registered type, by its schema's title.
    picker = form.get_by_test_id("add-action-type")
    for key, schema in schemas.items():
        expect(picker.locator(f'option[value="{key}"]')).to_have_text(schema["title"])
    picker.select_option("mqtt_publish")
    form.get_by_test_id("add-action").click()
    card = form.get_by_test_id("action-card").nth(1)
    expect(card).to_have_attribute("data-type", "mqtt_publish")

    # One input per option, of the kind its type asks for, labelled with its title.
    options = [name for name in mqtt["properties"] if name != "type"]
    assert options == ["topic", "payload", "qos", "retain"]
    for name in options:
        expect(card.get_by_test_id(f"field-actions.1.{name}")).to_be_visible()
        expect(card).to_contain_text(mqtt["properties"][name]["title"])
    expect(card.get_by_test_id("field-actions.1.payload")).to_have_js_property(
        "tagName", "TEXTAREA"
    )
    qos = card.get_by_test_id("field-actions.1.qos")
    expect(qos.locator("option")).to_have_text(["0", "1", "2"])
    expect(qos).to_have_value("1")  # the schema's default
    expect(card.get_by_test_id("field-actions.1.retain")).to_have_attribute("type", "checkbox")

    card.get_by_test_id("field-actions.1.topic").fill("lamps/gate/on")
    card.get_by_test_id("field-actions.1.payload").fill("lamp on: {rule}")
    qos.select_option("2")
    card.get_by_test_id("field-actions.1.retain").check()

    # A value out of the schema's bounds: the server's message lands at its field.
    picker.select_option("record")
    form.get_by_test_id("add-action").click()
    pre = form.get_by_test_id("field-actions.2.pre_s")
    expect(pre).to_have_attribute("max", str(schemas["record"]["properties"]["pre_s"]["maximum"]))
    pre.fill("5000")
    form.get_by_test_id("save-rule").click()
    expect(form.get_by_test_id("error-actions.2.pre_s")).to_contain_text("3600")
    expect(pre).to_have_attribute("aria-invalid", "true")
    assert stack.client.get("/api/rules").json() == [], "not saved"

    pre.fill("20")
    form.get_by_test_id("save-rule").click()
    expect(form).to_be_hidden()
    (rule,) = stack.client.get("/api/rules").json()
    assert rule["actions"][1] == {
        "type": "mqtt_publish",
        "topic": "lamps/gate/on",
        "payload": "lamp on: {rule}",
        "qos": 2,
        "retain": True,
    }
    record = rule["actions"][2]
    assert (record["type"], record["pre_s"], record["post_s"], record["camera_id"]) == (
        "record",
        20,
        30,
        None,
    )

    # Opened again, the form shows what was saved, and saving it unchanged changes nothing.
    page.goto(f"/#/rules/{rule['id']}/edit")
    form = page.get_by_test_id("rule-form")
    expect(form.get_by_test_id("field-actions.1.topic")).to_have_value("lamps/gate/on")
    expect(form.get_by_test_id("field-actions.1.qos")).to_have_value("2")
    expect(form.get_by_test_id("field-actions.1.retain")).to_be_checked()
    form.get_by_test_id("save-rule").click()
    expect(form).to_be_hidden()
    again = stack.client.get(f"/api/rules/{rule['id']}").json()
    assert {**again, "updated_at": None} == {**rule, "updated_at": None}


def test_an_event_trigger_takes_conditions_on_the_event_s_attributes(
    page: Page, stack: Stack
) -> None:
    page.goto("/#/rules")
    page.get_by_test_id("add-rule").click()
    form = page.get_by_test_id("rule-form")
    form.get_by_test_id("field-name").fill("Dumped by a van, long enough")
    form.get_by_test_id("field-trigger.kind").select_option("event")
    form.get_by_test_id("field-trigger.event_types").fill("illegal_dumping")
    conditions = form.get_by_test_id("field-trigger.attributes")
    expect(conditions).to_have_js_property("tagName", "TEXTAREA")

    # A line that is no condition: the server's message lands at the field.
    conditions.fill("still_s >= 30\nbrought_by.class_name")
    form.get_by_test_id("save-rule").click()
    expect(form.get_by_test_id("error-trigger.attributes")).to_contain_text("'eq'")
    assert stack.client.get("/api/rules").json() == [], "not saved"

    written = "\n".join(
        [
            "still_s >= 30",
            "brought_by.class_name = truck",
            "plate like CA*",
            'zone in "7", 8',
            "colour missing",
        ]
    )
    conditions.fill(written)
    form.get_by_test_id("save-rule").click()
    expect(form).to_be_hidden()
    (rule,) = stack.client.get("/api/rules").json()
    assert rule["trigger"]["attributes"] == [
        {"path": "still_s", "op": "ge", "value": 30},
        {"path": "brought_by.class_name", "op": "eq", "value": "truck"},
        {"path": "plate", "op": "like", "value": "CA*"},
        {"path": "zone", "op": "in", "value": ["7", 8]},
        {"path": "colour", "op": "exists", "value": False},
    ]
    # The list says what the rule waits for; the form shows the conditions as written.
    expect(page.get_by_test_id("rule-trigger")).to_contain_text("brought_by.class_name = truck")
    page.goto(f"/#/rules/{rule['id']}/edit")
    expect(page.get_by_test_id("field-trigger.attributes")).to_have_value(written)

"""Rule specs: matching every trigger kind, MQTT filters, templates and their checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from vigil.domain.events import Event, ObjectRef
from vigil.domain.rules import (
    CAMERA_STATUS_ALARM_TITLE,
    DEFAULT_ALARM_TITLE,
    RaiseAlarm,
    RuleSpec,
    Trigger,
    mqtt_topic_matches,
    render,
    template_values,
    trigger_matches,
)

AT = datetime(2024, 5, 6, 22, 30, tzinfo=UTC)
TRIGGER: TypeAdapter[Trigger] = TypeAdapter(Trigger)


def ev(type: str = "intrusion", camera_id: int | None = 1, **kw: Any) -> Event:
    return Event(type=type, at=AT, camera_id=camera_id, **kw)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/b/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/+/c", "a/x/c", True),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "anything/at/all", True),
        ("+/+", "a", False),
        ("sensors/+/door", "sensors/12/window", False),
    ],
)
def test_mqtt_topic_filters(pattern: str, topic: str, expected: bool) -> None:
    assert mqtt_topic_matches(pattern, topic) is expected


@pytest.mark.parametrize(
    ("trigger", "event", "groups", "expected"),
    [
        ({"kind": "event", "event_types": ["intrusion"]}, ev(), (), True),
        ({"kind": "event", "event_types": ["line_*"]}, ev("line_crossing"), (), True),
        ({"kind": "event", "event_types": ["line_*"]}, ev(), (), False),
        (
            {"kind": "event", "event_types": ["intrusion"], "zones": ["Yard"]},
            ev(zone="Yard"),
            (),
            True,
        ),
        (
            {"kind": "event", "event_types": ["intrusion"], "zones": ["Yard"]},
            ev(zone="Road"),
            (),
            False,
        ),
        (
            {"kind": "event", "event_types": ["intrusion"], "classes": ["person"]},
            ev(object=ObjectRef(class_name="car")),
            (),
            False,
        ),
        (
            {"kind": "event", "event_types": ["intrusion"], "classes": ["person"]},
            ev(object=ObjectRef(class_name="person")),
            (),
            True,
        ),
        (
            {"kind": "event", "event_types": ["crowd"], "min_count": 10},
            ev("crowd", count=9),
            (),
            False,
        ),
        (
            {"kind": "event", "event_types": ["crowd"], "min_count": 10},
            ev("crowd", count=10),
            (),
            True,
        ),
        ({"kind": "event", "event_types": ["intrusion"], "cameras": [2]}, ev(), (), False),
        ({"kind": "event", "event_types": ["intrusion"], "cameras": [1]}, ev(), (), True),
        ({"kind": "event", "event_types": ["intrusion"], "camera_groups": [7]}, ev(), (7,), True),
        ({"kind": "event", "event_types": ["intrusion"], "camera_groups": [7]}, ev(), (8,), False),
        (
            {"kind": "event", "event_types": ["intrusion"], "cameras": [1]},
            ev(camera_id=None),
            (),
            False,
        ),
        ({"kind": "camera_status", "statuses": ["offline"]}, ev("camera.offline"), (), True),
        ({"kind": "camera_status", "statuses": ["tampering"]}, ev("camera.tampering"), (), True),
        ({"kind": "camera_status", "statuses": ["offline"]}, ev("camera.online"), (), False),
        (
            {"kind": "input", "source": "mqtt", "name": "sensors/+/door"},
            ev("input.mqtt", attributes={"name": "sensors/3/door", "payload": {"open": True}}),
            (),
            True,
        ),
        (
            {"kind": "input", "source": "mqtt", "name": "sensors/+/door", "match": {"open": True}},
            ev("input.mqtt", attributes={"name": "sensors/3/door", "payload": {"open": False}}),
            (),
            False,
        ),
        (
            {"kind": "input", "source": "mqtt", "name": "a", "match": {"open": True}},
            ev("input.mqtt", attributes={"name": "a", "payload": "text"}),
            (),
            False,
        ),
        (
            {"kind": "input", "source": "webhook", "name": "alarm-panel"},
            ev("input.webhook", attributes={"name": "alarm-panel", "payload": {}}),
            (),
            True,
        ),
        (
            {"kind": "input", "source": "webhook", "name": "alarm-panel"},
            ev("input.webhook", attributes={"name": "other"}),
            (),
            False,
        ),
        (
            {"kind": "input", "source": "access_control", "name": "door_forced"},
            ev("access.door_forced", attributes={"name": "door_forced", "payload": {"door": "A"}}),
            (),
            True,
        ),
        (
            {"kind": "input", "source": "access_control", "name": "door_forced"},
            ev("access.denied"),
            (),
            False,
        ),
        ({"kind": "manual"}, ev("manual"), (), False),
    ],
)
def test_trigger_matching(
    trigger: dict[str, Any], event: Event, groups: tuple[int, ...], expected: bool
) -> None:
    assert trigger_matches(TRIGGER.validate_python(trigger), event, groups) is expected


DUMPED = {
    "still_s": 42.5,
    "brought_by": {"class_name": "person", "track_id": 7},
    "plate": "CA1234AB",
    "lists": ["stolen", "wanted"],
    "flag": True,
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"path": "brought_by.class_name", "value": "person"}, True),
        ({"path": "brought_by.class_name", "op": "ne", "value": "car"}, True),
        ({"path": "brought_by.track_id", "value": 7.0}, True),  # numbers as numbers
        ({"path": "still_s", "op": "ge", "value": 30}, True),
        ({"path": "still_s", "op": "lt", "value": 30}, False),
        ({"path": "plate", "op": "like", "value": "ca*ab"}, True),  # any case
        ({"path": "plate", "op": "like", "value": "CB*"}, False),
        ({"path": "plate", "op": "in", "value": ["X1", "CA1234AB"]}, True),
        ({"path": "plate", "op": "contains", "value": "1234"}, True),
        ({"path": "lists", "op": "contains", "value": "stolen"}, True),
        ({"path": "lists", "op": "contains", "value": "permit"}, False),
        ({"path": "flag", "value": True}, True),
        ({"path": "flag", "value": 1}, False),  # a boolean is not a number
        ({"path": "plate", "op": "gt", "value": 1}, False),  # text is not ordered
        ({"path": "missing", "value": "x"}, False),
        ({"path": "missing", "op": "ne", "value": "x"}, True),
        ({"path": "missing", "op": "exists", "value": False}, True),
        ({"path": "brought_by.colour", "op": "exists", "value": True}, False),
        ({"path": "plate.text", "value": "x"}, False),  # not a mapping on the way
    ],
)
def test_attribute_conditions(condition: dict[str, Any], expected: bool) -> None:
    trigger = TRIGGER.validate_python(
        {"kind": "event", "event_types": ["illegal_dumping"], "attributes": [condition]}
    )
    assert trigger_matches(trigger, ev("illegal_dumping", attributes=DUMPED)) is expected


def test_every_attribute_condition_must_hold() -> None:
    conditions = [
        {"path": "still_s", "op": "ge", "value": 30},
        {"path": "brought_by.class_name", "value": "car"},
    ]
    trigger = TRIGGER.validate_python(
        {"kind": "event", "event_types": ["*"], "attributes": conditions}
    )
    assert not trigger_matches(trigger, ev("illegal_dumping", attributes=DUMPED))
    conditions[1]["value"] = "person"
    trigger = TRIGGER.validate_python(
        {"kind": "event", "event_types": ["*"], "attributes": conditions}
    )
    assert trigger_matches(trigger, ev("illegal_dumping", attributes=DUMPED))


BASE_RULE: dict[str, Any] = {
    "name": "R",
    "trigger": {"kind": "event", "event_types": ["x"]},
    "actions": [{"type": "raise_alarm"}],
}


def attribute(condition: dict[str, Any]) -> dict[str, Any]:
    """A change to BASE_RULE: its trigger with one attribute condition."""
    return {"trigger": {"kind": "event", "event_types": ["x"], "attributes": [condition]}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"actions": [{"type": "raise_alarm", "title": "{nope}"}]},
            "unknown template field {nope}",
        ),
        ({"actions": [{"type": "email", "to": ["a@b"], "body": "{"}]}, "not well formed"),
        ({"actions": [{"type": "raise_alarm"}, {"type": "raise_alarm"}]}, "at most one alarm"),
        ({"actions": [{"type": "mqtt_publish", "topic": "a/#"}]}, "wildcards"),
        ({"actions": [{"type": "signage", "via": "http", "target": "sign-1"}]}, "http://"),
        ({"trigger": {"kind": "camera_status", "statuses": ["asleep"]}}, "unknown camera status"),
        ({"conditions": {"count": {"at_least": 1, "within_s": 5}}}, "greater than or equal to 2"),
        ({"actions": []}, "at least 1"),
        ({"extra": 1}, "Extra inputs"),
        (attribute({"path": "plate", "op": "in", "value": "X"}), "'in' needs a list"),
        (attribute({"path": "still_s", "op": "gt", "value": "30"}), "give a number"),
        (attribute({"path": "plate", "op": "like", "value": 3}), "needs a pattern"),
        (attribute({"path": "a", "op": "exists", "value": "yes"}), "true or false"),
        (attribute({"path": "a", "value": ["x"]}), "only 'in' takes a list"),
        (attribute({"path": "a..b", "value": 1}), "should match pattern"),
    ],
)
def test_invalid_specs_say_why(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        RuleSpec.model_validate({**BASE_RULE, **change})
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{rule} on {camera}", "Door on Gate 1"),
        ("{type} at {location} {zone}", "intrusion at North Yard"),
        ("{object} x{count}", "person x3"),
        ("{time}", "2024-05-06 22:30:00 UTC"),
        ("{priority}/{category}/{alarm_id}", "critical/fire/"),
        ("{payload}", "{'open': True}"),
    ],
)
def test_templates(template: str, expected: str) -> None:
    event = ev(
        zone="Yard",
        object=ObjectRef(class_name="person"),
        count=3,
        attributes={"payload": {"open": True}},
    )
    values = template_values(
        rule="Door",
        event=event,
        camera_name="Gate 1",
        location="North",
        priority=1,
        category="fire",
    )
    assert render(template, values) == expected


def test_template_of_an_event_without_camera() -> None:
    values = template_values(rule="R", event=ev(camera_id=None), camera_name=None, location=None)
    assert render("{camera}|{camera_id}|{location}", values) == "-||"


@pytest.mark.parametrize(
    ("event", "template", "expected"),
    [
        (ev("line_crossing"), "{type} on {camera}", "line crossing on Gate 1"),
        (ev("line_crossing"), "{event_type}", "line_crossing"),
        (ev("camera.offline"), "Camera {camera} {status}", "Camera Gate 1 offline"),
        (ev("camera.storage_full"), "Camera {camera} {status}", "Camera Gate 1 storage full"),
        (ev("camera.online"), "Camera {camera} {status}", "Camera Gate 1 back online"),
        (ev("camera.tampering"), "{type}", "camera tampered with"),
        (ev("intrusion"), "[{status}]", "[]"),
        (ev("input.mqtt"), "{type}", "MQTT message"),
        (ev("access.door_forced"), "{type}", "access door forced"),
        # The demo's former title, still stored in older installations, now reads.
        (ev("camera.offline"), "{camera} is {type}", "Gate 1 is camera offline"),
    ],
)
def test_templates_read_as_people_say_it(event: Event, template: str, expected: str) -> None:
    values = template_values(rule="R", event=event, camera_name="Gate 1", location=None)
    assert render(template, values) == expected


def test_reason_is_the_camera_s_last_error() -> None:
    lost = ev("camera.offline", attributes={"node": "rec-1", "error": " connection refused "})
    values = template_values(rule="R", event=lost, camera_name="Gate", location=None)
    assert render("{status}: {reason}", values) == "offline: connection refused"
    values = template_values(rule="R", event=ev("camera.offline"), camera_name=None, location=None)
    assert values["reason"] == ""


def _alarm_title(spec: RuleSpec) -> str:
    [alarm] = [a for a in spec.actions if isinstance(a, RaiseAlarm)]
    return alarm.title


def test_camera_status_alarm_titles_default_to_camera_and_status() -> None:
    status = {"kind": "camera_status", "statuses": ["offline"]}
    spec = RuleSpec.model_validate({**BASE_RULE, "trigger": status})
    assert _alarm_title(spec) == CAMERA_STATUS_ALARM_TITLE
    stored = RuleSpec.model_validate(spec.model_dump(mode="json"))
    assert _alarm_title(stored) == CAMERA_STATUS_ALARM_TITLE, "kept when read back"
    chosen = {"type": "raise_alarm", "title": "{rule} on {camera}"}
    spec = RuleSpec.model_validate({**BASE_RULE, "trigger": status, "actions": [chosen]})
    assert _alarm_title(spec) == DEFAULT_ALARM_TITLE, "a title the rule gives is kept"
    assert _alarm_title(RuleSpec.model_validate(BASE_RULE)) == DEFAULT_ALARM_TITLE

"""Rules: trigger -> conditions -> actions. Pure: matching and templating, no I/O.

A rule is stored as its :class:`RuleSpec` (JSON). Every trigger reads an :class:`Event`:
camera status changes, MQTT messages, webhooks, access control and manual triggers all arrive
as events of their own type, so one matcher serves them all.
"""

from __future__ import annotations

import fnmatch
import string
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    field_validator,
    model_validator,
)

from vigil.domain.cameras import CameraStatus
from vigil.domain.events import (
    ACCESS_PREFIX,
    INPUT_MQTT,
    INPUT_WEBHOOK,
    Event,
    camera_status_event_type,
    camera_status_label,
    event_label,
    event_reason,
)
from vigil.domain.options import TEMPLATE_MARK, OptionsRegistry, template_fields

PRIORITY_HIGHEST, PRIORITY_LOWEST = 1, 5
PRIORITY_NAMES = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "info"}

# What a template may name: {camera}, {type}... Checked when a rule is saved. {type} reads
# as people say it ("line crossing", "camera offline"), {event_type} is the code for machines
# ("line_crossing"), {status} a camera status ("offline", "back online"), {reason} why (a
# camera's last error), {plate} the licence plate of a plate reading, a register hit or an
# overstay.
TEMPLATE_FIELDS = (
    "rule",
    "type",
    "event_type",
    "status",
    "reason",
    "camera",
    "camera_id",
    "location",
    "zone",
    "object",
    "count",
    "time",
    "priority",
    "category",
    "alarm_id",
    "payload",
    "plate",
)

Strict = ConfigDict(extra="forbid")

DEFAULT_ALARM_TITLE = "{rule} on {camera}"
# A camera status alarm's title unless the rule says otherwise: "Camera Gate offline".
CAMERA_STATUS_ALARM_TITLE = "Camera {camera} {status}"


def _check_template(text: str) -> str:
    """Refuse a template that names an unknown field or is not well formed."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"template is not well formed: {exc}") from exc
    for name in names:
        if name not in TEMPLATE_FIELDS:
            known = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            raise ValueError(f"unknown template field {{{name}}}; known: {known}")
    return text


Template = Annotated[str, Field(max_length=5000, json_schema_extra={TEMPLATE_MARK: True})]
"""A message with {placeholders} (``TEMPLATE_FIELDS``), checked when a rule is saved."""


class _Filters(BaseModel):
    """Which cameras a trigger listens to: all when both lists are empty."""

    cameras: list[int] = Field(default_factory=list)
    camera_groups: list[int] = Field(default_factory=list)


# ----- triggers -----------------------------------------------------------------------------

Scalar = str | int | float | bool
_ORDERED_OPS = {"lt", "le", "gt", "ge"}


class AttributeCondition(BaseModel):
    """A condition on an event's ``attributes``, for any event type: ``path`` names one
    (dots reach into nested ones: ``brought_by.class_name``, ``payload.door``), ``op``
    compares it with ``value``: eq, ne; lt, le, gt, ge (numbers); in (one of a list);
    like (a shell pattern, any case: ``AB*12``); contains (in a text or a list); exists
    (``value`` true or false). An attribute that is missing, or of another type than the
    value, fails every condition but ``ne`` and ``exists: false``."""

    model_config = Strict
    path: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    op: Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "like", "contains", "exists"] = "eq"
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _value_fits_op(self) -> AttributeCondition:
        value = self.value
        if self.op == "in" and not isinstance(value, list):
            raise ValueError(f"{self.path}: 'in' needs a list of values")
        if self.op != "in" and isinstance(value, list):
            raise ValueError(f"{self.path}: only 'in' takes a list of values")
        if self.op in _ORDERED_OPS and isinstance(value, bool | str):
            raise ValueError(f"{self.path}: '{self.op}' compares numbers; give a number")
        if self.op == "like" and not isinstance(value, str):
            raise ValueError(f"{self.path}: 'like' needs a pattern (text)")
        if self.op == "exists" and not isinstance(value, bool):
            raise ValueError(f"{self.path}: 'exists' takes true or false")
        return self

    def holds(self, attributes: Mapping[str, Any]) -> bool:
        """Whether the event's attributes meet the condition."""
        found, actual = _lookup(attributes, self.path)
        if self.op == "exists":
            return found is self.value
        if not found:
            return self.op == "ne"
        value = self.value
        if self.op in ("eq", "ne"):
            return _same(actual, value) is (self.op == "eq")
        if self.op == "in":
            assert isinstance(value, list)
            return any(_same(actual, v) for v in value)
        if self.op == "like":
            pattern = str(value).casefold()
            return isinstance(actual, str) and fnmatch.fnmatchcase(actual.casefold(), pattern)
        if self.op == "contains":
            if isinstance(actual, str):  # "contains 12" on a text means the digits
                return str(value).casefold() in actual.casefold()
            return isinstance(actual, list) and any(_same(a, value) for a in actual)
        if not _is_number(actual):
            return False
        a, b = float(actual), float(value)  # type: ignore[arg-type]
        return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[self.op]


def _lookup(attributes: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path in nested mappings."""
    current: Any = attributes
    for key in path.split("."):
        if not isinstance(current, Mapping) or key not in current:
            return False, None
        current = current[key]
    return True, current


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(actual: Any, value: Any) -> bool:
    """Equal, with numbers compared as numbers and booleans only with booleans."""
    if _is_number(actual) and _is_number(value):
        return bool(float(actual) == float(value))
    return type(actual) is type(value) and bool(actual == value)


class EventTrigger(_Filters):
    """Analytics (or any) events of these types, optionally in a zone, of a class, a count."""

    model_config = Strict
    kind: Literal["event"] = "event"
    event_types: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, description="types or shell patterns: line_crossing, intrusion, access.*"
    )
    zones: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)
    min_count: int | None = Field(None, ge=1, description="only when the event counts >= this")
    attributes: list[AttributeCondition] = Field(
        default_factory=list,
        max_length=16,
        description="conditions on the event's attributes, all of which must hold",
    )


class CameraStatusTrigger(_Filters):
    """A camera going offline, out of storage, tampered with..."""

    model_config = Strict
    kind: Literal["camera_status"] = "camera_status"
    statuses: list[str] = Field(min_length=1)

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, statuses: list[str]) -> list[str]:
        known = {s.value for s in CameraStatus} | {"tampering"}
        for s in statuses:
            if s not in known:
                raise ValueError(f"unknown camera status {s!r}; known: {', '.join(sorted(known))}")
        return statuses


class InputTrigger(BaseModel):
    """An external input: an MQTT message (``name`` is a topic filter with + and #), a
    webhook (``name`` is the hook's name) or an access-control event (``name`` is the event,
    e.g. door_forced). ``match`` requires payload fields to equal these values."""

    model_config = Strict
    kind: Literal["input"] = "input"
    source: Literal["mqtt", "webhook", "access_control"]
    name: str = Field(min_length=1, max_length=500)
    match: dict[str, str | int | float | bool] = Field(default_factory=dict)


class ManualTrigger(_Filters):
    """An operator pressing the rule's button in the client."""

    model_config = Strict
    kind: Literal["manual"] = "manual"
    label: str = Field("Trigger", min_length=1, max_length=120)


Trigger = Annotated[
    EventTrigger | CameraStatusTrigger | InputTrigger | ManualTrigger,
    Field(discriminator="kind"),
]


# ----- conditions ---------------------------------------------------------------------------


class CountWithin(BaseModel):
    """Fire only when the trigger matched at least ``at_least`` times within ``within_s``
    (per camera)."""

    model_config = Strict
    at_least: int = Field(ge=2, le=100_000)
    within_s: float = Field(gt=0, le=7 * 86400)


class Conditions(BaseModel):
    """What must also hold for a triggered rule to act."""

    model_config = Strict
    time_profile_id: int | None = Field(None, description="armed only while this profile is")
    count: CountWithin | None = None
    cooldown_s: float = Field(0, ge=0, le=86400, description="quiet time after firing, per camera")


# ----- actions ------------------------------------------------------------------------------
# Each action type is an options model registered in ACTIONS; its executor is bound to it in
# one module of vigil.rules.kinds (which also registers new types, such as a "slack" one).
# The schema of each (GET /api/rules/actions/schema) is what the client's form is drawn from:
# its title is the label, ``x-template`` marks templates, ``writeOnly`` marks secrets.


class ActionOptions(BaseModel):
    """What every action's options share: the ``type`` that picks the model."""

    model_config = Strict
    # With write-only fields (secrets): a field left empty on an edit keeps the stored value
    # of the previous version's action of this type with the same values of these fields
    # (none: the first action of this type).
    keep_secrets_by: ClassVar[tuple[str, ...]] = ()
    type: str


ACTIONS: OptionsRegistry[ActionOptions] = OptionsRegistry("action")
"""Action options models by type (the rules layer loads the modules that add more)."""


@ACTIONS.register
class RaiseAlarm(ActionOptions):
    """Put an alarm in the operators' queue."""

    model_config = ConfigDict(extra="forbid", title="Raise an alarm")
    type: Literal["raise_alarm"] = "raise_alarm"
    priority: int = Field(
        3,
        ge=PRIORITY_HIGHEST,
        le=PRIORITY_LOWEST,
        title="Priority",
        description="1 = critical",
        json_schema_extra={
            "enum": list(PRIORITY_NAMES),
            "x-labels": {str(p): f"{p} {n}" for p, n in PRIORITY_NAMES.items()},
        },
    )
    category: str = Field("general", min_length=1, max_length=120, title="Category")
    title: Template = Field(DEFAULT_ALARM_TITLE, title="Title")
    sop: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list,
        title="Checklist (SOP), one step a line",
        description="standard operating procedure: the checklist",
    )
    escalate_after_min: float | None = Field(
        None, gt=0, le=7 * 24 * 60, title="Escalate when unacknowledged for (min)"
    )


@ACTIONS.register
class Record(ActionOptions):
    """Record (or keep) the camera's footage around the event."""

    model_config = ConfigDict(extra="forbid", title="Record / keep video")
    type: Literal["record"] = "record"
    camera_id: int | None = Field(
        None,
        title="Camera",
        description="Empty: the triggering camera.",
        json_schema_extra={"x-widget": "camera"},
    )
    pre_s: float = Field(10, ge=0, le=3600, title="Seconds before")
    post_s: float = Field(30, ge=0, le=86400, title="Seconds after")
    keep_days: float | None = Field(
        None, gt=0, le=3650, title="Keep for (days)", description="Empty: normal retention."
    )


@ACTIONS.register
class Bookmark(ActionOptions):
    """Mark the moment on the camera's timeline."""

    model_config = ConfigDict(extra="forbid", title="Bookmark")
    type: Literal["bookmark"] = "bookmark"
    label: Template = Field("{rule}", title="Label")


@ACTIONS.register
class MqttPublish(ActionOptions):
    """Publish a message on the configured MQTT broker (street lamps, building systems)."""

    model_config = ConfigDict(extra="forbid", title="Publish MQTT")
    type: Literal["mqtt_publish"] = "mqtt_publish"
    topic: str = Field(min_length=1, max_length=500, title="Topic")
    payload: Template = Field("", title="Payload", json_schema_extra={"x-widget": "textarea"})
    qos: Literal[0, 1, 2] = Field(1, title="QoS")
    retain: bool = Field(False, title="Retain")

    @field_validator("topic")
    @classmethod
    def _topic(cls, topic: str) -> str:
        if "+" in topic or "#" in topic:
            raise ValueError("a topic to publish on cannot contain the wildcards + or #")
        return topic


@ACTIONS.register
class Webhook(ActionOptions):
    """POST the event and alarm as JSON, signed with HMAC-SHA256 when a secret is set."""

    model_config = ConfigDict(extra="forbid", title="Call a webhook")
    type: Literal["webhook"] = "webhook"
    # A webhook edited without its secret keeps the stored one of the same URL.
    keep_secrets_by: ClassVar[tuple[str, ...]] = ("url",)
    url: AnyHttpUrl = Field(title="URL", json_schema_extra={"examples": ["https://…"]})
    secret: str | None = Field(
        None,
        max_length=500,
        title="HMAC secret",
        description="Signs the body (X-Vigil-Signature). Write-only: leave empty to keep the "
        "stored one.",
        json_schema_extra={"writeOnly": True},
    )
    headers: dict[str, str] = Field(
        default_factory=dict, title="Headers", description="One “Name: value” a line."
    )


@ACTIONS.register
class Email(ActionOptions):
    """Send an e-mail through the configured SMTP server."""

    model_config = ConfigDict(extra="forbid", title="Send an e-mail")
    type: Literal["email"] = "email"
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]] = Field(
        min_length=1,
        title="To",
        description="Comma-separated addresses.",
        json_schema_extra={"x-widget": "list"},
    )
    subject: Template = Field("[Vigil] {rule} on {camera}", title="Subject")
    body: Template = Field(
        "{type} on {camera} ({location}) at {time}.",
        title="Body",
        json_schema_extra={"x-widget": "textarea"},
    )


@ACTIONS.register
class WebPush(ActionOptions):
    """Notify subscribed phones (Web Push, VAPID)."""

    model_config = ConfigDict(extra="forbid", title="Notify phones (Web Push)")
    type: Literal["web_push"] = "web_push"
    title: Template = Field("{rule}", title="Title")
    body: Template = Field("{type} on {camera} at {time}", title="Body")


@ACTIONS.register
class Signage(ActionOptions):
    """Show a message on a digital sign, over HTTP (POST) or MQTT."""

    model_config = ConfigDict(extra="forbid", title="Message on a sign")
    type: Literal["signage"] = "signage"
    via: Literal["http", "mqtt"] = Field(
        title="Via", json_schema_extra={"x-labels": {"http": "HTTP POST", "mqtt": "MQTT"}}
    )
    target: str = Field(
        min_length=1,
        max_length=2000,
        title="Sign URL or topic",
        description="the sign's URL or topic",
    )
    message: Template = Field("{rule}", title="Message")

    @model_validator(mode="after")
    def _target(self) -> Signage:
        if self.via == "http" and not self.target.startswith(("http://", "https://")):
            raise ValueError("an HTTP sign's target must be an http:// or https:// URL")
        return self


Action = Annotated[SerializeAsAny[ActionOptions], BeforeValidator(ACTIONS.parse)]
"""One action of a rule: validated with the model its ``type`` names in ``ACTIONS``."""


class RuleSpec(BaseModel):
    """A rule as the API takes it and the store keeps it."""

    model_config = Strict
    name: str = Field(min_length=1, max_length=120)
    enabled: bool = True
    trigger: Trigger
    conditions: Conditions = Field(default_factory=Conditions)
    actions: list[Action] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _camera_status_title(self) -> RuleSpec:
        """A camera status rule's alarm left without a title says which camera and status."""
        if isinstance(self.trigger, CameraStatusTrigger):
            for action in self.actions:
                if isinstance(action, RaiseAlarm) and "title" not in action.model_fields_set:
                    action.title = CAMERA_STATUS_ALARM_TITLE
        return self

    @model_validator(mode="after")
    def _templates(self) -> RuleSpec:
        for i, action in enumerate(self.actions):
            for field in template_fields(type(action)):
                try:
                    _check_template(getattr(action, field))
                except ValueError as exc:
                    raise ValueError(f"actions.{i}.{field}: {exc}") from exc
        if sum(a.type == "raise_alarm" for a in self.actions) > 1:
            raise ValueError("a rule raises at most one alarm")
        return self


# ----- matching -----------------------------------------------------------------------------


def _camera_selected(
    filters: _Filters, camera_id: int | None, groups_of_camera: Sequence[int]
) -> bool:
    if not filters.cameras and not filters.camera_groups:
        return True
    if camera_id is None:
        return False
    return camera_id in filters.cameras or bool(set(filters.camera_groups) & set(groups_of_camera))


def mqtt_topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching: ``+`` is one level, a final ``#`` the rest (and the parent)."""
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(p) == len(t)


def trigger_matches(trigger: Trigger, event: Event, groups_of_camera: Sequence[int] = ()) -> bool:
    """Whether this event fires the trigger (conditions are checked apart)."""
    if isinstance(trigger, EventTrigger):
        if not any(fnmatch.fnmatchcase(event.type, p) for p in trigger.event_types):
            return False
        if trigger.zones and event.zone not in trigger.zones:
            return False
        if trigger.classes and (
            event.object is None or event.object.class_name not in trigger.classes
        ):
            return False
        if trigger.min_count is not None and (event.count or 0) < trigger.min_count:
            return False
        if not all(c.holds(event.attributes) for c in trigger.attributes):
            return False
        return _camera_selected(trigger, event.camera_id, groups_of_camera)
    if isinstance(trigger, CameraStatusTrigger):
        types = {camera_status_event_type(s) for s in trigger.statuses}
        return event.type in types and _camera_selected(trigger, event.camera_id, groups_of_camera)
    if isinstance(trigger, InputTrigger):
        return _input_matches(trigger, event)
    # Manual triggers are fired by id through the API, never by matching.
    return False


def _input_matches(trigger: InputTrigger, event: Event) -> bool:
    name = str(event.attributes.get("name", ""))
    if trigger.source == "mqtt":
        if event.type != INPUT_MQTT or not mqtt_topic_matches(trigger.name, name):
            return False
    elif trigger.source == "webhook":
        if event.type != INPUT_WEBHOOK or name != trigger.name:
            return False
    elif event.type != ACCESS_PREFIX + trigger.name:
        return False
    payload = event.attributes.get("payload")
    if trigger.match:
        if not isinstance(payload, Mapping):
            return False
        return all(payload.get(k) == v for k, v in trigger.match.items())
    return True


def is_manual(trigger: Trigger) -> bool:
    """Manual triggers fire through the API only."""
    return isinstance(trigger, ManualTrigger)


# ----- templates ----------------------------------------------------------------------------


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def template_values(
    *,
    rule: str,
    event: Event,
    camera_name: str | None,
    location: str | None,
    priority: int | None = None,
    category: str | None = None,
    alarm_id: int | None = None,
    local_time: datetime | None = None,
) -> dict[str, Any]:
    """The values a rule's templates may use, for one firing."""
    when = local_time or event.at
    return {
        "rule": rule,
        "type": event_label(event.type),
        "event_type": event.type,
        "status": camera_status_label(event.type) or "",
        "reason": event_reason(event),
        "camera": camera_name or (f"camera {event.camera_id}" if event.camera_id else "-"),
        "camera_id": event.camera_id if event.camera_id is not None else "",
        "location": location or "",
        "zone": event.zone or "",
        "object": event.object.class_name if event.object else "",
        "count": event.count if event.count is not None else "",
        "time": when.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
        "priority": PRIORITY_NAMES.get(priority, "") if priority else "",
        "category": category or "",
        "alarm_id": alarm_id if alarm_id is not None else "",
        "payload": event.attributes.get("payload", ""),
        "plate": event.attributes.get("plate") or "",
    }


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill a checked template; unknown names render empty rather than fail at send time."""
    return string.Formatter().vformat(template, (), _Blank(values))

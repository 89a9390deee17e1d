"""The behaviour registry: each behaviour's options, the events it emits and its rule.

A behaviour is one module in this package (or in an installed package, through the
``vigil.behaviours`` entry-point group) that calls :func:`register_behaviour` with a
:class:`BehaviourKind`: its options model (``type: Literal[key]``, declared once: types,
defaults, bounds, titles, descriptions), the event types it emits and the factory of its
rule (the state machine of ``base.Rule``). From the registry come the validation of a camera's
``behaviours`` (``CameraAnalyticsConfig``), the engine's rules (:func:`build_rule`) and the
schemas the analytics editor draws its form from (``GET /api/analytics/behaviours``).

Zone and line references are fields typed :data:`ZoneRef` / :data:`LineRef` (or
``ZoneRef | None``): the configuration checks they name a drawn zone or line, the editor offers
the drawn ones.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.analytics.behaviours.base import Rule
from vigil.domain.options import OptionsRegistry, tag_of
from vigil.plugins import import_plugins

if TYPE_CHECKING:
    from vigil.analytics.config import Line, Zone


PACKAGE = "vigil.analytics.behaviours"
ENTRY_POINT_GROUP = "vigil.behaviours"
NAME_PATTERN = r"^[A-Za-z0-9 _.\-]{1,60}$"
ZoneName = Annotated[str, Field(pattern=NAME_PATTERN)]
WIDGET = "x-widget"
ZoneRef = Annotated[
    str, Field(pattern=NAME_PATTERN, title="Zone", json_schema_extra={WIDGET: "zone"})
]
"""A field naming one of the camera's zones."""
LineRef = Annotated[
    str, Field(pattern=NAME_PATTERN, title="Line", json_schema_extra={WIDGET: "line"})
]
"""A field naming one of the camera's lines."""


class BehaviourOptions(BaseModel):
    """What every behaviour's options have; a behaviour subclasses it with ``type: Literal``."""

    model_config = ConfigDict(extra="forbid")
    type: str
    name: ZoneName | None = Field(None, description="shown in events; defaults to the type")
    classes: list[str] = Field(default_factory=list, description="empty: the type's default")
    time_profile_id: int | None = Field(None, description="only while this profile is active")

    def references(self) -> list[tuple[str, str]]:
        """The zones and lines it names: ("zone", name) and ("line", name) pairs (its
        ``ZoneRef`` and ``LineRef`` fields that are set; a speed trap names two lines)."""
        found: list[tuple[str, str]] = []
        for field, widget in widgets(type(self)).items():
            value = getattr(self, field)
            values = value if isinstance(value, list) else [value]
            if widget in ("zone", "line"):
                found.extend((widget, v) for v in values if isinstance(v, str))
        return found


@functools.cache
def widgets(model: type[BaseModel]) -> dict[str, str]:
    """The fields of a model with a special input (``x-widget``, also inside ``X | None``
    and as the items of a list: ``list[ZoneRef]``)."""
    found: dict[str, str] = {}
    for field, prop in model.model_json_schema().get("properties", {}).items():
        for candidate in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
            if isinstance(candidate.get(WIDGET), str):
                found[field] = candidate[WIDGET]
    return found


RuleFactory = Callable[[Any, "Mapping[str, Zone]", "Mapping[str, Line]"], Rule]
"""Builds a behaviour's rule from its options and the camera's zones and lines by name (the
names it references are checked to exist)."""


@dataclass(frozen=True)
class BehaviourKind:
    """One behaviour.

    Attributes:
        options: Its options model (``title`` is its label in the editor).
        rule: Builds its rule.
        events: The event types its hits carry (what rules can trigger on).
    """

    options: type[BehaviourOptions]
    rule: RuleFactory
    events: tuple[str, ...]

    @property
    def type(self) -> str:
        """The key in ``type``."""
        return tag_of(self.options)


_KINDS: dict[str, BehaviourKind] = {}
_LOAD_ERRORS: dict[str, str] = {}
_loaded = False


def load_behaviours() -> None:
    """Import every module of this package and the ``vigil.behaviours`` entry points (once);
    one that fails is listed by :func:`load_errors` instead of breaking the others."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # first: the modules' own lookups must not start this again
    import_plugins(PACKAGE, ENTRY_POINT_GROUP, _LOAD_ERRORS, "behaviour")


BEHAVIOURS: OptionsRegistry[BehaviourOptions] = OptionsRegistry("behaviour", load_behaviours)
"""Behaviour options models by type."""


def register_behaviour(kind: BehaviourKind) -> BehaviourKind:
    """Register a behaviour.

    Raises:
        ValueError: Another behaviour already has that type.
    """
    BEHAVIOURS.register(kind.options)
    _KINDS[kind.type] = kind
    return kind


def behaviour_kinds() -> dict[str, BehaviourKind]:
    """Every registered behaviour, by type."""
    load_behaviours()
    return dict(sorted(_KINDS.items()))


def load_errors() -> dict[str, str]:
    """Behaviour modules that failed to load, with the reason."""
    load_behaviours()
    return dict(_LOAD_ERRORS)


def build_rule(
    behaviour: BehaviourOptions, zones: Mapping[str, Zone], lines: Mapping[str, Line]
) -> Rule:
    """The rule of one configured behaviour.

    Raises:
        KeyError: Its type is not registered.
    """
    kind = behaviour_kinds().get(behaviour.type)
    if kind is None:
        raise KeyError(f"unknown behaviour type {behaviour.type!r}; known: {list(_KINDS)}")
    return kind.rule(behaviour, zones, lines)


def behaviour_label(behaviour: BehaviourOptions) -> str:
    """How a behaviour is named in events: its name, or its type."""
    return behaviour.name or re.sub(r"_", " ", behaviour.type)

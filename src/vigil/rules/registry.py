"""The action registry: each action type's options model and how its executor is built.

An action type is one module in ``vigil.rules.kinds`` (or in an installed package, through the
``vigil.actions`` entry-point group) that calls :func:`register_action` with an
:class:`ActionKind`: its options model (a pydantic model with ``type: Literal[key]``, declared
once: types, defaults, bounds, titles, descriptions) and a factory that builds its executor
from what a server offers (:class:`ExecutorContext`). From the registry come rule validation
(``vigil.domain.rules.ACTIONS``), the executors the dispatcher runs (:func:`build_executors`),
the schemas the web client draws its form from (:func:`action_schemas`), and which fields
are secrets kept encrypted (``writeOnly`` in the schema, see ``specs.py``).

Example (a "slack" action is this module plus its test)::

    class Slack(ActionOptions):
        model_config = ConfigDict(extra="forbid", title="Post to Slack")
        type: Literal["slack"] = "slack"
        webhook_url: AnyHttpUrl = Field(title="Incoming webhook URL")
        text: Template = Field("{rule} on {camera}", title="Text")

    def _executor(ctx: ExecutorContext) -> Executor | None:
        ...

    register_action(ActionKind(Slack, _executor))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigil.domain.options import tag_of
from vigil.domain.rules import ACTIONS, TEMPLATE_FIELDS, ActionOptions
from vigil.plugins import import_plugins
from vigil.rules.actions import Executor

if TYPE_CHECKING:
    import httpx

    from vigil.config import Settings
    from vigil.integrations.mqtt import MqttBridge
    from vigil.integrations.webpush import VapidKey
    from vigil.store.db import Database


KINDS_PACKAGE = "vigil.rules.kinds"
ENTRY_POINT_GROUP = "vigil.actions"


@dataclass(frozen=True)
class ExecutorContext:
    """What a server offers to build executors with. Only ``db`` is always there: a factory
    whose needs are missing returns None (its actions then fail with "no executor").

    Attributes:
        db: The database.
        http: The shared HTTP client (no redirects, Vigil's User-Agent), in a server.
        mqtt: The MQTT bridge, when MQTT is enabled.
        settings: The server's settings (SMTP, push...).
        vapid: The Web Push key.
    """

    db: Database
    http: httpx.AsyncClient | None = None
    mqtt: MqttBridge | None = None
    settings: Settings | None = None
    vapid: VapidKey | None = None


ExecutorFactory = Callable[[ExecutorContext], Executor | None]


@dataclass(frozen=True)
class ActionKind:
    """One action type.

    Attributes:
        options: Its options model (``type: Literal[key] = key``; ``title`` is its label).
        executor: Builds its executor; None for an action the rule's firing itself does
            (``raise_alarm``).
    """

    options: type[ActionOptions]
    executor: ExecutorFactory | None = None

    @property
    def type(self) -> str:
        """The key in ``type``."""
        return tag_of(self.options)


_KINDS: dict[str, ActionKind] = {}
_LOAD_ERRORS: dict[str, str] = {}
_loaded = False


def register_action(kind: ActionKind) -> ActionKind:
    """Register an action type (its options for validation, its executor for the dispatcher).

    Raises:
        ValueError: Another action already has that type.
    """
    ACTIONS.register(kind.options)
    _KINDS[kind.type] = kind
    return kind


def load_action_kinds() -> None:
    """Import every module of ``vigil.rules.kinds`` and the ``vigil.actions`` entry points
    (once); one that fails is listed by :func:`load_errors` instead of breaking the others."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # first: the modules' own lookups must not start this again
    import_plugins(KINDS_PACKAGE, ENTRY_POINT_GROUP, _LOAD_ERRORS, "action type")


ACTIONS.before_lookup = load_action_kinds


def action_kinds() -> dict[str, ActionKind]:
    """Every registered action type, by key."""
    load_action_kinds()
    return dict(sorted(_KINDS.items()))


def load_errors() -> dict[str, str]:
    """Action modules that failed to load, with the reason."""
    load_action_kinds()
    return dict(_LOAD_ERRORS)


def build_executors(context: ExecutorContext) -> dict[str, Executor]:
    """The executors of every action type that can run with what ``context`` offers."""
    found: dict[str, Executor] = {}
    for key, kind in action_kinds().items():
        executor = kind.executor(context) if kind.executor is not None else None
        if executor is not None:
            found[key] = executor
    return found


def action_schemas() -> dict[str, Any]:
    """What a client needs to draw an action's form: each type's JSON schema (``title`` is
    its label; ``x-template`` marks templates, ``writeOnly`` secrets, ``x-widget`` a special
    input), and the placeholders templates may use."""
    return {
        "actions": ACTIONS.schemas(),
        "template_fields": list(TEMPLATE_FIELDS),
        "load_errors": load_errors(),
    }

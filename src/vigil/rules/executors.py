"""The executors Vigil's core can run with a database only ("record", "bookmark", and any
registered action that needs nothing more). A server builds all of them, with its HTTP and
MQTT clients, in ``vigil.integrations.Integrations`` (see ``vigil.rules.registry``)."""

from __future__ import annotations

from vigil.rules.actions import Executor
from vigil.rules.registry import ExecutorContext, build_executors
from vigil.store.db import Database


def core_executors(db: Database) -> dict[str, Executor]:
    """The executors that need only this database."""
    return build_executors(ExecutorContext(db=db))

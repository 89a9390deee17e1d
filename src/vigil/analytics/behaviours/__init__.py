"""Behaviours: what tracked objects do in a camera's zones and across its lines.

One module per behaviour (its options, the events it emits and its rule: a small state machine
over the tracks), registered in ``registry.py``, and ``engine.py``, which runs a camera's
configured behaviours and is what the pipeline uses.

The engine is imported on first use: the analytics configuration imports the registry from
this package, and the engine imports the configuration.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.analytics.behaviours.base import BehaviourHit
    from vigil.analytics.behaviours.engine import BehaviourEngine

__all__ = ["BehaviourEngine", "BehaviourHit"]

_LAZY = {"BehaviourEngine": "engine", "BehaviourHit": "base"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Loading plugin modules: every module of a package plus an entry-point group.

Behaviours and rule actions register themselves when their module is imported; a module
that fails is recorded (shown to administrators) instead of taking the others down.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

log = logging.getLogger(__name__)


def import_plugins(package: str, group: str, errors: dict[str, str], what: str) -> None:
    """Import every module of ``package`` and every entry point of ``group``; a failure is
    put in ``errors`` (by module or entry-point name) and logged as ``what`` failing."""
    modules = importlib.import_module(package)
    for module in pkgutil.iter_modules(modules.__path__):
        try:
            importlib.import_module(f"{package}.{module.name}")
        except Exception as exc:  # a broken plugin must not take the others down
            errors[module.name] = f"{type(exc).__name__}: {exc}"
            log.exception("%s %s failed to load", what, module.name)
    for entry in entry_points(group=group):
        try:
            entry.load()
        except Exception as exc:
            errors[entry.name] = f"{type(exc).__name__}: {exc}"
            log.exception("%s plugin %s failed to load", what, entry.name)

"""Detector plugins, one module each, registered by key (see `base`).

Importing this package registers the built-in detectors and those of installed packages that
declare a ``vigil.detectors`` entry point; one that fails to load is listed by `load_errors`
with its reason instead of breaking the others.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from vigil.analytics.detectors.base import (
    Detector,
    DetectorConfig,
    DetectorContext,
    DetectorError,
    DetectorUnavailable,
    Frame,
    UnknownDetector,
    create_detector,
    detector_options,
    known_detectors,
    load_errors,
    parse_detector_config,
    record_load_error,
    register_detector,
)

BUILTIN = ("centernet", "nanodet", "motion")
ENTRY_POINT_GROUP = "vigil.detectors"


def _load_plugins() -> None:
    for name in BUILTIN:
        try:
            importlib.import_module(f"vigil.analytics.detectors.{name}")
        except Exception as exc:  # a broken plugin must not take the others down
            record_load_error(name, f"{type(exc).__name__}: {exc}")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as exc:
            record_load_error(entry.name, f"{type(exc).__name__}: {exc}")


_load_plugins()

__all__ = [
    "Detector",
    "DetectorConfig",
    "DetectorContext",
    "DetectorError",
    "DetectorUnavailable",
    "Frame",
    "UnknownDetector",
    "create_detector",
    "detector_options",
    "known_detectors",
    "load_errors",
    "parse_detector_config",
    "register_detector",
]

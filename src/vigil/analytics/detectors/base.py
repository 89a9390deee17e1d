"""Detector plugins: the contract, the errors, the registry and the shared options.

A detector is one module in this package: a key, a pydantic config with ``type: Literal[key]``
and a class registered with `register_detector`. The ``type`` in a camera's configuration picks
both the schema and the class (`create_detector`). Third-party packages add detectors through
the ``vigil.detectors`` entry-point group.

Example:
    >>> from vigil.analytics.detectors import create_detector
    >>> detector = create_detector({"type": "motion"}, models_dir=Path("/nonexistent"))
    >>> detector.key
    'motion'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigil.analytics.classes import CLASSES_OF_INTEREST, COCO_CLASSES
from vigil.analytics.detections import Detections

Frame = npt.NDArray[np.uint8]
"""A video frame: H x W x 3, uint8, BGR (OpenCV's and PyAV's ``bgr24`` order)."""


class DetectorError(RuntimeError):
    """Base of the errors a detector plugin raises."""


class DetectorUnavailable(DetectorError):
    """The detector cannot run now (model missing or corrupt, runtime failed): retry later."""


class UnknownDetector(DetectorError, ValueError):
    """The configuration names a detector that is not registered."""


class DetectorConfig(BaseModel):
    """Options every detector has. A plugin subclasses it with ``type: Literal[key]``."""

    model_config = ConfigDict(extra="forbid")

    type: str
    score_threshold: float = Field(
        0.3, ge=0.0, le=1.0, title="Minimum score", description="drop weaker detections"
    )
    classes: list[str] = Field(
        default_factory=lambda: list(CLASSES_OF_INTEREST), description="COCO names to report"
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        unknown = [n for n in value if n not in COCO_CLASSES]
        if unknown:
            raise ValueError(f"unknown class(es) {unknown}; known: {', '.join(COCO_CLASSES)}")
        return value


@dataclass(frozen=True)
class DetectorContext:
    """What a detector gets from its host besides its config."""

    models_dir: Path
    intra_op_threads: int = 1


@runtime_checkable
class Detector(Protocol):
    """Finds objects in one frame.

    A detector may also have ``stateless = True`` (class attribute): it looks at each frame on
    its own, so the pipeline may skip frames while the scene is calm. Without it (a detector
    that compares frames, like ``motion``) every moving frame is given to it.
    """

    key: str

    def detect(self, frame: Frame) -> Detections:
        """Detect objects.

        Args:
            frame: H x W x 3 uint8 BGR image.

        Returns:
            Detections in pixels of ``frame``, filtered by class and score.
        """
        ...


class DetectorPlugin(Protocol):
    """A registered detector class: its key, its config model and its constructor."""

    key: ClassVar[str]
    config_model: ClassVar[type[DetectorConfig]]

    def __call__(self, config: Any, context: DetectorContext) -> Detector: ...


_REGISTRY: dict[str, type[Any]] = {}
_LOAD_ERRORS: dict[str, str] = {}

P = TypeVar("P", bound=type[Any])


def register_detector(cls: P) -> P:
    """Class decorator: register a detector under its ``key``.

    Raises:
        ValueError: Another detector already has that key.
    """
    key: str = cls.key
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise ValueError(f"detector key {key!r} is registered twice")
    _REGISTRY[key] = cls
    return cls


def record_load_error(name: str, reason: str) -> None:
    """Remember a plugin that failed to load, so that the status API can show why."""
    _LOAD_ERRORS[name] = reason


def load_errors() -> dict[str, str]:
    """Plugins that failed to load, by name, with their reason."""
    return dict(_LOAD_ERRORS)


def known_detectors() -> list[str]:
    """Keys of all registered detectors, sorted."""
    return sorted(_REGISTRY)


def detector_options(key: str) -> dict[str, Any]:
    """The JSON schema of a detector's options (what an editor can offer), without its
    ``type``.

    Raises:
        UnknownDetector: No detector has that ``key``.
    """
    schema = _plugin(key).config_model.model_json_schema()
    schema.get("properties", {}).pop("type", None)
    return schema


def _plugin(key: str) -> DetectorPlugin:
    try:
        # register_detector takes any class so that a plugin's own config type checks.
        return cast(DetectorPlugin, _REGISTRY[key])
    except KeyError:
        broken = f"; failed to load: {_LOAD_ERRORS}" if _LOAD_ERRORS else ""
        raise UnknownDetector(
            f"unknown detector {key!r}; known: {', '.join(known_detectors())}{broken}"
        ) from None


def parse_detector_config(raw: Mapping[str, Any] | DetectorConfig) -> DetectorConfig:
    """Validate a detector configuration with the schema its ``type`` names.

    Raises:
        UnknownDetector: No detector has that ``type``.
        ValueError: The options do not fit the detector's schema (pydantic's message).
    """
    if isinstance(raw, DetectorConfig):
        return raw
    key = raw.get("type")
    if not isinstance(key, str):
        raise UnknownDetector(f"detector config needs a 'type'; known: {known_detectors()}")
    try:
        return _plugin(key).config_model.model_validate(dict(raw))
    except ValidationError as exc:
        raise ValueError(f"invalid options for detector {key!r}: {exc}") from exc


def create_detector(
    config: Mapping[str, Any] | DetectorConfig,
    *,
    models_dir: Path,
    intra_op_threads: int = 1,
) -> Detector:
    """Build the detector a configuration names.

    Args:
        config: ``{"type": key, ...options}`` or a validated config.
        models_dir: Folder of the model files.
        intra_op_threads: Threads one inference may use (1 per camera pipeline is typical).

    Returns:
        A ready detector.

    Raises:
        UnknownDetector: No detector has that ``type`` (the message lists the known ones).
        DetectorUnavailable: Its model is missing or unusable (the message says what to do).
    """
    parsed = parse_detector_config(config)
    plugin = _plugin(parsed.type)
    return plugin(parsed, DetectorContext(models_dir, intra_op_threads))

"""Messages that travel on the bus between processes: named, versioned models."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from vigil.domain.cameras import CameraStatus


class BusMessage(BaseModel):
    """Base of every bus message; ``kind`` and ``version`` name the schema."""

    kind: ClassVar[str]
    version: ClassVar[int] = 1


class CameraStatusChanged(BusMessage):
    """A camera's ingest went online, offline, or changed in some other way."""

    kind: ClassVar[str] = "camera.status"

    camera_id: int
    status: CameraStatus
    node: str
    at: datetime
    error: str | None = None

    @staticmethod
    def subject(camera_id: int) -> str:
        """The bus subject for this camera's status changes."""
        return f"cameras.{camera_id}.status"


class CamerasChanged(BusMessage):
    """Camera configuration was added, changed or removed; recorders reload it."""

    kind: ClassVar[str] = "cameras.changed"

    camera_id: int
    change: str  # "created" | "updated" | "deleted"

    SUBJECT: ClassVar[str] = "config.cameras"


class RulesChanged(BusMessage):
    """Rules, time profiles or camera groups changed on one server: every server's rules
    engine reads them again."""

    kind: ClassVar[str] = "rules.changed"

    SUBJECT: ClassVar[str] = "config.rules"


class AnalyticsConfigChanged(BusMessage):
    """A camera's analytics configuration was saved: its recorder restarts that camera's
    analytics pipeline (never its recording)."""

    kind: ClassVar[str] = "analytics.config_changed"

    camera_id: int

    SUBJECT: ClassVar[str] = "config.analytics"

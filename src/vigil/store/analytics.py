"""Cameras' analytics configurations (``camera_analytics``: one JSON document per camera)."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from vigil.analytics.config import CameraAnalyticsConfig
from vigil.store.db import Database
from vigil.store.models import CameraAnalytics
from vigil.store.types import utcnow

log = logging.getLogger(__name__)


def get_config(db: Database, camera_id: int) -> CameraAnalyticsConfig:
    """A camera's analytics configuration; the defaults (analytics off) when none is stored.

    A stored document that no longer validates (an older schema) also gives the defaults,
    with a warning, so that the camera records on and the editor can save a new one.
    """
    with db.session() as s:
        row = s.get(CameraAnalytics, camera_id)
        raw = dict(row.config) if row is not None else None
    if raw is None:
        return CameraAnalyticsConfig()
    try:
        return CameraAnalyticsConfig.model_validate(raw)
    except ValidationError as exc:
        log.warning("camera %s: stored analytics configuration is invalid: %s", camera_id, exc)
        return CameraAnalyticsConfig()


def save_config(db: Database, camera_id: int, config: CameraAnalyticsConfig) -> None:
    """Store a camera's analytics configuration (replacing the previous one)."""
    document = config.model_dump(mode="json")
    with db.session() as s:
        row = s.get(CameraAnalytics, camera_id)
        if row is None:
            s.add(CameraAnalytics(camera_id=camera_id, config=document))
        else:
            row.config = document
            row.updated_at = utcnow()

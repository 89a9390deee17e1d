"""Cameras' privacy masks in the database (``cameras.privacy_masks``, a JSON list).

Masks fail closed: a stored mask that no longer validates (written by hand, or by an
older schema) is read as the whole frame, with a warning, so that nothing it hid shows
until an administrator saves the camera's masks again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update

from vigil.domain.privacy import PrivacyMask, dump_masks, parse_masks
from vigil.store.db import Database
from vigil.store.models import Camera

log = logging.getLogger(__name__)

WHOLE_FRAME = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


def masks_of(camera: Camera) -> list[PrivacyMask]:
    """A camera row's masks (see the module docstring for unreadable ones)."""
    return read_masks(camera.id, camera.privacy_masks)


def read_masks(camera_id: int, raw: Sequence[Any] | None) -> list[PrivacyMask]:
    """Stored masks as models; an unreadable one becomes the whole frame."""
    try:
        return parse_masks(raw)
    except ValidationError:
        pass
    masks = []
    for index, item in enumerate(raw or []):
        try:
            masks.append(PrivacyMask.model_validate(item))
        except ValidationError as exc:
            log.warning(
                "camera %s: stored privacy mask %d is invalid (%s); hiding the whole frame "
                "until the camera's masks are saved again",
                camera_id,
                index,
                exc.errors()[0]["msg"],
            )
            masks.append(PrivacyMask(name=f"unreadable mask {index}", points=list(WHOLE_FRAME)))
    return masks


def get_masks(db: Database, camera_id: int) -> list[PrivacyMask] | None:
    """A camera's masks; None when the camera does not exist."""
    with db.session() as s:
        camera = s.get(Camera, camera_id)
        return masks_of(camera) if camera is not None else None


def save_masks(db: Database, camera_id: int, masks: Sequence[PrivacyMask]) -> bool:
    """Replace a camera's masks; False when the camera does not exist.

    ``updated_at`` is set to itself: the recorder restarts a camera's ingest when that
    changes, and a mask change must not interrupt recording (it is applied live)."""
    with db.session() as s:
        result = s.execute(
            update(Camera)
            .where(Camera.id == camera_id)
            .values(privacy_masks=dump_masks(masks), updated_at=Camera.updated_at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

"""Evidence images of the analytics: event snapshots (the frame with the object's box drawn)
and track thumbnails (a crop of the object), written under the data directory.

Paths stored in events and tracks are relative to the data directory:
``snapshots/<camera>/<YYYY-MM-DD>/<event id>.jpg`` and
``thumbnails/<camera>/<YYYY-MM-DD>/<first seen>-<track id>.jpg``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]

JPEG_QUALITY = 85
BOX_COLOUR = (0, 0, 255)  # BGR red
THUMBNAIL_MAX_PX = 160
CROP_MARGIN = 0.1
"""Share of the box's size added around a crop."""


def encode_jpeg(image: Image, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a BGR image.

    Raises:
        ValueError: OpenCV could not encode it.
    """
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def write_jpeg(data_dir: Path, relative: Path, data: bytes) -> str:
    """Write an encoded image under ``data_dir`` (whole or not at all); returns its path
    relative to it."""
    return _write(data_dir, relative, data)


def _write(data_dir: Path, relative: Path, data: bytes) -> str:
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)  # readers never see half a file
    return relative.as_posix()


def snapshot_path(camera_id: int, at: datetime, event_id: str) -> Path:
    """Where an event's snapshot goes, relative to the data directory."""
    return Path("snapshots") / str(camera_id) / at.strftime("%Y-%m-%d") / f"{event_id}.jpg"


def write_snapshot(
    data_dir: Path,
    *,
    camera_id: int,
    at: datetime,
    event_id: str,
    frame: Image,
    box: Box | None,
    label: str | None = None,
) -> str:
    """Write an event's snapshot: ``frame`` with ``box`` (pixels) drawn and labelled.

    Returns:
        The path relative to ``data_dir``.
    """
    image = frame.copy()
    if box is not None:
        draw_box(image, box, label)
    return _write(data_dir, snapshot_path(camera_id, at, event_id), encode_jpeg(image))


def draw_box(image: Image, box: Box, label: str | None = None) -> None:
    """Draw a box (pixels) and its label on ``image`` in place."""
    height, width = image.shape[:2]
    thickness = max(2, round(min(width, height) / 200))
    x1, y1, x2, y2 = (round(v) for v in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
    if label:
        scale = max(0.4, min(width, height) / 720)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(0, y1 - th - base - 2)
        cv2.rectangle(image, (x1, top), (x1 + tw + 4, top + th + base + 2), BOX_COLOUR, -1)
        cv2.putText(
            image, label, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255)
        )


def crop(frame: Image, box: Box, max_px: int = THUMBNAIL_MAX_PX) -> Image | None:
    """A copy of the object in ``box`` (pixels) with a small margin, at most ``max_px`` on its
    longer side; None when the box is empty."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(width, int(np.ceil(x2 + mx))), min(height, int(np.ceil(y2 + my)))
    if right - left < 2 or bottom - top < 2:
        return None
    piece = frame[top:bottom, left:right]
    scale = max_px / max(piece.shape[:2])
    if scale < 1:
        small = cv2.resize(piece, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(small, dtype=np.uint8)
    return piece.copy()


def write_thumbnail(
    data_dir: Path, *, camera_id: int, first_at: datetime, track_id: int, image: Image
) -> str:
    """Write a track's thumbnail; returns its path relative to ``data_dir``."""
    relative = (
        Path("thumbnails")
        / str(camera_id)
        / first_at.strftime("%Y-%m-%d")
        / f"{first_at.strftime('%H%M%S%f')}-{track_id}.jpg"
    )
    return _write(data_dir, relative, encode_jpeg(image))

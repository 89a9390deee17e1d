"""The reference face of a data-subject request: an uploaded photo of the subject, checked
(size, type by its bytes, dimensions read from its header before anything is decoded) and
turned into the face descriptor the search compares with. It must show exactly one face.
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import cv2
import numpy as np

from vigil.privacy.files import PRIVACY_DIR, write_atomic

MAX_REFERENCE_BYTES = 5 * 1024 * 1024
MAX_REFERENCE_PIXELS = 40_000_000  # a 5 MB PNG could otherwise unpack to gigabytes
TYPES = {"image/jpeg": "jpg", "image/png": "png"}
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, ...), not DHT/JPG/DAC.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ReferenceImageError(ValueError):
    """The uploaded reference image cannot be used (the message says why and what to do)."""


def image_type(data: bytes, content_type: str | None) -> str:
    """The file extension of an accepted image, from its bytes; the declared type must agree.

    Raises:
        ReferenceImageError: Too large, empty, not JPEG or PNG, or declared as another type.
    """
    if not data:
        raise ReferenceImageError("the reference image is empty")
    if len(data) > MAX_REFERENCE_BYTES:
        raise ReferenceImageError(
            f"the reference image is larger than {MAX_REFERENCE_BYTES // (1024 * 1024)} MB: "
            "send a smaller photo"
        )
    if data.startswith(JPEG_MAGIC):
        found = "image/jpeg"
    elif data.startswith(PNG_MAGIC):
        found = "image/png"
    else:
        raise ReferenceImageError("the reference image must be a JPEG or PNG photo")
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared not in ("", "application/octet-stream", found):
        raise ReferenceImageError(f"the file is declared as {declared} but is {found}")
    width, height = image_size(data)
    if width * height > MAX_REFERENCE_PIXELS:
        raise ReferenceImageError(
            f"the reference image is {width}x{height} pixels: at most "
            f"{MAX_REFERENCE_PIXELS // 1_000_000} megapixels"
        )
    return TYPES[found]


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's or PNG's header.

    Raises:
        ReferenceImageError: The header is cut off or malformed.
    """
    if data.startswith(PNG_MAGIC):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ReferenceImageError("the PNG header is damaged")
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    raise ReferenceImageError("the JPEG header is damaged: no image size found")


def face_descriptor(data: bytes) -> list[float]:
    """The descriptor of the one face in a checked image.

    Raises:
        ReferenceImageError: It does not decode, or shows no face or several faces.
        FacesUnavailable: dlib or its models are not installed.
    """
    return one_face(data)[0]


def one_face(data: bytes, what: str = "the reference image") -> tuple[list[float], bytes]:
    """The descriptor of the one face in a checked image, and that face cut out (JPEG).

    Raises:
        ReferenceImageError: It does not decode, or shows no face or several faces (the
            message names the image as ``what``).
        FacesUnavailable: dlib or its models are not installed.
    """
    from vigil.analytics import faces  # dlib models: loaded only when a face is given

    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ReferenceImageError(f"{what} cannot be decoded (damaged file?)")
    image = np.asarray(decoded, dtype=np.uint8)
    boxes = faces.find_faces(image)
    if not boxes:
        raise ReferenceImageError(
            f"no face found in {what}: use a sharp, frontal photo of the person"
        )
    if len(boxes) > 1:
        raise ReferenceImageError(
            f"{len(boxes)} faces in {what}: use a photo of the person alone, or crop it"
        )
    box = boxes[0]
    descriptor = [float(v) for v in faces.describe_face(image, box)]
    margin_x, margin_y = box.width // 4, box.height // 4
    crop = image[
        max(0, box.y1 - margin_y) : box.y2 + margin_y, max(0, box.x1 - margin_x) : box.x2 + margin_x
    ]
    ok, jpeg = cv2.imencode(".jpg", crop)
    return descriptor, jpeg.tobytes() if ok else b""


def save_reference(data_dir: Path, data: bytes, extension: str) -> str:
    """Keep the photo under the data directory until the request closes; returns its path
    relative to the data directory."""
    relative = Path(PRIVACY_DIR) / "references" / f"{uuid.uuid4().hex}.{extension}"
    write_atomic(data_dir / relative, data)
    return relative.as_posix()

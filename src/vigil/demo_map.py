"""The demo's site plan: a drawn floor plan and where the demo's cameras stand on it, so
that the map shows the product on a first run (no picture or tile server needed)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

PLAN_NAME = "Demo site"
PLAN_SIZE = (1200, 750)
# Rooms of the drawn plan: name and box (pixels).
ROOMS: list[tuple[str, tuple[int, int, int, int]]] = [
    ("Entrance hall", (60, 60, 520, 380)),
    ("Car park", (560, 60, 1140, 380)),
    ("Bicycle store", (60, 420, 520, 690)),
    ("Street", (560, 420, 1140, 690)),
]
# Where each camera goes, in turn (x, y as fractions; heading and field of view in degrees).
SPOTS: list[dict[str, float]] = [
    {"x": 0.1, "y": 0.12, "heading": 135, "fov": 80},
    {"x": 0.5, "y": 0.12, "heading": 200, "fov": 70},
    {"x": 0.1, "y": 0.9, "heading": 45, "fov": 90},
    {"x": 0.9, "y": 0.9, "heading": 315, "fov": 60},
    {"x": 0.9, "y": 0.12, "heading": 225, "fov": 60},
    {"x": 0.5, "y": 0.9, "heading": 0, "fov": 60},
]


def draw_plan() -> bytes:
    """The demo's floor plan as a PNG."""
    picture = Image.new("RGB", PLAN_SIZE, (226, 230, 236))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=28)
    for name, box in ROOMS:
        draw.rectangle(box, fill=(245, 246, 248), outline=(90, 98, 110), width=6)
        draw.text((box[0] + 20, box[1] + 16), name, fill=(60, 66, 76), font=font)
    for x in (300, 820):  # doors
        draw.rectangle((x - 40, 374, x + 40, 426), fill=(245, 246, 248))
    return _png(picture)


def _png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()

"""Generated clips for analytics tests: a flat scene, with or without a moving box; a
vehicle with a licence plate driving through."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

BOX_START_X = 40
BOX_SPEED_PX_S = 100
BOX_Y, BOX_W, BOX_H = 140, 60, 120


def scene_clip(
    path: Path, *, seconds: float = 9, moving_until: float | None = 5, fps: int = 25
) -> Path:
    """A 640x360 H.264 clip (keyframe every second, no B-frames, 400 kbit/s constant) of a
    flat grey scene.

    With ``moving_until``, a white 60x120 box crosses it from left to right at
    ``BOX_SPEED_PX_S`` (x = 40 + 100 t, y 140..260) and vanishes at that time.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    scene = f"color=c=0x404040:s=640x360:r={fps}:d={seconds}"
    if moving_until is not None:
        box = f"color=c=white:s={BOX_W}x{BOX_H}:r={fps}:d={seconds}"
        x = f"{BOX_START_X}+t*{BOX_SPEED_PX_S}"
        overlay = f"overlay=x='{x}':y={BOX_Y}:enable='lt(t,{moving_until})'"
        graph = f"{scene}[bg];{box}[box];[bg][box]{overlay}"
    else:
        graph = scene
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", graph),
            *("-c:v", "libx264", "-preset", "ultrafast", "-g", str(fps), "-keyint_min", str(fps)),
            *("-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p"),
            # Constant bit rate (filler data): a flat scene costs almost no bits otherwise,
            # unlike a camera's noisy picture.
            *("-b:v", "400k", "-minrate", "400k", "-maxrate", "400k", "-bufsize", "400k"),
            *("-x264-params", "nal-hrd=cbr", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path


PLATE = "CA 1234 AB"
CAR_W, CAR_H = 240, 130
CAR_SPEED_PX_S = 70
CAR_GONE_S = 6.0


def _car_image(path: Path) -> Path:
    """A textured vehicle-sized block with a white plate reading ``PLATE`` at its bottom."""
    rng = np.random.default_rng(7)
    car = cv2.resize(
        rng.integers(40, 120, (13, 24, 3), dtype=np.uint8),
        (CAR_W, CAR_H),
        interpolation=cv2.INTER_NEAREST,
    )
    plate = np.full((40, 170, 3), 255, np.uint8)
    cv2.rectangle(plate, (0, 0), (169, 39), (0, 0, 0), 2)
    cv2.putText(plate, PLATE, (8, 30), cv2.FONT_HERSHEY_DUPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    x, y = (CAR_W - 170) // 2, CAR_H - 40 - 10
    car[y : y + 40, x : x + 170] = plate
    cv2.imwrite(str(path), car)
    return path


def plate_car_clip(path: Path) -> Path:
    """9 s at 25 fps, 640 x 360, keyframe every second, no B-frames: the vehicle drives in
    from the left at ``CAR_SPEED_PX_S`` and is gone after ``CAR_GONE_S``; then the empty
    street (its track ends)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    car = _car_image(path.with_suffix(".png"))
    scene = "color=c=0x505050:s=640x360:r=25:d=9"
    x = f"10+t*{CAR_SPEED_PX_S}"
    graph = f"{scene}[bg];[1:v]format=rgb24[car];[bg][car]overlay=x='{x}':y=180:" + (
        f"enable='lt(t,{CAR_GONE_S})'"
    )
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", scene),
            *("-loop", "1", "-i", str(car), "-filter_complex", graph, "-t", "9"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-g", "25", "-bf", "0"),
            *("-pix_fmt", "yuv420p", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path

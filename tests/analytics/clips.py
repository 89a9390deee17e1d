"""Generated clips for analytics tests: a flat scene, with or without a moving box."""

from __future__ import annotations

import subprocess
from pathlib import Path

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

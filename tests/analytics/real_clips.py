"""Composite clips from the real ones in ../shared/media, for left-object tests.

Intel's "one-by-one person detection" clip (768x432, 10 fps) shows people who, one at a
time, walk up to a standing table, stay there, and walk off to the right. Into it a real
object is set down: a water bottle cut from Intel's "bottle detection" clip, pasted on the
floor beside the person at the table from a given moment on. Frames of the empty scene from
later in the same clip (ping-pong, so that nothing jumps) extend it where the test needs the
scene to stay empty.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media" / "intel-sample-videos"
PEOPLE = MEDIA / "one-by-one-person-detection.mp4"
BOTTLES = MEDIA / "bottle-detection.mp4"
FPS = 10
# Seconds of the people clip: the first person stands at the table from 8 s and has walked
# out of the picture at 20 s; nobody is in it from 88 s to 92 s; the fifth person
# arrives at 94 s and stands at the table from 95 s to 117 s.
FIRST_GONE = 20.0
EMPTY = (88.0, 92.0)
FIFTH_ARRIVES, FIFTH_STANDS = 94.0, (95.0, 117.0)
SET_DOWN_AT = (300, 300)  # x, y of the bottle's top left: on the floor, left of the table
BOTTLE_SIZE = (40, 110)  # width, height in the people clip's pixels


def bottle() -> np.ndarray:
    """A water bottle standing on a table, from the first frame of the bottles clip."""
    with av.open(str(BOTTLES)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    return cv2.resize(frame[105:315, 50:125], BOTTLE_SIZE, interpolation=cv2.INTER_AREA)


def _frames(start_s: float, end_s: float) -> list[np.ndarray]:
    """The people clip's frames in [start_s, end_s)."""
    first, last = round(start_s * FPS), round(end_s * FPS)
    out = []
    with av.open(str(PEOPLE)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= last:
                break
            if i >= first:
                out.append(frame.to_ndarray(format="bgr24"))
    return out


def left_object_clip(
    path: Path,
    *,
    scene: tuple[float, float],
    hold: tuple[float, float],
    hold_s: float,
    set_down_s: float,
) -> Path:
    """The people clip's ``scene`` (seconds from, to), then ``hold_s`` seconds of its
    ``hold`` part played back and forth (a scene that stays as it is: empty, or someone
    standing at the table), with the bottle on the floor from ``set_down_s`` (seconds of
    the composite) on."""
    if path.exists():
        return path
    frames = _frames(*scene)
    loop = _frames(*hold)
    loop = loop + loop[::-1]
    frames += [loop[i % len(loop)] for i in range(round(hold_s * FPS))]
    item = bottle()
    x, y = SET_DOWN_AT
    w, h = BOTTLE_SIZE
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"g": str(FPS), "bf": "0", "preset": "veryfast", "crf": "20"}
        for i, image in enumerate(frames):
            if i >= set_down_s * FPS:
                image = image.copy()
                image[y : y + h, x : x + w] = item
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path

"""Cost of searching recordings for a data subject (``privacy/subject_search.py``): decoding
about one frame a second, then looking for plates (OCR) and faces (dlib HOG) in each.

Generates a clip (testsrc2 with a drawn plate, H.264, a keyframe every ``--gop`` seconds),
samples it as a search does, and prints per-frame times and how long a camera-hour of
footage takes to search, one core. Prints figures only; exit code 0.

    .venv/bin/python bench/subject_search.py --seconds 60 --height 720
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.privacy.subject_search import FaceMatcher, PlateMatcher, sample_frames


def make_clip(path: Path, *, seconds: int, height: int, gop_s: float, fps: int = 25) -> None:
    width = height * 16 // 9
    source = f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"
    with av.open(source, format="lavfi") as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        gop = str(round(gop_s * fps))
        stream.options = {"g": gop, "keyint_min": gop, "sc_threshold": "0", "bf": "0"}
        stream.options |= {"preset": "ultrafast"}
        for index, frame in enumerate(src.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            x, y = width // 3, height * 2 // 3
            cv2.rectangle(image, (x, y), (x + 240, y + 56), (255, 255, 255), -1)
            cv2.putText(image, "KA 482 BX", (x + 14, y + 42), cv2.FONT_HERSHEY_DUPLEX, 1.3, 0, 3)
            picture = av.VideoFrame.from_ndarray(image, format="bgr24")
            picture.pts = index
            out.mux(stream.encode(picture))
        out.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--gop", type=float, default=1.0, help="seconds between keyframes")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(clip, seconds=opts.seconds, height=opts.height, gop_s=opts.gop)
        start = datetime.now(UTC)
        window = {"start": start, "end": start + timedelta(seconds=opts.seconds)}
        t0 = time.process_time()
        frames = [image for _, image in sample_frames(clip, start, **window)]
        decode = time.process_time() - t0

    plates = PlateMatcher("KA 482 BX")
    plates(frames[0])  # load the OCR models outside the measurement
    t0 = time.process_time()
    found = sum(len(plates(image)) for image in frames)
    plate_s = (time.process_time() - t0) / len(frames)

    faces = FaceMatcher(np.zeros(128, dtype=np.float32), 0.6)
    faces(frames[0])
    t0 = time.process_time()
    for image in frames:
        faces(image)
    face_s = (time.process_time() - t0) / len(frames)

    hour = 3600 / opts.seconds * len(frames)  # frames sampled from one camera-hour
    print(f"clip: {opts.seconds} s at {opts.height}p, keyframe every {opts.gop} s")
    print(f"sampled frames: {len(frames)}; plate found in {found}")
    print(f"decode + BGR: {decode / len(frames) * 1000:.1f} ms CPU per sampled frame")
    print(f"plates: {plate_s * 1000:.0f} ms CPU per frame")
    print(f"faces:  {face_s * 1000:.0f} ms CPU per frame")
    print(
        f"one camera-hour, one core: plates {hour * plate_s / 60:.1f} min, "
        f"faces {hour * face_s / 60:.1f} min, decoding {hour * decode / len(frames) / 60:.2f} min"
    )


if __name__ == "__main__":
    main()

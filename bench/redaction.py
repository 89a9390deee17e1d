"""Redaction benchmark: how many faces and plates a redacted export blurs, and its speed.

On ../shared/media (skips what is missing; exit code 0 whatever the figures):

- Faces, face_recognition examples. Each photograph becomes a 10-frame clip (640 px wide,
  panning) and the Hamilton clip (640x360, 275 frames) is taken as it is. These sets carry
  identities and face counts, not boxes: the reference faces of a frame are those dlib's HOG
  finds in the original at twice its size (the strongest setting, stronger than redaction's
  own), checked against the counts of NOTES.md for the photographs. A face is blurred when
  the variance of the Laplacian in its box fell below 20 % of the original's. Also counted:
  faces HOG still finds in the redacted frames, and faces there whose descriptor matches the
  photographed person (identity leaks).
- Plates, OpenALPR EU (108 photographs, one plate each, box and text). Found: a plate box with
  IoU > 0.4 against the truth, in the whole frame and in vehicle crops; read: `read_plate` on
  the true box equals the truth exactly / by `plates_match`; blurred: each photograph as a
  2-frame clip through `redact_clip`, the true box's sharpness below 20 %, and the redacted
  plate no longer read as the truth.
- Seconds per frame of `redact_clip` on the Hamilton clip, with and without the object
  detector (../shared/models/nanodet.onnx), and each analysis step on its frames.

    nice .venv/bin/python bench/redaction.py [--limit 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from vigil.analytics.boxes import Box
from vigil.analytics.detectors import Detector
from vigil.analytics.faces import SAME_PERSON_DISTANCE, describe_face, face_distance, find_faces
from vigil.analytics.plates import find_and_read_plates, plates_match, read_plate
from vigil.privacy.redaction import load_object_detector, redact_clip

SHARED = Path(__file__).resolve().parents[2] / "shared"
FACES = SHARED / "media" / "face_recognition-examples" / "examples"
PLATES = SHARED / "media" / "openalpr-eu" / "eu"
MODELS = SHARED / "models"
BLURRED = 0.2
"""A region counts as blurred when its sharpness fell below this share of the original's."""
BLURRED_SOFT = 0.35
"""The same for faces already out of focus (little sharpness to lose: 20 % is too strict)."""

# Face counts and identities from NOTES.md (file name -> people in it).
PHOTOS: dict[str, list[str]] = {
    "obama.jpg": ["obama"],
    "obama2.jpg": ["obama"],
    "obama-480p.jpg": ["obama"],
    "obama-720p.jpg": ["obama"],
    "obama_small.jpg": ["obama"],
    "biden.jpg": ["biden"],
    "two_people.jpg": ["obama", "biden"],
    "knn_examples/test/alex_lacamoire1.jpg": ["alex"],
    "knn_examples/test/johnsnow_test1.jpg": ["kit"],
    "knn_examples/test/kit_with_rose.jpg": ["kit", "rose"],
    "knn_examples/test/obama1.jpg": ["obama"],
    "knn_examples/test/obama_and_biden.jpg": ["obama", "biden"],
}
GALLERY = {
    "obama": "obama.jpg",
    "biden": "biden.jpg",
    "alex": "alex-lacamoire.png",
    "kit": "knn_examples/train/kit_harington",
    "rose": "knn_examples/train/rose_leslie",
}

console = Console(width=150)
Frame = np.ndarray


def sharpness(region: Frame) -> float:
    grey = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var()) if grey.size else 0.0


def crop(frame: Frame, box: Box) -> Frame:
    return frame[box.y1 : box.y2, box.x1 : box.x2]


def decoded(path: Path) -> list[Frame]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def still_clip(image: Path, out: Path, frames: int, width: int | None, pan: bool) -> Path:
    scale = f"scale={width + 40 if pan else width}:-2," if width else "scale=trunc(iw/2)*2:-2,"
    move = f"crop={width}:ih:x='min(t*40,40)':y=0," if pan and width else ""
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-loop", "1", "-framerate", "25"),
            *("-i", str(image), "-vf", f"{scale}{move}format=yuv420p"),
            *("-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast", str(out)),
        ],
        check=True,
        capture_output=True,
    )
    return out


def gallery() -> dict[str, list[np.ndarray]]:
    """Descriptors of each person, from their enrolment photographs."""
    people: dict[str, list[np.ndarray]] = {}
    for person, where in GALLERY.items():
        path = FACES / where
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        for file in files:
            image = cv2.imread(str(file))
            if image is None:
                continue
            faces = find_faces(image)
            if faces:
                people.setdefault(person, []).append(describe_face(image, faces[0]))
    return people


class FaceTally:
    """Reference faces, blurred ones, and what can still be found after redaction."""

    def __init__(self) -> None:
        self.reference = self.blurred = self.soft = self.found_after = self.identity_leaks = 0

    def frame(self, before: Frame, after: Frame, people: list[np.ndarray] | None) -> None:
        for box in find_faces(before, upsample=1):
            self.reference += 1
            ratio = sharpness(crop(after, box)) / max(sharpness(crop(before, box)), 1e-6)
            self.blurred += ratio < BLURRED
            self.soft += ratio < BLURRED_SOFT
        left = find_faces(after, upsample=1)
        self.found_after += len(left)
        for box in left if people else []:
            vector = describe_face(after, box)
            self.identity_leaks += any(
                face_distance(vector, p) < SAME_PERSON_DISTANCE for p in people or []
            )

    def row(self, name: str, table: Table, extra: str = "") -> None:
        n = max(self.reference, 1)
        table.add_row(
            name,
            str(self.reference),
            f"{self.blurred} ({self.blurred / n:.1%})",
            f"{self.soft} ({self.soft / n:.1%})",
            str(self.found_after),
            str(self.identity_leaks),
            extra,
        )


def bench_faces(work: Path, detector: Detector | None, label: str) -> None:
    table = Table(title=f"faces ({label})")
    columns = ("set", "reference faces", "blurred <20%", "<35%", "found after", "identity leaks")
    for column in (*columns, "notes"):
        table.add_column(column)
    known = gallery()
    photos, counted, expected = FaceTally(), 0, 0
    for name, people in PHOTOS.items():
        src = still_clip(FACES / name, work / "photo.mp4", 10, 640, pan=True)
        report = redact_clip(src, work / "photo-red.mp4", plates=False, detector=detector)
        before, after = decoded(src), decoded(work / "photo-red.mp4")
        vectors = [v for p in people for v in known.get(p, [])]
        for a, b in zip(before, after, strict=True):
            photos.frame(a, b, vectors)
        expected += len(people)
        counted += min(report.faces_blurred, len(people))
    photos.row(
        "photographs (10 frames each)",
        table,
        f"NOTES counts: {expected} faces; tracks blurred covering them: {counted}",
    )
    clip = FACES / "short_hamilton_clip.mp4"
    if clip.is_file():
        started = time.perf_counter()
        report = redact_clip(clip, work / "hamilton-red.mp4", plates=False, detector=detector)
        hamilton = FaceTally()
        for a, b in zip(decoded(clip), decoded(work / "hamilton-red.mp4"), strict=True):
            hamilton.frame(a, b, None)
        hamilton.row(
            "short_hamilton_clip (275 frames)",
            table,
            f"{report.faces_blurred} face and {report.heads_blurred} head tracks, "
            f"{(time.perf_counter() - started) / report.frames * 1000:.0f} ms/frame (faces only)",
        )
    console.print(table)


def bench_plates(work: Path, detector: Detector | None, limit: int | None) -> None:
    rows = []
    for txt in sorted(PLATES.glob("*.txt"))[:limit]:
        parts = txt.read_text().split()
        x, y, w, h = (int(v) for v in parts[1:5])
        rows.append((PLATES / parts[0], Box(x, y, x + w, y + h), parts[5]))
    found_frame = found_vehicle = exact = matched = blurred = unreadable = 0
    redact_s = 0.0
    frames = 0
    for image_path, truth, text in rows:
        image = cv2.imread(str(image_path))
        height, width = image.shape[:2]
        found_frame += any(p.box.iou(truth) > 0.4 for p in find_and_read_plates(image))
        if detector is not None:
            d = detector.detect(image)
            vehicles = [
                Box.around(*(float(v) for v in xyxy[:4]), width=width, height=height)
                for xyxy, name in zip(d.xyxy, d.data["class_name"], strict=True)
                if name != "person"
            ]
            found_vehicle += any(
                p.box.iou(truth) > 0.4 for p in find_and_read_plates(image, vehicles)
            )
        reading = read_plate(image, truth)
        exact += reading == text
        matched += reading is not None and plates_match(reading, text)
        src = still_clip(image_path, work / "car.mp4", 2, None, pan=False)
        report = redact_clip(src, work / "car-red.mp4", faces=False, detector=detector)
        redact_s += report.seconds
        frames += report.frames
        after = decoded(work / "car-red.mp4")[-1]
        before = decoded(src)[-1]
        inside = Box(
            truth.x1, truth.y1, min(truth.x2, before.shape[1]), min(truth.y2, before.shape[0])
        )
        blurred += sharpness(crop(after, inside)) < BLURRED * max(
            sharpness(crop(before, inside)), 1e-6
        )
        left = read_plate(after, inside)
        unreadable += left is None or not plates_match(left, text)
    n = len(rows)
    table = Table(title=f"plates: OpenALPR EU, {n} photographs")
    table.add_column("measure")
    table.add_column("value")
    table.add_row("found, whole frame (IoU > 0.4)", f"{found_frame} ({found_frame / n:.1%})")
    if detector is not None:
        table.add_row("found, vehicle crops", f"{found_vehicle} ({found_vehicle / n:.1%})")
    table.add_row("read exactly (true box)", f"{exact} ({exact / n:.1%})")
    table.add_row("read, one OCR confusion allowed", f"{matched} ({matched / n:.1%})")
    table.add_row("blurred in the redacted clip", f"{blurred} ({blurred / n:.1%})")
    table.add_row("no longer readable after redaction", f"{unreadable} ({unreadable / n:.1%})")
    table.add_row("redact_clip seconds per frame", f"{redact_s / max(frames, 1):.3f}")
    console.print(table)


def bench_speed(work: Path, detector: Detector | None) -> None:
    clip = FACES / "short_hamilton_clip.mp4"
    if not clip.is_file():
        return
    table = Table(title="speed on short_hamilton_clip (640x360, 275 frames, 29.97 fps)")
    table.add_column("what")
    table.add_column("time")
    for label, det in (("without object detector", None), ("with nanodet", detector)):
        if label != "without object detector" and det is None:
            continue
        report = redact_clip(clip, work / "speed.mp4", detector=det)
        table.add_row(
            f"redact_clip faces+plates, {label}",
            f"{report.seconds / report.frames * 1000:.0f} ms/frame, "
            f"{report.seconds / (report.frames / 29.97):.2f} s per second of video "
            f"({report.analyses} analyses)",
        )
    frames = decoded(clip)[::25]
    steps: list[tuple[str, Callable[[Frame], object]]] = [
        ("find_faces, frame size", lambda f: find_faces(f, upsample=0)),
        ("find_faces, twice the size", lambda f: find_faces(f, upsample=1)),
        ("find_and_read_plates, frame size", lambda f: find_and_read_plates(f, min_side=0)),
        ("find_and_read_plates, short side 480", find_and_read_plates),
    ]
    if detector is not None:
        steps.append(("nanodet detect", detector.detect))
    for name, step in steps:
        step(frames[0])  # warm-up
        started = time.perf_counter()
        for frame in frames:
            step(frame)
        table.add_row(name, f"{(time.perf_counter() - started) / len(frames) * 1000:.0f} ms")
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="plate photographs to use")
    parser.add_argument("--skip", choices=["faces", "plates", "speed"], action="append", default=[])
    args = parser.parse_args()
    detector = load_object_detector(MODELS) if (MODELS / "nanodet.onnx").is_file() else None
    console.print(
        f"object detector: {detector.key if detector else 'none (../shared/models missing)'}"
    )
    with tempfile.TemporaryDirectory(prefix="vigil-redaction-") as tmp:
        work = Path(tmp)
        if FACES.is_dir() and "faces" not in args.skip:
            bench_faces(work, None, "face detector only")
            if detector is not None:
                bench_faces(work, detector, "with nanodet heads")
        elif "faces" not in args.skip:
            console.print(f"skipped faces: {FACES} is missing")
        if PLATES.is_dir() and "plates" not in args.skip:
            bench_plates(work, detector, args.limit)
        elif "plates" not in args.skip:
            console.print(f"skipped plates: {PLATES} is missing")
        if "speed" not in args.skip:
            bench_speed(work, detector)
    return 0


if __name__ == "__main__":
    sys.exit(main())

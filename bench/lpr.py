"""Licence plate reading benchmark: how many plates Vigil reads exactly, stage by stage.

On ../shared/media/openalpr-eu (108 photographs, one plate each: box and text):

- found: a plate box with IoU > 0.4 against the truth (the upstream benchmark's rule);
- exact: the reading equals the truth (letters and digits, normalised);
- near: the reading is the truth but for one OCR confusion (``plates_match``);

for each stage of the reader, each adding to the one before:

- ``frame``: the whole photograph searched for plate-shaped text lines
  (``find_and_read_plates`` without vehicles);
- ``vehicles``: the lines searched in the vehicles the object detector finds (NanoDet,
  enlarged crops), the whole frame where it finds none;
- ``+formats``: the reading checked against the European series (``plate_formats.fit``
  with the live reader's default region "EU" and no country named: a reading no series
  fits is corrected by one character when the formats of two countries at least agree);
- ``reread``: the plate the frame stage found read again on its own (``read_plate``: the
  box padded, upscaled to a readable height, only the tallest text lines).

Also milliseconds per image for each stage.

Then live plate reading on traffic video, through the live pipeline's code path (the file
analysed as a camera at 5 fps: motion gate, NanoDet, tracker, the ``plate_reading``
behaviour in vehicles mode): NGSIM US-101 Sequence2 (a high-mounted freeway view, its 156
frames at 10 fps) and Intel's car-detection clip. Per clip: vehicle passages (vehicle tracks
that ended), plate readings, readings per passage, and the CPU the analysis took per second
of video (this process's CPU time, all threads) without and with plate reading, and their
ratio against the bar (plate reading must not cost more than 1.5x the same camera without
it). NGSIM's vehicles are 20-30 px wide, under the reader's ``min_width_px`` (80): none is
read there, and none should be (a plate of a few pixels cannot be read). Prints tables;
exit code 0 whatever the figures.

    nice .venv/bin/python bench/lpr.py [--limit 20] [--only images|live]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import cv2
import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from vigil.analytics.boxes import Box
from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.detections import CLASS_NAME
from vigil.analytics.detectors import create_detector
from vigil.analytics.plate_formats import fit
from vigil.analytics.plates import PlateRead, find_and_read_plates, read_plate
from vigil.domain.plates import normalise_plate, plates_match

SHARED = Path(__file__).resolve().parents[2] / "shared"
PLATES = SHARED / "media" / "openalpr-eu" / "eu"
MODELS = SHARED / "models"
FOUND_IOU = 0.4


@dataclass(frozen=True)
class Truth:
    image: Path
    box: Box
    text: str


@dataclass
class Score:
    found: int = 0
    exact: int = 0
    same_o0: int = 0  # exact but for O and 0 (the ground truth writes O for 0 at times)
    near: int = 0
    seconds: float = 0.0
    wrong: list[str] = field(default_factory=list)


def truths(limit: int | None) -> list[Truth]:
    found = []
    for txt in sorted(PLATES.glob("*.txt")):
        name, x, y, w, h, text = txt.read_text().split()[:6]
        x0, y0 = int(x), int(y)
        found.append(Truth(PLATES / name, Box(x0, y0, x0 + int(w), y0 + int(h)), text))
    return found[:limit] if limit else found


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union else 0.0


Stage = Callable[[np.ndarray, list[PlateRead]], list[PlateRead]]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--only", choices=["images", "live"], default=None)
    args = parser.parse_args()
    console = Console()
    if args.only != "live":
        images(console, args.limit)
    if args.only != "images":
        live(console)


def images(console: Console, limit: int | None) -> None:
    """The stages of the reader on the OpenALPR EU photographs."""
    if not PLATES.is_dir():
        console.print(f"[yellow]{PLATES} is missing: nothing to measure")
        return
    detector = create_detector({"type": "nanodet"}, models_dir=MODELS)

    def vehicles(frame: np.ndarray) -> list[Box]:
        found = detector.detect(frame)
        names = found.data.get(CLASS_NAME, [])
        return [
            Box.around(*(float(v) for v in xyxy), frame.shape[1], frame.shape[0])
            for xyxy, name in zip(found.xyxy, names, strict=True)
            if str(name) in VEHICLE_CLASSES
        ]

    def stage_frame(frame: np.ndarray, _: list[PlateRead]) -> list[PlateRead]:
        return find_and_read_plates(frame)

    def stage_vehicles(frame: np.ndarray, _: list[PlateRead]) -> list[PlateRead]:
        boxes = vehicles(frame)
        found = find_and_read_plates(frame, boxes) if boxes else []
        return found or find_and_read_plates(frame)

    def stage_reread(frame: np.ndarray, before: list[PlateRead]) -> list[PlateRead]:
        if not before:
            return []
        first = before[0]
        text = read_plate(frame, first.box)
        return [PlateRead(first.box, text or first.text, first.score)]

    def formats(found: list[PlateRead]) -> list[PlateRead]:
        return [PlateRead(p.box, fit(p.text, region="EU").text if p.text else None, p.score)
                for p in found]  # fmt: skip

    # name -> (stage, the stage whose result it starts from)
    stages: dict[str, tuple[Stage, str | None]] = {
        "frame": (stage_frame, None),
        "frame +formats": (lambda _f, before: formats(before), "frame"),
        "vehicles": (stage_vehicles, None),
        "vehicles +formats": (lambda _f, before: formats(before), "vehicles"),
        "reread": (stage_reread, "frame"),
    }
    scores = {name: Score() for name in stages}
    items = truths(limit)
    for truth in track(items, description="reading plates", console=console):
        frame = cv2.imread(str(truth.image))
        if frame is None:
            continue
        results: dict[str, list[PlateRead]] = {}
        for name, (stage, base) in stages.items():
            started = time.perf_counter()
            found = stage(frame, results.get(base, []) if base else [])
            elapsed = time.perf_counter() - started
            results[name] = found
            score = scores[name]
            score.seconds += elapsed
            best = next((p for p in found if iou(p.box, truth.box) > FOUND_IOU), None)
            if best is not None:
                score.found += 1
                text = normalise_plate(best.text or "")
                score.exact += text == truth.text
                score.same_o0 += text.replace("O", "0") == truth.text.replace("O", "0")
                score.near += plates_match(text, truth.text)
                if text != truth.text:
                    score.wrong.append(f"{truth.image.name}: {text or '-'} for {truth.text}")
    table = Table(title=f"Plate reading on OpenALPR EU ({len(items)} images)")
    columns = ("stage", "found %", "exact %", "exact, O = 0 %", "near %", "ms / image (this stage)")
    for column in columns:
        table.add_column(column, justify="right" if column != "stage" else "left")
    for name, score in scores.items():
        n = max(len(items), 1)
        table.add_row(
            name,
            f"{100 * score.found / n:.1f}",
            f"{100 * score.exact / n:.1f}",
            f"{100 * score.same_o0 / n:.1f}",
            f"{100 * score.near / n:.1f}",
            f"{1000 * score.seconds / n:.0f}",
        )
    console.print(table)
    for name, score in scores.items():
        console.print(f"[dim]{name}: misread {', '.join(score.wrong)}")


NGSIM_FRAMES = SHARED / "media" / "ngsim-us101" / "Sequence2" / "images" / "test"
INTEL_CARS = SHARED / "media" / "intel-sample-videos" / "car-detection.mp4"
PLATE_BAR = 1.5


@dataclass
class LiveRun:
    passages: int = 0
    reads: int = 0
    cpu_s: float = 0.0
    video_s: float = 0.0


def _analyse(clip: Path, plates: bool) -> LiveRun:
    """One clip through the live pipeline's code path, with or without plate reading."""
    import threading

    import av

    from vigil.analytics.config import CameraAnalyticsConfig
    from vigil.analytics.offline import play_file
    from vigil.domain.events import Event, TrackEnded

    run = LiveRun()
    lock = threading.Lock()

    def publish(_subject: str, message: object) -> None:
        with lock:
            if isinstance(message, TrackEnded) and message.class_name in VEHICLE_CLASSES:
                run.passages += 1
            elif isinstance(message, Event) and message.type == "plate.read":
                run.reads += 1

    behaviours = [{"type": "plate_reading", "mode": "vehicles"}] if plates else []
    config = CameraAnalyticsConfig.model_validate(
        {"enabled": True, "fps": 5, "detector": {"type": "nanodet"}, "behaviours": behaviours}
    )
    started = time.process_time()
    play_file(clip, config, MODELS, publish)
    run.cpu_s = time.process_time() - started
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        duration = (
            stream.duration * stream.time_base if stream.duration else container.duration / 1e6
        )
        run.video_s = float(duration)
    return run


def live(console: Console) -> None:
    """Plate readings per vehicle passage and their CPU cost, on traffic video."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vigil-lpr-") as tmp:
        clips: dict[str, Path] = {}
        if NGSIM_FRAMES.is_dir():
            clip = Path(tmp) / "ngsim-sequence2.mp4"
            frames = sorted(NGSIM_FRAMES.glob("*.jpg"), key=lambda f: int(f.stem))
            listing = Path(tmp) / "frames.txt"
            listing.write_text("".join(f"file '{f}'\nduration 0.1\n" for f in frames))
            subprocess.run(
                ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0",
                 "-i", str(listing), "-r", "10", "-c:v", "libx264", "-preset", "veryfast",
                 "-pix_fmt", "yuv420p", "-bf", "0", str(clip)],
                check=True,
            )  # fmt: skip
            clips["NGSIM US-101 Sequence2"] = clip
        if INTEL_CARS.is_file():
            clips["Intel car-detection"] = INTEL_CARS
        if not clips:
            console.print("[yellow]no traffic video in ../shared/media: nothing to measure")
            return
        table = Table(title="Live plate reading through the pipeline (5 fps, NanoDet)")
        columns = ("clip", "video s", "passages", "readings", "per passage",
                   "CPU s/s without", "CPU s/s with", "ratio")  # fmt: skip
        for column in columns:
            table.add_column(column, justify="left" if column == "clip" else "right")
        for name, clip in clips.items():
            with console.status(f"{name}: without, then with plate reading"):
                without, with_plates = _analyse(clip, False), _analyse(clip, True)
            ratio = with_plates.cpu_s / max(without.cpu_s, 1e-6)
            verdict = "[green]" if ratio <= PLATE_BAR else "[red]"
            table.add_row(
                name, f"{with_plates.video_s:.1f}", str(with_plates.passages),
                str(with_plates.reads),
                f"{with_plates.reads / max(with_plates.passages, 1):.2f}",
                f"{without.cpu_s / without.video_s:.3f}",
                f"{with_plates.cpu_s / with_plates.video_s:.3f}",
                f"{verdict}{ratio:.2f}x[/]",
            )  # fmt: skip
        console.print(table)
        console.print(f"Bar: plate reading costs at most {PLATE_BAR}x the camera without it.")


if __name__ == "__main__":
    main()

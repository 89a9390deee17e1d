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

Also milliseconds per image for each stage. Prints a table; exit code 0 whatever the figures.

    nice .venv/bin/python bench/lpr.py [--limit 20]
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
    args = parser.parse_args()
    console = Console()
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
    items = truths(args.limit)
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


if __name__ == "__main__":
    main()

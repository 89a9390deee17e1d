"""Detection benchmark: recall and precision for cars on NGSIM US-101 (small, distant vehicles).

Ground truth: ../shared/media/ngsim-us101 (Sequence2 test split, 156 frames of 640 x 480, COCO
format, one class "car", ~20-30 px vehicles). Each detector runs on the whole frame and on 2 x 2
overlapping tiles with a low score threshold; its car, truck and bus detections all count as
"vehicle" against the single GT class "car" (the annotators boxed every vehicle as a car).
Matching is greedy per frame, by descending score, at IoU >= 0.5, as in COCO.

For each run the table gives the detector's mean time per frame, the lowest score threshold at
which precision is still >= 0.8 and the recall there (the bar: recall >= 0.7 at precision
>= 0.8), and the average precision. It is a benchmark: the exit code is 0 whatever the figures.

    nice -n 10 .venv/bin/python bench/detection_ngsim.py --models-dir ../shared/models
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table
from supervision import box_iou_batch

from vigil.analytics.detectors import DetectorUnavailable, create_detector

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared/media/ngsim-us101/Sequence2"
DEFAULT_MODELS = Path(__file__).resolve().parents[2] / "shared/models"
VEHICLES = ["car", "truck", "bus"]
IOU_MATCH = 0.5
MIN_PRECISION = 0.8
BAR_RECALL = 0.7
MIN_SCORE = 0.05


@dataclass
class Result:
    """One detector setting over the data set."""

    name: str
    ms_per_frame: float
    threshold: float | None
    precision: float
    recall: float
    ap: float


def load_gt(dataset: Path) -> list[tuple[Path, npt.NDArray[np.float64]]]:
    """Frames and their GT boxes (xyxy) from the COCO file."""
    gt = json.loads((dataset / "annotations/GT.json").read_text())
    boxes: dict[int, list[list[float]]] = {}
    for ann in gt["annotations"]:
        x, y, w, h = ann["bbox"]
        boxes.setdefault(ann["image_id"], []).append([x, y, x + w, y + h])
    return [
        (
            dataset / "images/test" / im["file_name"],
            np.array(boxes.get(im["id"], [])).reshape(-1, 4),
        )
        for im in gt["images"]
    ]


def match(
    pred: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], gt: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """True for each prediction that matches a still unmatched GT box (by descending score)."""
    hit = np.zeros(len(pred), dtype=bool)
    if len(pred) == 0 or len(gt) == 0:
        return hit
    iou = box_iou_batch(pred.astype(np.float64), gt)
    taken = np.zeros(len(gt), dtype=bool)
    for i in np.argsort(-scores):
        candidates = np.where(taken, -1.0, iou[i])
        j = int(candidates.argmax())
        if candidates[j] >= IOU_MATCH:
            taken[j] = hit[i] = True
    return hit


def evaluate(
    name: str,
    config: dict[str, object],
    frames: list,  # type: ignore[type-arg]
    models_dir: Path,
    threads: int,
) -> Result:
    """Run one detector setting over all frames and summarise it."""
    detector = create_detector(config, models_dir=models_dir, intra_op_threads=threads)
    all_scores, all_hits, elapsed, n_gt = [], [], 0.0, 0
    for path, gt in frames:
        image = cv2.imread(str(path))
        start = time.perf_counter()
        found = detector.detect(image)
        elapsed += time.perf_counter() - start
        assert found.confidence is not None
        all_scores.append(found.confidence)
        all_hits.append(match(found.xyxy, found.confidence, gt))
        n_gt += len(gt)
    scores, hits = np.concatenate(all_scores), np.concatenate(all_hits)
    order = np.argsort(-scores)
    scores, hits = scores[order], hits[order]
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / max(n_gt, 1)
    ok = np.flatnonzero(precision >= MIN_PRECISION)
    # AP: area under the precision envelope (all-points interpolation).
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope)) if len(hits) else 0.0
    ms = elapsed / len(frames) * 1000
    if len(ok) == 0:
        return Result(name, ms, None, 0.0, 0.0, ap)
    best = int(ok[np.argmax(recall[ok])])
    return Result(name, ms, float(scores[best]), float(precision[best]), float(recall[best]), ap)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--detectors", nargs="+", default=["centernet", "nanodet"])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--step", type=int, default=1, help="use every n-th frame")
    parser.add_argument(
        "--options", type=json.loads, default={}, metavar="JSON",
        help='more detector options, e.g. \'{"input_size": 320}\' (NanoDet)',
    )  # fmt: skip
    args = parser.parse_args()
    console = Console()
    if not (args.dataset / "annotations/GT.json").is_file():
        console.print(f"[red]no NGSIM data at {args.dataset}[/red]")
        return 1
    frames = load_gt(args.dataset)[:: args.step]
    console.print(f"{len(frames)} frames, {sum(len(g) for _, g in frames)} GT vehicles")
    results = []
    for key in args.detectors:
        for mode, extra in [("whole frame", {}), ("2x2 tiles", {"tiles": 2})]:
            config = {
                "type": key, "classes": VEHICLES, "score_threshold": MIN_SCORE,
                **extra, **args.options,
            }  # fmt: skip
            name = " ".join([f"{key}, {mode}", *(f"{k}={v}" for k, v in args.options.items())])
            try:
                results.append(evaluate(name, config, frames, args.models_dir, args.threads))
            except DetectorUnavailable as exc:
                console.print(f"[yellow]{key}: {exc}[/yellow]")
                break
            console.print(f"done: {results[-1]}")
    table = Table(title=f"NGSIM US-101 vehicles: recall at precision >= {MIN_PRECISION}")
    for column in ("detector", "ms/frame", "threshold", "precision", "recall", "AP", "bar"):
        table.add_column(column, justify="left" if column == "detector" else "right")
    for r in results:
        passed = r.recall >= BAR_RECALL and r.precision >= MIN_PRECISION
        table.add_row(
            r.name,
            f"{r.ms_per_frame:.0f}",
            "-" if r.threshold is None else f"{r.threshold:.2f}",
            f"{r.precision:.3f}",
            f"{r.recall:.3f}",
            f"{r.ap:.3f}",
            "[green]PASS[/green]" if passed else "[red]FAIL[/red]",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

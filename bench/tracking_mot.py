"""Tracking benchmark: MOTA and IDF1 of Vigil's tracker on MOT15 TUD-Campus and TUD-Stadtmitte.

People are detected with CenterNet (../shared/models/centernet.onnx; another detector plugin
with ``--detector '{"type": "nanodet"}'``) on every frame, once, and
the detections are cached in memory; each tracker configuration then runs over them at the
full 25 fps and at 5 fps (Vigil's default analysis rate: only every 5th frame is given to the
tracker, with its real timestamp, and only those frames are scored). py-motmetrics compares the
confirmed tracks with the ground truth (IoU >= 0.5 is a match). Bar: MOTA >= 0.6. It is a
benchmark: the exit code is 0 whatever the figures (1 only when it could not run).

    nice -n 10 .venv/bin/python bench/tracking_mot.py            # Vigil's default tracker
    nice -n 10 .venv/bin/python bench/tracking_mot.py --sweep    # also a small tuning grid

Detections come from Vigil's CenterNet detector plugin when it is registered, otherwise from a
local decode of the same model (its output is already boxes: x1, y1, x2, y2 in 512x512 input
pixels, score, 0-based COCO class). The video frame n is frame n+1 of gt.txt.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import vigil  # noqa: F401  (sets ORT_DISABLE_TELEMETRY before onnxruntime loads)
from vigil.analytics.detections import Detections, make_detections
from vigil.analytics.tracking import Tracker, TrackerConfig, tracker_config

SHARED = Path(__file__).resolve().parents[2] / "shared"
SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
VIDEO_FPS = 25.0
PERSON = 0
# Detections below this never reach a tracker; ByteTrack's second stage uses the low ones.
CACHE_MIN_SCORE = 0.05
BAR_MOTA = 0.6


@dataclass
class Sequence:
    name: str
    frames: list[Detections]  # person detections per video frame, score >= CACHE_MIN_SCORE
    gt: Any  # motmetrics DataFrame indexed by (FrameId, Id)
    detect_ms: float


def _motmetrics() -> Any:
    # py-motmetrics 1.4 still calls np.asfarray, which NumPy 2 removed.
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]
    import motmetrics

    return motmetrics


def _frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


class _LocalCenterNet:
    """CenterNet through bare onnxruntime, for when no detector plugin is registered."""

    key = "centernet (bench decode)"
    size = 512

    def __init__(self, model: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def detect(self, frame: np.ndarray) -> Detections:
        import cv2

        h, w = frame.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(frame, (self.size, self.size)), cv2.COLOR_BGR2RGB)
        (out,) = self.session.run(
            ["tower_0/detections"], {self.input: rgb[None].astype(np.float32)}
        )
        rows = out[0]
        boxes = rows[:, :4] * np.array([w, h, w, h], dtype=np.float32) / self.size
        return make_detections(boxes, rows[:, 4], rows[:, 5].astype(np.int64))


def _detector(models: Path, config: dict[str, Any]) -> Any:
    try:
        from vigil.analytics.detectors import create_detector

        return create_detector(
            {**config, "score_threshold": CACHE_MIN_SCORE, "classes": ["person"]},
            models_dir=models,
        )
    except Exception as exc:  # the plugin may not exist yet: fall back to a local decode
        print(f"detector plugin not usable ({exc}); using the bench's own decode")
        return _LocalCenterNet(models / "centernet.onnx")


def load(name: str, data: Path, detector: Any) -> Sequence:
    mm = _motmetrics()
    folder = data / name
    frames = _frames(folder / f"{name}.mp4")
    out: list[Detections] = []
    t0 = time.perf_counter()
    for frame in frames:
        d = detector.detect(frame)
        keep = (d.class_id == PERSON) & (d.confidence >= CACHE_MIN_SCORE)
        out.append(d[keep])
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(frames))
    gt = mm.io.loadtxt(str(folder / "gt" / "gt.txt"), fmt="mot15-2D", min_confidence=1)
    return Sequence(name=name, frames=out, gt=gt, detect_ms=ms)


def evaluate(seq: Sequence, config: TrackerConfig, score: float, step: int) -> Any:
    """Run one tracker over every ``step``-th frame and return motmetrics' accumulator."""
    mm = _motmetrics()
    acc = mm.MOTAccumulator(auto_id=False)
    tracker = Tracker(config)
    gt_frames = set(seq.gt.index.get_level_values(0))
    for n in range(0, len(seq.frames), step):
        d = seq.frames[n]
        tracked = tracker.update(d[d.confidence >= score], n / VIDEO_FPS)
        gt_id = n + 1
        g = seq.gt.loc[gt_id] if gt_id in gt_frames else None
        gt_ids = [] if g is None else g.index.tolist()
        gt_boxes = np.empty((0, 4)) if g is None else g[["X", "Y", "Width", "Height"]].to_numpy()
        xywh = tracked.xyxy.copy()
        xywh[:, 2:] -= xywh[:, :2]
        ids = [] if tracked.tracker_id is None else tracked.tracker_id.tolist()
        dist = mm.distances.iou_matrix(gt_boxes, xywh, max_iou=0.5)
        acc.update(gt_ids, ids, dist, frameid=gt_id)
    return acc


def live_pipeline(
    name: str, data: Path, models: Path, detector: dict[str, Any], motion: dict[str, Any]
) -> tuple[Any, float]:
    """Play a sequence through Vigil's live pipeline (motion gate, detection only when there
    is something to find, tracker) at 5 fps and score what an operator's overlay shows at
    every 5th frame: the latest published boxes, if no older than a second.

    Returns:
        motmetrics' accumulator, and the share of sampled frames the detector ran on.
    """
    import threading
    from datetime import timedelta

    import av

    from vigil.analytics.config import CameraAnalyticsConfig
    from vigil.analytics.offline import EPOCH, play_file
    from vigil.domain.events import AnalyticsFrame

    mm = _motmetrics()
    folder = data / name
    published: list[AnalyticsFrame] = []
    lock = threading.Lock()

    def publish(_subject: str, message: Any) -> None:
        if isinstance(message, AnalyticsFrame):
            with lock:
                published.append(message)

    config = CameraAnalyticsConfig.model_validate(
        {"enabled": True, "fps": 5, "detector": {**detector, "classes": ["person"]},
         "motion": motion}
    )  # fmt: skip
    clip = folder / f"{name}.mp4"
    pipeline = play_file(clip, config, models, publish)
    with av.open(str(clip)) as container:
        video = container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        frames = sum(1 for p in container.demux(video) if p.pts is not None)
    base = EPOCH
    sampled = max(1, pipeline.decoder.frames_sampled)
    gt = mm.io.loadtxt(str(folder / "gt" / "gt.txt"), fmt="mot15-2D", min_confidence=1)
    gt_frames = set(gt.index.get_level_values(0))
    acc = mm.MOTAccumulator(auto_id=False)
    step = round(VIDEO_FPS / 5)
    for n in range(0, frames, step):
        at = base + timedelta(seconds=n / VIDEO_FPS)
        shown = [f for f in published if at - timedelta(seconds=1) <= f.at <= at]
        objects = shown[-1].objects if shown else []
        boxes = np.array(
            [[o.box[0] * width, o.box[1] * height, (o.box[2] - o.box[0]) * width,
              (o.box[3] - o.box[1]) * height] for o in objects if o.box is not None],
            dtype=np.float64,
        ).reshape(-1, 4)  # fmt: skip
        ids = [o.track_id for o in objects if o.box is not None]
        gt_id = n + 1
        g = gt.loc[gt_id] if gt_id in gt_frames else None
        gt_ids = [] if g is None else g.index.tolist()
        gt_boxes = np.empty((0, 4)) if g is None else g[["X", "Y", "Width", "Height"]].to_numpy()
        acc.update(
            gt_ids, ids, mm.distances.iou_matrix(gt_boxes, boxes, max_iou=0.5), frameid=gt_id
        )
    return acc, pipeline.detector_calls / sampled


def summarise(accs: list[Any], names: list[str]) -> Any:
    mm = _motmetrics()
    mh = mm.metrics.create()
    return mh.compute_many(
        accs,
        metrics=["mota", "idf1", "num_switches", "recall", "precision", "num_unique_objects"],
        names=names,
        generate_overall=True,
    )


def main() -> int:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "media" / "mot15-tud")
    parser.add_argument("--models", type=Path, default=SHARED / "models")
    parser.add_argument("--score", type=float, default=0.3, help="detector score threshold")
    parser.add_argument("--sweep", action="store_true", help="also run a small tuning grid")
    parser.add_argument(
        "--pipeline", action="store_true",
        help="also score Vigil's live pipeline (motion gate, adaptive detection rate) at 5 fps",
    )  # fmt: skip
    parser.add_argument(
        "--fps", type=float, nargs="+", default=[25, 5], help="analysis rates to score"
    )
    parser.add_argument(
        "--detector", type=json.loads, default={"type": "centernet"}, metavar="JSON",
        help='the detector plugin\'s configuration, e.g. \'{"type": "nanodet"}\'',
    )  # fmt: skip
    args = parser.parse_args()
    console = Console(width=130)
    if not (args.data / SEQUENCES[0]).is_dir() or not (args.models / "centernet.onnx").is_file():
        console.print(f"[red]needs {args.data} and {args.models / 'centernet.onnx'}[/]")
        return 1

    detector = _detector(args.models, args.detector)
    console.print(f"detector: {detector.key} {args.detector}")
    seqs = [load(n, args.data, detector) for n in SEQUENCES]
    for s in seqs:
        console.print(f"{s.name}: {len(s.frames)} frames, detector {s.detect_ms:.1f} ms/frame")

    runs: list[tuple[str, TrackerConfig, float]] = []
    default = tracker_config()
    runs.append(("default (bytetrack)", default, args.score))
    if args.sweep:
        # ByteTrack is given the low-score boxes too (its second stage), so the detector's
        # threshold and the tracker's high/activation thresholds are swept apart.
        for score, high, lost, iou in itertools.product(
            (0.1, 0.2, 0.3), (0.3, 0.4, 0.5), (1.0, 2.0), (0.1, 0.2)
        ):
            if high < score:
                continue
            cfg = tracker_config(
                {"type": "bytetrack", "high_conf_threshold": high,
                 "track_activation_threshold": high, "lost_track_s": lost, "minimum_iou": iou}
            )  # fmt: skip
            runs.append((f"bytetrack det>={score} high={high} lost={lost}s iou={iou}", cfg, score))
        for score, iou in itertools.product((0.3, 0.4, 0.5), (0.1, 0.3)):
            cfg = tracker_config(
                {"type": "sort", "track_activation_threshold": score, "minimum_iou": iou}
            )
            runs.append((f"sort det>={score} iou={iou}", cfg, score))
        for score, high in itertools.product((0.1, 0.3), (0.4, 0.5)):
            cfg = tracker_config({"type": "ocsort", "high_conf_threshold": high})
            runs.append((f"ocsort det>={score} high={high}", cfg, score))

    for fps in args.fps:
        step = round(VIDEO_FPS / fps)
        table = Table(title=f"MOT15 TUD at {fps} fps (every {step}. frame scored); bar MOTA >= 0.6")
        for col in ("tracker", "seq", "MOTA", "IDF1", "IDsw", "recall", "precision", "GT ids"):
            table.add_column(col, justify="left" if col in ("tracker", "seq") else "right")
        results = []
        for label, cfg, score in runs:
            cfg = cfg.model_copy(update={"fps": float(fps)})
            accs = [evaluate(s, cfg, score, step) for s in seqs]
            summary = summarise(accs, [s.name for s in seqs])
            results.append((float(summary.loc["OVERALL", "mota"]), label, summary))
        results.sort(key=lambda r: -r[0])
        for i, (_, label, summary) in enumerate(results):
            if args.sweep and i >= 8 and not label.startswith("default"):
                continue
            for seq, row in summary.iterrows():
                mota = float(row["mota"])
                colour = "green" if mota >= BAR_MOTA else "red"
                table.add_row(
                    label if seq == SEQUENCES[0] else "",
                    str(seq),
                    f"[{colour}]{mota:.3f}[/]",
                    f"{row['idf1']:.3f}",
                    str(int(row["num_switches"])),
                    f"{row['recall']:.3f}",
                    f"{row['precision']:.3f}",
                    str(int(row["num_unique_objects"])),
                )
        console.print(table)
        best = next(r for r in results if r[1].startswith("default"))
        verdict = "PASS" if best[0] >= BAR_MOTA else "FAIL"
        console.print(f"default tracker at {fps} fps: overall MOTA {best[0]:.3f} -> {verdict}")
    if args.pipeline:
        live_table(console, args)
    return 0


def live_table(console: Any, args: argparse.Namespace) -> None:
    """MOTA of the live pipeline: detection only when there is something to find (the
    default; and with ``follow_margin``, which also skips frames whose motion lies around
    the followed objects), and on every moving frame (``tracked_fps`` at the analysis
    rate)."""
    from rich.table import Table

    table = Table(title="MOT15 TUD through the live pipeline at 5 fps (the overlay's boxes)")
    for col in ("detection", "MOTA", "IDF1", "IDsw", "recall", "precision", "detector on"):
        table.add_column(col, justify="left" if col == "detection" else "right")
    variants: list[tuple[str, dict[str, Any]]] = [
        ("adaptive (default)", {}),
        ("adaptive, follow_margin 0.5", {"follow_margin": 0.5}),
        ("every moving frame", {"tracked_fps": 5}),
    ]
    for label, motion in variants:
        runs = [live_pipeline(n, args.data, args.models, args.detector, motion) for n in SEQUENCES]
        summary = summarise([acc for acc, _ in runs], list(SEQUENCES))
        row = summary.loc["OVERALL"]
        table.add_row(
            label, f"{row['mota']:.3f}", f"{row['idf1']:.3f}", str(int(row["num_switches"])),
            f"{row['recall']:.3f}", f"{row['precision']:.3f}",
            f"{np.mean([share for _, share in runs]):.0%} of sampled frames",
        )  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())

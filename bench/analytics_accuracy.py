"""The analytics benchmark's accuracy half (`bench/analytics.py`): the configuration whose
speed was measured, run over the shared sequences that have ground truth, so that speed and
accuracy are figures of one configuration.

* MOT15 TUD-Campus and TUD-Stadtmitte: people, through the live pipeline (decoder sampling
  at 5 fps, the motion gate, the detector, the tracker: `tracking_mot.live_pipeline`), scored
  on the boxes the live view's overlay shows at each sampled frame. MOTA, IDF1, recall and
  precision; the bar is MOTA >= 0.65 and IDF1 >= 0.70 overall.
* NGSIM US-101 Sequence2: distant vehicles, the detector alone on each frame at its own
  score threshold (the operating point it ships with): recall and precision
  (`detection_ngsim`'s matching, IoU >= 0.5). Shown, not a bar of this benchmark.

Sequences that are missing are said to be, not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.table import Table

BAR_MOTA = 0.65
BAR_IDF1 = 0.70


@dataclass
class Accuracy:
    """What the accuracy runs found (None: the data is missing)."""

    rows: list[tuple[str, str, float, float, float, float]]  # data, sequence, 4 figures
    mota: float | None
    idf1: float | None
    missing: list[str]

    @property
    def passed(self) -> bool:
        return (
            self.mota is not None
            and self.idf1 is not None
            and self.mota >= BAR_MOTA
            and self.idf1 >= BAR_IDF1
        )


def measure(
    shared: Path, models: Path, detector: dict[str, Any], motion: dict[str, Any]
) -> Accuracy:
    """Score ``detector`` (a plugin configuration) with ``motion`` (gate options) on TUD
    through the live pipeline, and the detector on NGSIM."""
    rows: list[tuple[str, str, float, float, float, float]] = []
    missing = []
    mota = idf1 = None
    tud = shared / "media" / "mot15-tud"
    if (tud / "TUD-Campus").is_dir():
        from tracking_mot import SEQUENCES, live_pipeline, summarise

        runs = [live_pipeline(name, tud, models, detector, motion) for name in SEQUENCES]
        summary = summarise([acc for acc, _ in runs], list(SEQUENCES))
        for name, row in summary.iterrows():
            figures = (row["mota"], row["idf1"], row["recall"], row["precision"])
            rows.append(("MOT15 TUD, people", str(name), *(float(v) for v in figures)))
        mota = float(summary.loc["OVERALL", "mota"])
        idf1 = float(summary.loc["OVERALL", "idf1"])
    else:
        missing.append(str(tud))
    ngsim = shared / "media" / "ngsim-us101" / "Sequence2"
    if (ngsim / "annotations").is_dir():
        recall, precision = _ngsim(ngsim, models, detector)
        rows.append(("NGSIM US-101, vehicles", "Sequence2", np.nan, np.nan, recall, precision))
    else:
        missing.append(str(ngsim))
    return Accuracy(rows, mota, idf1, missing)


def _ngsim(dataset: Path, models: Path, detector: dict[str, Any]) -> tuple[float, float]:
    """Recall and precision of the detector's vehicles at its own threshold."""
    from detection_ngsim import VEHICLES, load_gt, match

    from vigil.analytics.detectors import create_detector

    plugin = create_detector({**detector, "classes": VEHICLES}, models_dir=models)
    hits = found = wanted = 0
    for path, gt in load_gt(dataset):
        d = plugin.detect(cv2.imread(str(path)))
        assert d.confidence is not None
        hits += int(match(d.xyxy, d.confidence, gt).sum())
        found += len(d)
        wanted += len(gt)
    return hits / max(wanted, 1), hits / max(found, 1)


def table(result: Accuracy, title: str) -> Table:
    """The accuracy figures as a table (NGSIM has no tracking figures: '-')."""
    out = Table(title=title)
    for column in ("data", "sequence", "MOTA", "IDF1", "recall", "precision"):
        out.add_column(column, justify="left" if column in ("data", "sequence") else "right")
    for data, sequence, *figures in result.rows:
        cells = ["-" if np.isnan(v) else f"{v:.3f}" for v in figures]
        out.add_row(data, sequence, *cells)
    return out

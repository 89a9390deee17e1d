"""Face watchlist benchmark: true and false matches of Vigil's face descriptor by threshold.

On ../shared/media/face_recognition-examples: the watchlist is enrolled from
``knn_examples/train/<person>/`` (every photo, one face each); the probes are the other
photographs, whose file names say who is in them (``obama_and_biden.jpg``: Obama and Biden;
``lin-manuel-miranda.png``: someone not on the list). Each face found in a probe is matched
to the listed person nearest to it (their nearest photo); below the threshold that is a
match: true when that person is in the probe, false otherwise (the failure that matters: an
alarm about the wrong person). Printed for a range of thresholds, with the shipped one
(``analytics.faces.WATCHLIST_DISTANCE``) marked.

Then the live path on video: the Hamilton clip played through a camera's pipeline with face
matching in frame mode (``play_file``), its passages matched at the shipped threshold
against Lin-Manuel Miranda and Alex Lacamoire (the clip's known faces) and the five people
of the photographs: passages, hits by person, and how long the analysis took. Exit code 0
whatever the figures.

    nice .venv/bin/python bench/faces.py
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.faces import WATCHLIST_DISTANCE, describe_face, find_faces
from vigil.analytics.offline import play_file
from vigil.domain.events import FaceSighting
from vigil.registers.faces import best_match
from vigil.store.registers import ListedFace, RegisterMatch

EXAMPLES = Path(__file__).resolve().parents[2] / "shared/media/face_recognition-examples/examples"
TRAIN = EXAMPLES / "knn_examples" / "train"
# Who is in each probe (names as the gallery's folders); empty: nobody on the list.
PROBES: dict[str, set[str]] = {
    "knn_examples/test/alex_lacamoire1.jpg": {"alex_lacamoire"},
    "knn_examples/test/johnsnow_test1.jpg": {"kit_harington"},
    "knn_examples/test/kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    "knn_examples/test/obama1.jpg": {"obama"},
    "knn_examples/test/obama_and_biden.jpg": {"obama", "biden"},
    "obama.jpg": {"obama"},
    "obama2.jpg": {"obama"},
    "obama-480p.jpg": {"obama"},
    "obama-720p.jpg": {"obama"},
    "obama_small.jpg": {"obama"},
    "biden.jpg": {"biden"},
    "two_people.jpg": {"obama", "biden"},
    "alex-lacamoire.png": {"alex_lacamoire"},
    "lin-manuel-miranda.png": set(),
}
THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


@dataclass
class Face:
    probe: str
    expected: set[str]
    nearest: str
    distance: float


def descriptors(path: Path) -> list[np.ndarray]:
    image = cv2.imread(str(path))
    if image is None:
        return []
    return [describe_face(image, box) for box in find_faces(image)]


def main() -> None:
    console = Console()
    if not TRAIN.is_dir():
        console.print(f"[yellow]{TRAIN} is missing: nothing to measure")
        return
    gallery: dict[str, list[np.ndarray]] = {}
    for folder in sorted(p for p in TRAIN.iterdir() if p.is_dir()):
        for photo in sorted(folder.iterdir()):
            found = descriptors(photo)
            if len(found) == 1:  # enrolment refuses photos with no face or several
                gallery.setdefault(folder.name, []).append(found[0])
    faces: list[Face] = []
    for name, expected in PROBES.items():
        for descriptor in descriptors(EXAMPLES / name):
            distances = {
                person: min(float(np.linalg.norm(descriptor - d)) for d in ds)
                for person, ds in gallery.items()
            }
            nearest = min(distances, key=lambda p: distances[p])
            faces.append(Face(name, expected, nearest, distances[nearest]))
    enrolled = sum(len(v) for v in gallery.values())
    table = Table(
        title=f"Face watchlist: {len(gallery)} people ({enrolled} photos), "
        f"{len(faces)} faces in {len(PROBES)} probes"
    )
    for column in ("threshold", "true matches", "false matches", "unmatched"):
        table.add_column(column, justify="right")
    for threshold in sorted({*THRESHOLDS, WATCHLIST_DISTANCE}):
        true = sum(f.distance < threshold and f.nearest in f.expected for f in faces)
        false = sum(f.distance < threshold and f.nearest not in f.expected for f in faces)
        mark = " (shipped)" if threshold == WATCHLIST_DISTANCE else ""
        table.add_row(
            f"{threshold:.2f}{mark}", str(true), str(false), str(len(faces) - true - false)
        )
    console.print(table)
    for f in sorted(faces, key=lambda f: f.distance):
        ok = "ok" if f.nearest in f.expected else "WRONG PERSON"
        console.print(f"[dim]{f.probe}: nearest {f.nearest} at {f.distance:.3f} ({ok})")
    video(console, gallery)


def video(console: Console, gallery: dict[str, list[np.ndarray]]) -> None:
    clip = EXAMPLES / "short_hamilton_clip.mp4"
    models = EXAMPLES.parents[2] / "models"
    if not clip.is_file() or not models.is_dir():
        return
    known = {"lin_manuel_miranda": "lin-manuel-miranda.png", "alex_lacamoire": "alex-lacamoire.png"}
    people = dict(gallery)
    for name, photo in known.items():
        people.setdefault(name, []).extend(descriptors(EXAMPLES / photo))
    listed = [
        ListedFace(RegisterMatch(1, "bench", "watch", i, name, name, None, None, None, None, 0.0),
                   [list(map(float, d)) for d in ds], None)
        for i, (name, ds) in enumerate(people.items())
    ]  # fmt: skip
    sightings: list[FaceSighting] = []
    config = CameraAnalyticsConfig.model_validate(
        {
            "behaviours": [
                {"type": "face_matching", "purpose": "the benchmark of faces", "mode": "frame"}
            ]
        }
    )
    started = time.perf_counter()
    play_file(clip, config, models, lambda _s, m: sightings.append(m)  # type: ignore[arg-type, func-returns-value]
              if isinstance(m, FaceSighting) else None)  # fmt: skip
    elapsed = time.perf_counter() - started
    hits: dict[str, int] = {}
    for s in sightings:
        found = best_match(s, listed)
        name = found[0].match.label or "?" if found else "(no match)"
        hits[name] = hits.get(name, 0) + 1
    console.print(
        f"Hamilton clip (9.2 s, frame mode, 1 look a second): {len(sightings)} passages, "
        f"hits {hits}, {elapsed:.1f} s to analyse"
    )


if __name__ == "__main__":
    main()

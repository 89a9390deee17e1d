"""Live plate reading: one reading per vehicle passage, voted over its best views.

The camera's pipeline hands each analysed frame's tracks to :class:`VehiclePlates` (the
``vehicles`` mode of the ``plate_reading`` behaviour) or the whole frame to
:class:`FramePlates` (``frame`` mode, a plate camera); both answer with
:class:`PassageReading` objects, which the pipeline turns into ``plate.read`` events.

Why views and votes: one frame's reading is often wrong by a character (motion blur, a
plate seen at a slant, O read for 0); the sharpest, largest views of the same vehicle
mostly agree, and where they do not the confident majority is right more often than any
single frame. The views kept are the vehicle's (with a margin) at full resolution, so
that a plate a few pixels high in a downscaled detector frame is read at the camera's
resolution; only ``views`` of them are kept, so a vehicle parked for an hour costs as
much memory as one driving past.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from vigil.analytics.behaviours.plate_reading import PlateReading
from vigil.analytics.boxes import Box
from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.config import Zone
from vigil.analytics.detections import CLASS_NAME, Detections
from vigil.analytics.geometry import anchor_points
from vigil.analytics.plate_formats import fit
from vigil.analytics.plates import (
    MIN_CHARS,
    VEHICLE_PAD,
    PlateRead,
    find_and_read_plates,
    plates_match,
)
from vigil.analytics.snapshots import Image
from vigil.analytics.views import Followed, TrackViews, quality

__all__ = ["FramePlates", "PassageReading", "PlateView", "VehiclePlates", "vote"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlateView:
    """One view kept for reading.

    Attributes:
        image: The region read (a vehicle with a margin, or the whole frame), full resolution.
        box: The vehicle in ``image`` pixels (the whole image in frame mode).
        frame_box: The vehicle as fractions of the frame (x1, y1, x2, y2).
        quality: Size times sharpness: better views first.
        at: Wall time of the frame.
    """

    image: Image
    box: Box
    frame_box: tuple[float, float, float, float]
    quality: float
    at: datetime


@dataclass(frozen=True, slots=True)
class PassageReading:
    """The plate of one vehicle passage.

    Attributes:
        text: The reading (letters and digits), corrected by the formats (``plate_formats.fit``).
        seen: What the recogniser read before that correction (the winning vote).
        confidence: The recogniser's confidence of the agreeing reads, summed and divided by
            the views read (0..1: low when views disagree or read nothing).
        characters: Per character, the share of the views read that agree on it, weighted by
            the recogniser's confidence.
        format: The country whose format it fits (several joined by "/"; None: none).
        fixes: Characters the format corrected.
        reads: Views whose reading agrees with the text.
        views: Views read.
        others: Other readings of the same passage, most agreed first.
        view: The view that read the text best (its plate is ``plate_box``).
        plate_box: The plate in ``view.image`` pixels.
        track_id: The vehicle's track (None in frame mode).
        class_name: The vehicle's class (None in frame mode).
        first_at: When the vehicle was first seen.
    """

    text: str
    seen: str
    confidence: float
    characters: list[float]
    format: str | None
    fixes: int
    reads: int
    views: int
    others: list[str]
    view: PlateView
    plate_box: Box
    track_id: int | None
    class_name: str | None
    first_at: datetime


def vote(
    reads: Sequence[tuple[PlateView, PlateRead]],
    views: int,
    countries: Sequence[str],
    *,
    region: str | None = "EU",
    track_id: int | None,
    class_name: str | None,
    first_at: datetime,
) -> PassageReading | None:
    """The passage's plate from the reads of its views (None when none read anything, or
    the winning reading is shorter than a plate).

    Readings that are the same plate but for an OCR confusion (``plates_match``) vote
    together, weighted by the recogniser's confidence; within the winning group each
    character is the weighted majority of the reads of its length."""
    readable = [(view, read) for view, read in reads if read.text]
    if not readable:
        return None
    groups: list[list[tuple[PlateView, PlateRead]]] = []
    for item in sorted(readable, key=lambda r: -r[1].score):
        text = item[1].text
        assert text is not None
        group = next((g for g in groups if plates_match(g[0][1].text or "", text)), None)
        if group is None:
            groups.append([item])
        else:
            group.append(item)
    groups.sort(key=lambda g: -sum(r.score for _, r in g))
    winners = groups[0]
    seen = _majority([r for _, r in winners])
    if len(seen) < MIN_CHARS:
        return None  # part of a plate (a vehicle cut by the frame's edge or another one)
    best_view, best_read = winners[0]
    formatted = fit(seen, countries, region=region)
    characters = [
        round(sum(r.score for _, r in winners if (r.text or "")[i : i + 1] == c) / views, 3)
        for i, c in enumerate(seen)
    ]
    return PassageReading(
        text=formatted.text,
        seen=seen,
        confidence=round(sum(r.score for _, r in winners) / views, 3),
        characters=characters,
        format=formatted.format,
        fixes=formatted.fixes,
        reads=len(winners),
        views=views,
        others=[g[0][1].text or "" for g in groups[1:]],
        view=best_view,
        plate_box=best_read.box,
        track_id=track_id,
        class_name=class_name,
        first_at=first_at,
    )


def _majority(reads: Sequence[PlateRead]) -> str:
    """Per position, the character with the most confidence among the reads of the most
    common length (weighted)."""
    by_length: dict[int, float] = defaultdict(float)
    for r in reads:
        by_length[len(r.text or "")] += r.score
    length = max(by_length, key=lambda n: by_length[n])
    same = [r for r in reads if len(r.text or "") == length]
    out = []
    for i in range(length):
        weights: dict[str, float] = defaultdict(float)
        for r in same:
            weights[(r.text or "")[i]] += r.score
        out.append(max(weights, key=lambda c: weights[c]))
    return "".join(out)


def _read(view: PlateView, *, whole: bool) -> PlateRead | None:
    found = find_and_read_plates(view.image, None if whole else [view.box])
    return next((p for p in found if p.text), None)


class VehiclePlates:
    """The ``vehicles`` mode: each vehicle track's best views, read once per passage.

    Args:
        options: The behaviour's options.
        zone: The zone it names (None: the whole view).
    """

    def __init__(self, options: PlateReading, zone: Zone | None) -> None:
        self.options = options
        self.zone = zone
        self._classes = frozenset(options.classes) or VEHICLE_CLASSES
        self._tracks: TrackViews[PlateView] = TrackViews(options.views, options.read_after_s)
        self._recent: dict[str, float] = {}  # plate -> when it was last reported

    def observe(self, tracked: Detections, image: Image, t: float, at: datetime) -> None:
        """Keep the views of this frame's vehicles that are among their best."""
        if tracked.tracker_id is None or len(tracked) == 0:
            return
        height, width = image.shape[:2]
        names = tracked.data.get(CLASS_NAME)
        inside = (
            self.zone.contains(anchor_points(tracked.xyxy, (width, height)))
            if self.zone is not None
            else None
        )
        for i, track_id in enumerate(tracked.tracker_id.tolist()):
            name = str(names[i]) if names is not None else ""
            if name not in self._classes:
                continue
            in_zone = inside is None or bool(inside[i])
            vehicle = self._tracks.follow(int(track_id), name, t, at, in_zone=in_zone)
            if vehicle is not None:
                self._keep(vehicle, image, tracked.xyxy[i], at)

    def _keep(
        self, vehicle: Followed[PlateView], image: Image, xyxy: np.ndarray, at: datetime
    ) -> None:
        height, width = image.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        box = Box.around(x1, y1, x2, y2, width, height)
        if box.width < self.options.min_width_px:
            return
        if not self._tracks.worth(vehicle, box.area):
            return  # even perfectly sharp it would not beat the worst view kept
        score = quality(image, box)
        if not self._tracks.worth(vehicle, score):
            return
        region = box.pad(VEHICLE_PAD, width, height)
        piece = np.ascontiguousarray(image[region.y1 : region.y2, region.x1 : region.x2])
        inner = Box(box.x1 - region.x1, box.y1 - region.y1, box.x2 - region.x1, box.y2 - region.y1)
        fractions = (box.x1 / width, box.y1 / height, box.x2 / width, box.y2 / height)
        self._tracks.keep(vehicle, PlateView(piece, inner, fractions, score, at))

    def finish(
        self, ended: Iterable[int], now: float, *, flush: bool = False
    ) -> list[PassageReading]:
        """Read the vehicles whose track ended and those in view for ``read_after_s`` (once
        per track); forget the ended ones. ``flush`` (the camera stops): every vehicle."""
        readings: list[PassageReading] = []
        for track_id, vehicle in self._tracks.due(ended, now, flush=flush):
            found = self._read(track_id, vehicle)
            if found is not None and not self._repeated(found.text, now):
                readings.append(found)
        return readings

    def _repeated(self, text: str, now: float) -> bool:
        """Whether the plate was reported in the last ``repeat_s`` (one vehicle whose track
        broke in two, in a jam or behind another one); remembers it either way."""
        window = self.options.repeat_s
        self._recent = {p: t for p, t in self._recent.items() if now - t < window}
        repeated = any(plates_match(p, text) for p in self._recent)
        self._recent[text] = now
        return repeated

    def _read(self, track_id: int, vehicle: Followed[PlateView]) -> PassageReading | None:
        reads = [(view, read) for view in vehicle.views if (read := _read(view, whole=False))]
        return vote(
            reads,
            len(vehicle.views),
            self.options.countries,
            region=self.options.region,
            track_id=track_id,
            class_name=vehicle.class_name,
            first_at=vehicle.first_at,
        )


@dataclass(slots=True)
class _Passage:
    first_at: datetime
    last_t: float
    reads: list[tuple[PlateView, PlateRead]] = field(default_factory=list)


class FramePlates:
    """The ``frame`` mode (a plate camera): the whole frame read ``frame_reads_per_s`` times
    a second; the reads of one plate (the same but for an OCR confusion) are one passage,
    read out once the plate has not been read for ``gap_s``.

    Args:
        options: The behaviour's options.
    """

    def __init__(self, options: PlateReading) -> None:
        self.options = options
        self._last_read_t: float | None = None
        self._passages: list[_Passage] = []

    def due(self, t: float) -> bool:
        """Whether the frame at ``t`` is to be read."""
        last = self._last_read_t
        return last is None or t - last >= 1.0 / self.options.frame_reads_per_s

    def observe(self, image: Image, t: float, at: datetime) -> None:
        """Read the frame (when due) and add its plate to its passage."""
        if not self.due(t):
            return
        self._last_read_t = t
        height, width = image.shape[:2]
        whole = Box(0, 0, width, height)
        view = PlateView(image, whole, (0.0, 0.0, 1.0, 1.0), float(whole.area), at)
        read = _read(view, whole=True)
        if read is None or read.text is None:
            return
        text = read.text
        passage = next(
            (p for p in self._passages if plates_match(_majority([r for _, r in p.reads]), text)),
            None,
        )
        if passage is None:
            passage = _Passage(at, t)
            self._passages.append(passage)
        passage.reads.append((view, read))
        passage.last_t = t
        # Only the best few views stay in memory (frames are large).
        passage.reads.sort(key=lambda r: -r[1].score)
        del passage.reads[max(self.options.views, 1) * 4 :]

    def finish(self, now: float, *, flush: bool = False) -> list[PassageReading]:
        """The passages whose plate has not been read for ``gap_s`` (all of them with
        ``flush``, when the camera stops)."""
        readings: list[PassageReading] = []
        for passage in list(self._passages):
            if flush or now - passage.last_t >= self.options.gap_s:
                self._passages.remove(passage)
                found = vote(
                    passage.reads,
                    len(passage.reads),
                    self.options.countries,
                    region=self.options.region,
                    track_id=None,
                    class_name=None,
                    first_at=passage.first_at,
                )
                if found is not None:
                    readings.append(found)
        return readings

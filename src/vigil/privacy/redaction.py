"""Redacted export: a clip re-encoded with every face and licence plate blurred beyond recovery.

For publication and data-subject requests. The clip is decoded with PyAV and looked at every
`DETECT_INTERVAL_S` (a "keyframe" of the analysis, not of the codec): faces (dlib HOG,
`vigil.analytics.faces`), plates (PP-OCR text lines that read like a registration,
`vigil.analytics.plates`) and, when Vigil's object detector is given, the heads of people (HOG
misses faces under ~40 px) and the vehicles, each searched for its plate (small ones
enlarged). Frames wait in a buffer until the next analysis, so every frame between two
analyses is covered by what both found: a box seen at both ends moves linearly between them,
one seen at only one end is held over the whole interval, and one missed by up to
`MAX_MISSES` analyses in a row stays where it was last seen. No frame therefore shows a face
or plate found in a neighbouring analysis.

A region is obscured by pixelating it to at most `BLOCKS` blocks across and blurring the
blocks together: the detail is discarded, not hidden. The result is H.264 in an ordinary
MP4 with ``+faststart``, the input's timestamps, creation time and chapters kept; audio is
dropped (voices are personal data too).

Example:
    >>> report = redact_clip(Path("export.mp4"), Path("redacted.mp4"))
    >>> report.frames, report.faces_blurred, report.plates_blurred
    (275, 2, 0)
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
import numpy.typing as npt

from vigil.analytics.boxes import Box
from vigil.analytics.classes import VEHICLE_CLASSES
from vigil.analytics.detections import CLASS_NAME
from vigil.analytics.detectors import Detector, DetectorError, create_detector
from vigil.analytics.faces import RECALL_THRESHOLD, find_faces
from vigil.analytics.plates import FRAME_MIN_SIDE, find_and_read_plates

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
Kind = Literal["face", "head", "plate"]

DETECT_INTERVAL_S = 0.2
"""Time between two analyses of the clip (every frame in between is covered from both)."""
MAX_MISSES = 2
"""Analyses in a row that may miss a tracked face or plate before its box is dropped."""
MATCH_DISTANCE = 1.0
"""Boxes of two analyses are the same object when their centres are closer than this many
times their mean size."""
BLOCKS = 8
"""A blurred region keeps at most this many blocks along its longer side."""
MIN_BLOCK_PX = 4
PAD: dict[Kind, tuple[float, float]] = {
    "face": (0.25, 0.45),  # sides and bottom, top (hair and forehead)
    "head": (0.1, 0.1),
    "plate": (0.15, 0.3),
}
HEAD_SHARE = 0.22
"""Top share of a standing person's box that holds the head."""
HEAD_SHARE_CROPPED = 0.4
"""The same for a person box cut by the frame or seated (height < 1.8 x width)."""
OBJECT_CLASSES = ("person", "car", "motorcycle", "bus", "truck")
CRF = 20
"""x264 quality: visually lossless outside the blurred regions."""


class RedactionError(ValueError):
    """The clip cannot be redacted (unreadable input, no video); the message says why."""


@dataclass(frozen=True)
class RedactionReport:
    """What a redaction did.

    Attributes:
        frames: Frames written.
        faces_blurred: Distinct faces (followed across frames) blurred.
        plates_blurred: Distinct plates blurred.
        seconds: Wall time the redaction took.
        heads_blurred: Heads of detected people blurred (0 without an object detector).
        analyses: Frames that were analysed.
        object_detector: Key of the object detector used, or None.
    """

    frames: int
    faces_blurred: int
    plates_blurred: int
    seconds: float
    heads_blurred: int = 0
    analyses: int = 0
    object_detector: str | None = None


@dataclass
class _Tracked:
    id: int
    kind: Kind
    box: Box
    misses: int = 0


@dataclass
class _Tracker:
    """Links what consecutive analyses found (same kind, nearest centres, greedily)."""

    current: list[_Tracked] = field(default_factory=list)
    next_id: int = 0
    seen: dict[Kind, set[int]] = field(
        default_factory=lambda: {"face": set(), "head": set(), "plate": set()}
    )

    def update(self, found: list[tuple[Kind, Box]]) -> list[_Tracked]:
        previous = self.current
        pairs: list[tuple[float, int, int]] = []
        for i, (kind, box) in enumerate(found):
            for j, old in enumerate(previous):
                if old.kind == kind:
                    cost = _centre_distance(box, old.box)
                    if cost < MATCH_DISTANCE:
                        pairs.append((cost, i, j))
        taken_new: set[int] = set()
        taken_old: set[int] = set()
        now: list[_Tracked] = []
        for _cost, i, j in sorted(pairs):
            if i not in taken_new and j not in taken_old:
                taken_new.add(i)
                taken_old.add(j)
                now.append(_Tracked(previous[j].id, found[i][0], found[i][1]))
        for i, (kind, box) in enumerate(found):
            if i not in taken_new:
                now.append(_Tracked(self.next_id, kind, box))
                self.next_id += 1
        for j, old in enumerate(previous):
            if j not in taken_old and old.misses < MAX_MISSES:
                now.append(_Tracked(old.id, old.kind, old.box, old.misses + 1))
        for t in now:
            self.seen[t.kind].add(t.id)
        self.current = now
        return now


def _centre_distance(a: Box, b: Box) -> float:
    size = max(1.0, (a.width + a.height + b.width + b.height) / 4)
    return math.hypot((a.x1 + a.x2 - b.x1 - b.x2) / 2, (a.y1 + a.y2 - b.y1 - b.y2) / 2) / size


def _between(
    start: list[_Tracked], end: list[_Tracked], t: float, width: int, height: int
) -> list[tuple[Kind, Box]]:
    """Regions of a frame ``t`` (0..1) of the way from one analysis to the next."""
    ends = {e.id: e for e in end}
    regions: list[tuple[Kind, Box]] = []
    for s in start:
        e = ends.pop(s.id, None)
        regions.append((s.kind, s.box if e is None else s.box.lerp(e.box, t, width, height)))
    regions.extend((e.kind, e.box) for e in ends.values())
    return regions


def obscure(frame: Frame, box: Box) -> None:
    """Pixelate and blur ``box`` of ``frame`` in place, irreversibly.

    The region is shrunk to at most `BLOCKS` blocks along its longer side (the detail is
    thrown away), enlarged back and blurred so that no block edge carries shape either.
    """
    region = frame[box.y1 : box.y2, box.x1 : box.x2]
    h, w = region.shape[:2]
    if h == 0 or w == 0:
        return
    block = max(MIN_BLOCK_PX, math.ceil(max(w, h) / BLOCKS))
    small = cv2.resize(
        region, (max(1, round(w / block)), max(1, round(h / block))), interpolation=cv2.INTER_AREA
    )
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    kernel = block | 1
    region[:] = cv2.GaussianBlur(coarse, (kernel, kernel), 0)


def head_of(person: Box) -> Box:
    """The part of a person's box that holds the head (its top share, full width)."""
    share = HEAD_SHARE if person.height >= 1.8 * person.width else HEAD_SHARE_CROPPED
    return Box(person.x1, person.y1, person.x2, person.y1 + max(1, round(person.height * share)))


def load_object_detector(models_dir: Path) -> Detector | None:
    """Vigil's default object detector for people and vehicles, or None when its model is not
    installed (redaction then relies on the face detector and whole-frame plate search).

    Args:
        models_dir: The installation's models folder (``settings.models_dir``).
    """
    try:
        return create_detector(
            {"type": "nanodet", "classes": list(OBJECT_CLASSES), "score_threshold": 0.3},
            models_dir=models_dir,
            intra_op_threads=0,
        )
    except DetectorError as exc:
        log.info("redaction without an object detector: %s", exc)
        return None


_detectors: dict[Path, Detector] = {}
_detectors_lock = threading.Lock()


def shared_object_detector(models_dir: Path) -> Detector | None:
    """`load_object_detector`, loaded once per models folder for a long-running server
    (onnxruntime sessions may be run from several threads). A missing model is looked for
    again next time, so installing it takes effect without a restart."""
    with _detectors_lock:
        detector = _detectors.get(models_dir)
        if detector is None:
            detector = load_object_detector(models_dir)
            if detector is not None:
                _detectors[models_dir] = detector
        return detector


class _Analyser:
    """Finds what must be blurred in one frame."""

    def __init__(self, faces: bool, plates: bool, detector: Detector | None) -> None:
        self.faces, self.plates, self.detector = faces, plates, detector

    def __call__(self, frame: Frame) -> list[tuple[Kind, Box]]:
        height, width = frame.shape[:2]
        found: list[tuple[Kind, Box]] = []
        people: list[Box] = []
        vehicles: list[Box] = []
        if self.detector is not None:
            detections = self.detector.detect(frame)
            names = detections.data.get(CLASS_NAME, np.array([], dtype=str))
            for xyxy, name in zip(detections.xyxy, names, strict=True):
                x1, y1, x2, y2 = (float(v) for v in xyxy)
                box = Box.around(x1, y1, x2, y2, width, height)
                if name == "person":
                    people.append(box)
                elif name in VEHICLE_CLASSES:
                    vehicles.append(box)
        detected = self.detector is not None
        if self.faces:
            found.extend(("face", b) for b in find_faces(frame, threshold=RECALL_THRESHOLD))
            found.extend(("head", head_of(p)) for p in people)
        if self.plates:
            # The whole frame always (a vehicle the detector missed still has its plate
            # found): at its own size when the vehicles are searched too (small ones
            # enlarged: a distant plate is too small at frame scale; on a vehicle a plate
            # without digits counts), else enlarged itself.
            reads = find_and_read_plates(frame, min_side=0 if detected else FRAME_MIN_SIDE)
            if vehicles:
                reads += find_and_read_plates(frame, vehicles)
            boxes: list[Box] = []
            for read in reads:
                if all(read.box.iou(b) <= 0.5 for b in boxes):
                    boxes.append(read.box)
            found.extend(("plate", b) for b in boxes)
        return found


def _even(frame: Frame) -> Frame:
    # yuv420p needs even dimensions: drop an odd last row or column.
    h, w = frame.shape[:2]
    return frame[: h - h % 2, : w - w % 2]


def _decoded(container: av.container.InputContainer, src: Path) -> Iterator[av.VideoFrame]:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError as exc:
            # A damaged packet costs its frames, not the export.
            log.warning("%s: skipped undecodable data (%s)", src, exc)


def redact_clip(
    src: Path,
    dst: Path,
    *,
    faces: bool = True,
    plates: bool = True,
    progress: Callable[[float], None] | None = None,
    detector: Detector | None = None,
) -> RedactionReport:
    """Write ``src`` to ``dst`` with faces and/or licence plates blurred.

    Args:
        src: A video file PyAV can read (an export, a camera's clip).
        dst: The redacted MP4 to write (written beside it and renamed into place when done).
        faces: Blur faces (and the heads of people the detector finds).
        plates: Blur licence plates.
        progress: Called with fractions in [0, 1] as frames are written.
        detector: Vigil's object detector (`load_object_detector`): finds people whose faces
            are too small for the face detector and vehicles to search for plates.
            None: faces and plates only from their own detectors.

    Returns:
        What was done (`RedactionReport`).

    Raises:
        RedactionError: ``src`` is missing, unreadable or has no video.
        FacesUnavailable, PlatesUnavailable: The face or OCR package is not installed.
    """
    started = time.perf_counter()
    dst = dst.resolve()  # FFmpeg reopens the file by name for faststart
    partial = dst.with_name(f".{dst.name}.partial")
    try:
        container = av.open(str(src))
    except (av.error.FFmpegError, OSError) as exc:
        raise RedactionError(
            f"cannot read {src}: {exc}; give a video file (MP4, MKV, ...) that exists"
        ) from None
    try:
        if not container.streams.video:
            raise RedactionError(f"{src} has no video stream: nothing to redact")
        job = _Job(container, src, partial, faces, plates, detector, progress)
        job.run()
        os.replace(partial, dst)
    except av.error.FFmpegError as exc:
        raise RedactionError(f"cannot redact {src}: {exc}") from None
    finally:
        container.close()
        partial.unlink(missing_ok=True)
    if progress is not None:
        progress(1.0)
    tracker = job.tracker
    return RedactionReport(
        frames=job.frames,
        faces_blurred=len(tracker.seen["face"]),
        plates_blurred=len(tracker.seen["plate"]),
        seconds=time.perf_counter() - started,
        heads_blurred=len(tracker.seen["head"]),
        analyses=job.analyses,
        object_detector=None if detector is None else detector.key,
    )


class _Job:
    """One redaction: decode, analyse every `DETECT_INTERVAL_S`, blur, encode."""

    def __init__(
        self,
        container: av.container.InputContainer,
        src: Path,
        partial: Path,
        faces: bool,
        plates: bool,
        detector: Detector | None,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.container, self.src, self.partial = container, src, partial
        self.analyse = _Analyser(faces, plates, detector if faces or plates else None)
        self.active = faces or plates
        self.progress = progress
        self.tracker = _Tracker()
        self.frames = 0
        self.analyses = 0
        video = container.streams.video[0]
        rate = video.average_rate or video.guessed_rate
        self.rate = Fraction(rate) if rate else Fraction(25)
        self.fps = float(self.rate)
        self.every = max(1, round(self.fps * DETECT_INTERVAL_S))
        self.time_base = video.time_base or Fraction(1, 90000)
        self.tick = max(1, round(1 / (self.fps * self.time_base)))
        """One frame's duration in ``time_base`` units."""
        self.expected = video.frames or (
            round(float(video.duration * video.time_base) * self.fps)
            if video.duration and video.time_base
            else round((container.duration or 0) / 1e6 * self.fps)
        )
        self.reported = 0.0

    def run(self) -> None:
        with av.open(
            str(self.partial), "w", format="mp4", options={"movflags": "+faststart"}
        ) as output:
            for key in ("creation_time", "title"):
                if key in self.container.metadata:
                    output.metadata[key] = self.container.metadata[key]
            blurred = [k for k in ("faces", "plates") if getattr(self.analyse, k)]
            output.metadata["comment"] = "vigil redacted export: " + (
                ", ".join(blurred) or "nothing blurred"
            )
            self.output = output
            self.stream: av.VideoStream | None = None
            buffer: list[tuple[int, Frame]] = []
            last_pts: int | None = None
            previous: list[_Tracked] = []
            for frame in _decoded(self.container, self.src):
                image = _even(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))
                pts = frame.pts
                if last_pts is not None and (pts is None or pts <= last_pts):
                    # Missing or repeated timestamps: one frame later (the muxer wants them
                    # increasing).
                    pts = last_pts + self.tick
                last_pts = pts = pts if pts is not None else 0
                buffer.append((pts, image))
                if (self.frames + len(buffer) - 1) % self.every == 0:
                    previous = self._flush(buffer, previous)
                    buffer = []
            if buffer:
                previous = self._flush(buffer, previous)
            if self.stream is None:
                raise RedactionError(f"{self.src} holds no decodable video frame")
            for packet in self.stream.encode(None):
                output.mux(packet)
            try:
                output.set_chapters(self.container.chapters())
            except (AttributeError, ValueError) as exc:  # chapters are a courtesy
                log.debug("chapters not copied: %s", exc)

    def _flush(self, buffer: list[tuple[int, Frame]], start: list[_Tracked]) -> list[_Tracked]:
        """Analyse the buffer's last frame, blur the buffer from both ends, encode it."""
        last = buffer[-1][1]
        height, width = last.shape[:2]
        if self.active:
            end = self.tracker.update(self.analyse(last))
            self.analyses += 1
        else:
            end = []
        # The buffer runs from just after the previous analysis (the clip's first frame has
        # none: ``start`` is empty) to this one, whose frame is the buffer's last.
        for i, (pts, image) in enumerate(buffer):
            regions = _between(start, end, (i + 1) / len(buffer), width, height)
            for kind, box in regions:
                sides, top = PAD[kind]
                obscure(image, box.pad(sides, width, height, top=top))
            self._encode(pts, image)
        return end

    def _encode(self, pts: int, image: Frame) -> None:
        if self.stream is None:
            height, width = image.shape[:2]
            stream = self.output.add_stream("libx264", rate=self.rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.time_base = self.time_base
            stream.codec_context.time_base = self.time_base
            stream.options = {"crf": str(CRF), "preset": "veryfast"}
            self.stream = stream
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.output.mux(packet)
        self.frames += 1
        if self.progress is not None and self.expected:
            done = min(self.frames / self.expected, 0.99)
            if done >= self.reported + 0.01:
                self.reported = done
                self.progress(done)

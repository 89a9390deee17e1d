"""Find a data subject in the recordings: scan the segments of the chosen cameras and period,
about one frame a second, for their plate (``analytics/plates.py``) or face
(``analytics/faces.py``), and store each appearance as a hit with a thumbnail.

Frames come from keyframes alone when the camera sends one at least every
``DENSE_DECODE_GAP_S`` (cheap: the decoder skips everything else); a segment with sparser
keyframes is decoded whole and sampled every ``SAMPLE_EVERY_S``. Recognition, not decoding,
is what a search costs (``bench/subject_search.py``).
Sightings of the same kind on the same camera less than ``MERGE_GAP_S`` apart are one hit
(first and last sighting, and the best one's frame, box and score). A missing or unreadable
segment is reported in the job's problems and the search goes on.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt

from vigil.analytics.boxes import Box
from vigil.analytics.frames import to_bgr
from vigil.analytics.snapshots import draw_box, encode_jpeg
from vigil.domain.subject_requests import HitKind, SearchCriteria, normalise_plate
from vigil.media.footage import Footage, FootageUnavailable
from vigil.privacy.files import PRIVACY_DIR, remove_files, write_atomic
from vigil.privacy.jobs import run_job
from vigil.security import audit
from vigil.store import recordings
from vigil.store import subject_requests as store
from vigil.store.db import Database
from vigil.store.models import Segment
from vigil.store.models_subject_requests import SubjectRequest, SubjectRequestHit

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
SAMPLE_EVERY_S = 1.0
DENSE_DECODE_GAP_S = 2.0
MERGE_GAP_S = 5.0
THUMBNAIL_MAX_WIDTH = 640
MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class Match:
    """The subject in one frame."""

    kind: HitKind
    box: Box
    score: float  # 0..1, higher is surer
    text: str | None = None  # the plate as read


Matcher = Callable[[Image], list[Match]]


class PlateMatcher:
    """Finds plates in a frame, reads them and keeps those that match the subject's."""

    def __init__(self, plate: str) -> None:
        from vigil.analytics import plates  # OCR models: loaded only when a plate is sought

        self._plates = plates
        self.plate = plate

    def __call__(self, frame: Image) -> list[Match]:
        found = []
        for read in self._plates.find_and_read_plates(frame):
            if read.text and self._plates.plates_match(read.text, self.plate):
                # Sure when read confidently and letter for letter; an OCR confusion costs.
                same = SequenceMatcher(None, read.text, normalise_plate(self.plate)).ratio()
                found.append(Match(HitKind.PLATE, read.box, round(read.score * same, 3), read.text))
        return found


class FaceMatcher:
    """Finds faces in a frame and keeps those closer to the reference than the tolerance."""

    def __init__(self, reference: Sequence[float], tolerance: float) -> None:
        from vigil.analytics import faces  # dlib models: loaded only when a face is sought

        self._faces = faces
        self.reference = np.asarray(reference, dtype=np.float32)
        self.tolerance = tolerance

    def __call__(self, frame: Image) -> list[Match]:
        found = []
        for box in self._faces.find_faces(frame):
            distance = self._faces.face_distance(
                self._faces.describe_face(frame, box), self.reference
            )
            if distance < self.tolerance:
                found.append(Match(HitKind.FACE, box, round(max(0.0, 1.0 - distance), 3)))
        return found


def matchers_for(
    criteria: SearchCriteria, face_descriptor: Sequence[float] | None
) -> list[Matcher]:
    """What to look for: the plate, the reference face, or both."""
    matchers: list[Matcher] = []
    if criteria.plate:
        matchers.append(PlateMatcher(criteria.plate))
    if face_descriptor is not None:
        matchers.append(FaceMatcher(face_descriptor, criteria.face_tolerance))
    return matchers


class SegmentUnreadable(ValueError):
    """A segment file holds no decodable video."""


def sample_frames(
    path: Path,
    segment_start: datetime,
    *,
    start: datetime,
    end: datetime,
    every_s: float = SAMPLE_EVERY_S,
) -> Iterator[tuple[datetime, Image]]:
    """About one BGR frame every ``every_s`` of a segment file, with its wall time, within
    [start, end]. The file is always read as MP4, as playback does.

    Raises:
        SegmentUnreadable: No video stream or no keyframe in the file.
        av.error.FFmpegError, OSError: The file cannot be read.
    """
    with av.open(str(path), format="mp4") as container:
        if not container.streams.video:
            raise SegmentUnreadable(f"{path.name} has no video stream")
        stream = container.streams.video[0]
        pts = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.pts is not None]
        keys = [t for t, key in pts if key]
        if not keys:
            raise SegmentUnreadable(f"{path.name} has no keyframe")
        time_base = stream.time_base
        assert time_base is not None
    first = keys[0]
    bounds = [*keys, max(t for t, _ in pts)]
    widest = max(b - a for a, b in itertools.pairwise(bounds))
    dense = float(widest * time_base) > DENSE_DECODE_GAP_S
    last: datetime | None = None
    with av.open(str(path), format="mp4") as container:
        stream = container.streams.video[0]
        if not dense:
            stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            at = segment_start + timedelta(seconds=float((frame.pts - first) * time_base))
            if at < start:
                continue
            if at > end:
                break
            if last is not None and (at - last).total_seconds() < every_s * 0.95:
                continue
            last = at
            yield at, to_bgr(frame)


@dataclass(slots=True)
class _Appearance:
    camera_id: int
    kind: HitKind
    first_at: datetime
    last_at: datetime
    best: Match
    best_at: datetime
    frame: Image
    sightings: int = 1


@dataclass(slots=True)
class HitWriter:
    """Merges sightings into appearances and stores each, with its thumbnail, once the
    subject has been out of sight for ``MERGE_GAP_S`` (or the camera's scan ends)."""

    db: Database
    data_dir: Path
    request_id: int
    stored: int = 0
    _open: dict[tuple[int, HitKind], _Appearance] = field(default_factory=dict)

    def add(self, camera_id: int, at: datetime, match: Match, frame: Image) -> None:
        """One sighting."""
        key = (camera_id, match.kind)
        current = self._open.get(key)
        if current is not None and (at - current.last_at).total_seconds() > MERGE_GAP_S:
            self._store(self._open.pop(key))
            current = None
        if current is None:
            self._open[key] = _Appearance(camera_id, match.kind, at, at, match, at, frame)
            return
        current.last_at = max(current.last_at, at)
        current.sightings += 1
        if match.score > current.best.score:
            current.best, current.best_at, current.frame = match, at, frame

    @property
    def pending(self) -> int:
        """Appearances still open (stored when the subject is out of sight)."""
        return len(self._open)

    def flush(self, camera_id: int | None = None) -> None:
        """Store the open appearances (of one camera, or all)."""
        for key in [k for k in self._open if camera_id is None or k[0] == camera_id]:
            self._store(self._open.pop(key))

    def _store(self, a: _Appearance) -> None:
        relative = (
            Path(PRIVACY_DIR)
            / "requests"
            / str(self.request_id)
            / "hits"
            / f"{a.camera_id}-{a.first_at:%Y%m%dT%H%M%S%f}-{a.kind}.jpg"
        )
        write_atomic(self.data_dir / relative, thumbnail(a.frame, a.best.box, a.best.text))
        store.add_hit(
            self.db,
            SubjectRequestHit(
                request_id=self.request_id,
                camera_id=a.camera_id,
                kind=str(a.kind),
                first_at=a.first_at,
                last_at=a.last_at,
                at=a.best_at,
                box=[float(v) for v in a.best.box],
                score=a.best.score,
                text=a.best.text,
                sightings=a.sightings,
                thumbnail=relative.as_posix(),
                selected=True,
            ),
        )
        self.stored += 1


def thumbnail(frame: Image, box: Box, label: str | None) -> bytes:
    """The frame with the subject's box drawn, at most ``THUMBNAIL_MAX_WIDTH`` wide, as JPEG."""
    image = frame.copy()
    draw_box(image, box, label)
    width = image.shape[1]
    if width > THUMBNAIL_MAX_WIDTH:
        scale = THUMBNAIL_MAX_WIDTH / width
        image = np.ascontiguousarray(
            cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
            dtype=np.uint8,
        )
    return encode_jpeg(image)


def start_search(
    db: Database,
    *,
    data_dir: Path,
    recordings_dir: Path,
    request_id: int,
    username: str,
    matchers: list[Matcher] | None = None,
) -> SubjectRequest:
    """Start searching for the subject in the background: hits of an earlier search are
    replaced. Follow it with the request's job fields; stop it with
    ``store.request_cancel``.

    Raises:
        Conflict: A job of the request is running, or the request cannot be searched now.
    """
    row = store.claim_job(
        db, request_id, kind="search", username=username, details={"criteria": None}
    )
    remove_files(data_dir, store.delete_hits(db, request_id))

    def work() -> None:
        run_search(
            db,
            data_dir=data_dir,
            recordings_dir=recordings_dir,
            request_id=request_id,
            matchers=matchers,
        )

    run_job(db, request_id, "search", work)
    return row


def run_search(
    db: Database,
    *,
    data_dir: Path,
    recordings_dir: Path,
    request_id: int,
    matchers: list[Matcher] | None = None,
    every_s: float = SAMPLE_EVERY_S,
) -> SubjectRequest:
    """Scan the request's cameras and period (its job must be claimed) and end the job:
    done, cancelled when asked to stop, failed when the analytics cannot run."""
    row = store.get_request(db, request_id)
    criteria = SearchCriteria.model_validate(row.criteria)
    plan = [
        seg
        for camera_id in criteria.camera_ids
        for seg in recordings.segments_between(db, camera_id, criteria.start, criteria.end)
    ]
    detail: dict[str, Any] = {
        "segments_total": len(plan),
        "segments_done": 0,
        "frames": 0,
        "hits": 0,
        "cameras_without_footage": sorted(
            set(criteria.camera_ids) - {seg.camera_id for seg in plan}
        ),
        "problems": [],
    }
    try:
        matchers = matchers if matchers is not None else matchers_for(criteria, row.face_descriptor)
    except Exception as exc:  # a missing model or library: say which, stop cleanly
        return _end(db, request_id, "failed", detail, f"the analytics cannot run: {exc}")
    if not matchers:
        return _end(db, request_id, "failed", detail, "nothing to look for: no plate and no face")
    writer = HitWriter(db, data_dir, request_id)
    # Segments on recorder nodes' own disks are fetched from them (media/footage.py).
    footage = Footage(db, recordings_dir=recordings_dir, data_dir=data_dir)
    for index, seg in enumerate(plan):
        if store.job_progress(db, request_id, index / max(len(plan), 1), detail):
            writer.flush()
            detail["hits"] = writer.stored
            return _end(db, request_id, "cancelled", detail)
        if index and plan[index - 1].camera_id != seg.camera_id:
            writer.flush(plan[index - 1].camera_id)
        _scan_segment(seg, footage, criteria, matchers, writer, detail, every_s)
        detail["segments_done"] = index + 1
        detail["hits"] = writer.stored + writer.pending
    writer.flush()
    detail["hits"] = writer.stored
    return _end(db, request_id, "done", detail)


def _readable(footage: Footage, seg: Segment) -> tuple[Path | None, str | None]:
    """The segment's file to read here (fetched from its node when it keeps it), or why not."""
    try:
        path = footage.locate(seg)
    except FootageUnavailable as exc:  # on a node that is down: said, and the scan goes on
        return None, str(exc)
    if path is None:
        return None, f"index path {seg.path!r} leaves the recordings directory: skipped"
    if not path.is_file():
        return None, f"file {seg.path} is missing"
    return path, None


def _scan_segment(
    seg: Segment,
    footage: Footage,
    criteria: SearchCriteria,
    matchers: list[Matcher],
    writer: HitWriter,
    detail: dict[str, Any],
    every_s: float,
) -> None:
    path, problem = _readable(footage, seg)
    if path is not None:
        try:
            frames = sample_frames(
                path, seg.start, start=criteria.start, end=criteria.end, every_s=every_s
            )
            for at, frame in frames:
                detail["frames"] += 1
                for matcher in matchers:
                    for match in matcher(frame):
                        writer.add(seg.camera_id, at, match, frame)
        except (av.error.FFmpegError, OSError, SegmentUnreadable) as exc:
            problem = f"file {seg.path} cannot be read: {exc}"
    if problem is not None and len(detail["problems"]) < MAX_PROBLEMS:
        log.warning("subject search: camera %s: %s", seg.camera_id, problem)
        detail["problems"].append(
            {
                "camera_id": seg.camera_id,
                "segment_id": seg.id,
                "start": seg.start.isoformat(),
                "problem": problem,
            }
        )


def _end(
    db: Database, request_id: int, state: str, detail: dict[str, Any], error: str | None = None
) -> SubjectRequest:
    row = store.finish_job(db, request_id, state=state, detail=detail, error=error)
    audit.record(
        db,
        action="privacy.request.search",
        outcome=audit.Outcome.SUCCESS if error is None else audit.Outcome.FAILURE,
        target=f"subject_request:{request_id}",
        details={
            "state": state,
            "hits": detail.get("hits", 0),
            "segments": detail.get("segments_done", 0),
            "problems": len(detail.get("problems", [])),
            **({"error": error} if error else {}),
        },
    )
    return row

"""Faces of the people a camera follows, for the face watchlist (``face_matching``).

Each person track keeps its ``views`` best views of the head (the top third of its box, with
a margin, at the camera's resolution; best: largest and sharpest). When the track ends, or
has been followed ``read_after_s``, the views are searched for a face (dlib's HOG, as
``analytics.faces``), each face at least ``min_face_px`` wide is described, and one
``FaceSighting`` carries the descriptors and the best face's picture to the server. Nothing
is written here: a face on no list leaves no trace (see ``registers/faces.py``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from vigil.analytics.behaviours.face_matching import FaceMatching
from vigil.analytics.behaviours.registry import behaviour_label
from vigil.analytics.boxes import Box
from vigil.analytics.config import Zone
from vigil.analytics.detections import CLASS_NAME, Detections
from vigil.analytics.faces import SAME_PERSON_DISTANCE, describe_face, find_faces
from vigil.analytics.geometry import anchor_points
from vigil.analytics.snapshots import Image, encode_jpeg
from vigil.analytics.views import Followed, TrackViews, quality
from vigil.domain.events import FaceSighting

__all__ = ["FrameFaces", "PersonFaces"]

log = logging.getLogger(__name__)

HEAD_SHARE = 0.5
"""Share of a person's box, from its top, searched for the head (a whole body: the top
fifth; a person seen from the waist up: the top half)."""
HEAD_MARGIN = 0.15


@dataclass(slots=True)
class _View:
    image: Image
    quality: float
    at: datetime
    box: tuple[float, float, float, float]  # the person, fractions of the frame


class PersonFaces:
    """Each person track's best head views, looked at once per passage (see the module).

    Args:
        options: The behaviour's options.
        zone: The zone it names (None: the whole view).
        camera_id: The camera (for the sightings).
        node: The recorder node (for the sightings).
    """

    def __init__(
        self, options: FaceMatching, zone: Zone | None, *, camera_id: int, node: str
    ) -> None:
        self.options = options
        self.zone = zone
        self.camera_id = camera_id
        self.node = node
        self._tracks: TrackViews[_View] = TrackViews(options.views, options.read_after_s)

    def observe(self, tracked: Detections, image: Image, t: float, at: datetime) -> None:
        """Keep this frame's head views that are among each person's best."""
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
            if names is not None and str(names[i]) != "person":
                continue
            in_zone = inside is None or bool(inside[i])
            person = self._tracks.follow(int(track_id), "person", t, at, in_zone=in_zone)
            if person is not None:
                self._keep(person, image, tracked.xyxy[i], at)

    def _keep(self, person: Followed[_View], image: Image, xyxy: np.ndarray, at: datetime) -> None:
        height, width = image.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        w, h = x2 - x1, y2 - y1
        if w < self.options.min_face_px:
            return  # the whole person is narrower than the smallest face looked at
        head = Box.around(
            x1 - w * HEAD_MARGIN,
            y1 - h * HEAD_MARGIN * HEAD_SHARE,
            x2 + w * HEAD_MARGIN,
            y1 + h * HEAD_SHARE,
            width,
            height,
        )
        if head.width < 8 or head.height < 8:
            return
        if not self._tracks.worth(person, head.area):
            return
        score = quality(image, head)
        if not self._tracks.worth(person, score):
            return
        piece = np.ascontiguousarray(image[head.y1 : head.y2, head.x1 : head.x2])
        fractions = (x1 / width, y1 / height, x2 / width, y2 / height)
        self._tracks.keep(person, _View(piece, score, at, fractions))

    def finish(
        self, ended: Iterable[int], now: float, *, flush: bool = False
    ) -> list[FaceSighting]:
        """Look at the people whose track ended and those followed ``read_after_s`` (once per
        track); forget the ended ones. ``flush`` (the camera stops): everyone."""
        sightings: list[FaceSighting] = []
        for track_id, person in self._tracks.due(ended, now, flush=flush):
            found = self._look(track_id, person)
            if found is not None:
                sightings.append(found)
        return sightings

    def _look(self, track_id: int, person: Followed[_View]) -> FaceSighting | None:
        descriptors: list[list[float]] = []
        best: tuple[int, Image, _View] | None = None
        for view in person.views:
            faces = [b for b in find_faces(view.image) if b.width >= self.options.min_face_px]
            if not faces:
                continue
            face = max(faces, key=lambda b: b.area)
            descriptors.append([float(v) for v in describe_face(view.image, face)])
            if best is None or face.area > best[0]:
                crop = view.image[face.y1 : face.y2, face.x1 : face.x2]
                best = (face.area, np.ascontiguousarray(crop), view)
        if best is None:
            return None
        _, crop, view = best
        return FaceSighting(
            camera_id=self.camera_id,
            at=view.at,
            track_id=track_id,
            box=tuple(round(v, 4) for v in view.box),
            descriptors=descriptors,
            face_jpeg=base64.b64encode(encode_jpeg(crop)).decode(),
            purpose=self.options.purpose,
            behaviour=behaviour_label(self.options),
            node=self.node,
        )


@dataclass(slots=True, eq=False)  # compared by identity (it holds arrays)
class _Passage:
    first: np.ndarray  # the descriptor that opened it
    last_t: float
    faces: list[tuple[int, list[float], Image, datetime, tuple[float, float, float, float]]] = (
        field(default_factory=list)
    )  # (area, descriptor, crop, at, box) of its best views


class FrameFaces:
    """The ``frame`` mode: the whole frame searched ``frame_looks_per_s`` times a second;
    the faces of one person (within ``SAME_PERSON_DISTANCE`` of the passage's first) are one
    passage, sent once that face has not been seen for ``gap_s``.

    Args:
        options: The behaviour's options.
        camera_id: The camera (for the sightings).
        node: The recorder node (for the sightings).
    """

    def __init__(self, options: FaceMatching, *, camera_id: int, node: str) -> None:
        self.options = options
        self.camera_id = camera_id
        self.node = node
        self._last_look: float | None = None
        self._passages: list[_Passage] = []

    def observe(self, image: Image, t: float, at: datetime) -> None:
        """Search the frame (when due) and add each face to its person's passage."""
        every = 1.0 / self.options.frame_looks_per_s
        if self._last_look is not None and t - self._last_look < every:
            return
        self._last_look = t
        height, width = image.shape[:2]
        for face in find_faces(image):
            if face.width < self.options.min_face_px:
                continue
            descriptor = describe_face(image, face)
            passage = next(
                (
                    p
                    for p in self._passages
                    if float(np.linalg.norm(p.first - descriptor)) < SAME_PERSON_DISTANCE
                ),
                None,
            )
            if passage is None:
                passage = _Passage(np.asarray(descriptor), t)
                self._passages.append(passage)
            passage.last_t = t
            crop = np.ascontiguousarray(image[face.y1 : face.y2, face.x1 : face.x2])
            box = (face.x1 / width, face.y1 / height, face.x2 / width, face.y2 / height)
            passage.faces.append((face.area, [float(v) for v in descriptor], crop, at, box))
            passage.faces.sort(key=lambda f: -f[0])
            del passage.faces[self.options.views :]

    def finish(self, now: float, *, flush: bool = False) -> list[FaceSighting]:
        """The passages whose face has not been seen for ``gap_s`` (all with ``flush``)."""
        sightings: list[FaceSighting] = []
        for passage in list(self._passages):
            if flush or now - passage.last_t >= self.options.gap_s:
                self._passages.remove(passage)
                _, _, crop, at, box = passage.faces[0]
                sightings.append(
                    FaceSighting(
                        camera_id=self.camera_id,
                        at=at,
                        box=tuple(round(v, 4) for v in box),
                        descriptors=[f[1] for f in passage.faces],
                        face_jpeg=base64.b64encode(encode_jpeg(crop)).decode(),
                        purpose=self.options.purpose,
                        behaviour=behaviour_label(self.options),
                        node=self.node,
                    )
                )
        return sightings

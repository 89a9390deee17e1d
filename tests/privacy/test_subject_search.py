"""Searching recordings for a data subject, on generated footage: a plate drawn over testsrc2
for two seconds, and (with ../shared/media) a face photo pasted in for two seconds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.media.test_recording import record_file, segments_of
from tests.privacy.footage import PLATE, SHOWN, clip, draw_photo, draw_plate, shared_face
from vigil.config import Settings
from vigil.domain.subject_requests import RequestKind, RequestStatus, SearchCriteria
from vigil.privacy.reference import (
    MAX_REFERENCE_BYTES,
    ReferenceImageError,
    face_descriptor,
    image_size,
    image_type,
)
from vigil.privacy.subject_search import run_search
from vigil.store import subject_requests as store
from vigil.store.db import Database
from vigil.store.models_subject_requests import SubjectRequest
from vigil.store.types import utcnow


@pytest.fixture(scope="module")
def plate_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip(tmp_path_factory.mktemp("privacy") / "plate.mp4", draw_plate())


def search(
    db: Database,
    settings: Settings,
    camera_id: int,
    *,
    plate: str | None = None,
    face: list[float] | None = None,
) -> SubjectRequest:
    """Open a request and run its search to the end, here."""
    now = utcnow()
    criteria = SearchCriteria(
        camera_ids=[camera_id],
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
        plate=plate,
    )
    row = store.create_request(
        db,
        kind=RequestKind.ACCESS,
        subject="the subject",
        legal_reference="art. 15",
        requester_contact="someone@example.org",
        criteria=criteria,
        created_by="dpo",
        face_descriptor=face,
    )
    store.claim_job(db, row.id, kind="search", username="dpo")
    return run_search(
        db, data_dir=settings.data_dir, recordings_dir=settings.recordings_dir, request_id=row.id
    )


# The database is not what these test, and OCR costs ~0.5 s a frame: SQLite only.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_drawn_plate_is_found_while_it_is_shown_and_only_then(
    db: Database, settings: Settings, plate_clip: Path
) -> None:
    camera_id, _ = record_file(db, settings, plate_clip)
    t0 = segments_of(db, camera_id)[0].start
    done = search(db, settings, camera_id, plate=PLATE.lower().replace(" ", "-"))
    assert done.status == RequestStatus.REVIEW and done.job_state == "done", done.job_error
    assert done.job_detail["frames"] == 6, "one keyframe a second of a 6 s clip"
    hits = store.list_hits(db, done.id)
    assert [(h.kind, h.text, h.camera_id) for h in hits] == [("plate", "KA482BX", camera_id)]
    hit = hits[0]
    # Keyframes at 2 s and 3 s show the plate (it is drawn from 2 s to 4 s).
    assert (hit.first_at - t0).total_seconds() == pytest.approx(SHOWN[0], abs=0.05)
    assert (hit.last_at - t0).total_seconds() == pytest.approx(SHOWN[0] + 1, abs=0.05)
    assert hit.sightings == 2 and hit.selected and hit.score > 0.8
    x1, y1, x2, y2 = hit.box
    assert 195 <= x1 < x2 <= 445 and 215 <= y1 < y2 <= 280, "the box is on the drawn plate"
    assert hit.thumbnail is not None
    thumbnail = cv2.imread(str(settings.data_dir / hit.thumbnail))
    assert thumbnail is not None and thumbnail.shape == (360, 640, 3)

    other = search(db, settings, camera_id, plate="MN 771 ZT")
    assert other.job_state == "done" and store.list_hits(db, other.id) == []


@sqlite_only
def test_a_face_is_found_by_its_reference_photo_and_no_one_else_is(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    pasted = shared_face("obama2.jpg")
    reference = shared_face("obama.jpg").read_bytes()
    someone_else = shared_face("biden.jpg").read_bytes()
    camera_id, _ = record_file(db, settings, clip(tmp_path / "face.mp4", draw_photo(pasted)))
    t0 = segments_of(db, camera_id)[0].start

    done = search(db, settings, camera_id, face=face_descriptor(reference))
    assert done.job_state == "done", done.job_error
    hits = store.list_hits(db, done.id)
    assert [h.kind for h in hits] == ["face"]
    assert (hits[0].first_at - t0).total_seconds() == pytest.approx(SHOWN[0], abs=0.05)
    assert hits[0].score > 0.4, "distance below 0.6"
    assert hits[0].box[0] >= 400, "the box is on the pasted photo"

    nobody = search(db, settings, camera_id, face=face_descriptor(someone_else))
    assert nobody.job_state == "done" and store.list_hits(db, nobody.id) == []


def encoded(ext: str, width: int = 64, height: int = 48) -> bytes:
    ok, data = cv2.imencode(ext, np.full((height, width, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


def test_reference_images_are_checked_before_they_are_decoded() -> None:
    jpeg, png = encoded(".jpg"), encoded(".png")
    assert image_type(jpeg, "image/jpeg") == "jpg" and image_size(jpeg) == (64, 48)
    assert image_type(png, None) == "png" and image_size(png) == (64, 48)
    bad = [
        (b"", "image/jpeg", "empty"),
        (b"GIF89a" + b"\0" * 100, "image/gif", "must be a JPEG or PNG"),
        (png, "image/jpeg", "declared as image/jpeg but is image/png"),
        (jpeg[:2] + b"\xff\x00" * 4, "image/jpeg", "no image size"),
        (png[:20], "image/png", "PNG header is damaged"),
        (b"\xff\xd8\xff" + b"\0" * MAX_REFERENCE_BYTES, "image/jpeg", "larger than 5 MB"),
    ]
    for data, declared, message in bad:
        with pytest.raises(ReferenceImageError, match=message):
            image_type(data, declared)
    # A 20000 x 20000 PNG header: refused by its size, never unpacked.
    huge = bytearray(png)
    huge[16:24] = (20000).to_bytes(4, "big") * 2
    with pytest.raises(ReferenceImageError, match="at most 40 megapixels"):
        image_type(bytes(huge), "image/png")
    with pytest.raises(ReferenceImageError, match="no face found"):
        face_descriptor(encoded(".jpg", 320, 240))

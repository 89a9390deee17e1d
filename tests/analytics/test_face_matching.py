"""Face matching on a camera: switched on only with a stated purpose; on real footage
(the Hamilton clip of the face_recognition examples) the frame mode's passages carry the
faces of the singer on the list, and no passage is taken for someone else on it."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import pytest
from pydantic import ValidationError

from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.faces import describe_face, find_faces
from vigil.analytics.offline import play_file
from vigil.domain.events import FaceSighting
from vigil.registers.faces import best_match
from vigil.store.registers import ListedFace, RegisterMatch

SHARED = Path(__file__).resolve().parents[3] / "shared"
EXAMPLES = SHARED / "media" / "face_recognition-examples" / "examples"
MODELS = SHARED / "models"


def test_face_matching_needs_a_stated_purpose() -> None:
    with pytest.raises(ValidationError, match="purpose"):
        CameraAnalyticsConfig.model_validate({"behaviours": [{"type": "face_matching"}]})
    with pytest.raises(ValidationError, match="at least 10"):
        CameraAnalyticsConfig.model_validate(
            {"behaviours": [{"type": "face_matching", "purpose": "because"}]}
        )


def listed(name: str, photo: Path) -> ListedFace:
    image = cv2.imread(str(photo))
    descriptor = [float(v) for v in describe_face(image, find_faces(image)[0])]
    match = RegisterMatch(1, "Wanted", "wanted", hash(name) % 1000, name, name, None, None,
                          None, None, 0.0)  # fmt: skip
    return ListedFace(match, [descriptor], None)


@pytest.mark.skipif(not EXAMPLES.is_dir() or not MODELS.is_dir(), reason="needs ../shared")
def test_the_singer_on_the_list_is_found_in_real_footage_and_nobody_else() -> None:
    sightings: list[FaceSighting] = []
    lock = threading.Lock()

    def publish(_subject: str, message: object) -> None:
        if isinstance(message, FaceSighting):
            with lock:
                sightings.append(message)

    config = CameraAnalyticsConfig.model_validate(
        {
            "behaviours": [
                {"type": "face_matching", "purpose": "finding the singer", "mode": "frame"}
            ]
        }
    )
    play_file(EXAMPLES / "short_hamilton_clip.mp4", config, MODELS, publish)
    assert sightings, "faces are seen"
    singer = listed("Lin-Manuel Miranda", EXAMPLES / "lin-manuel-miranda.png")
    others = [listed("Obama", EXAMPLES / "obama.jpg"), listed("Biden", EXAMPLES / "biden.jpg")]
    hits = [best_match(s, [singer, *others]) for s in sightings]
    names = [h[0].match.label for h in hits if h is not None]
    assert names and set(names) == {"Lin-Manuel Miranda"}, [h and h[1] for h in hits]
    assert all(
        s.descriptors and s.face_jpeg and s.purpose == "finding the singer" for s in sightings
    )

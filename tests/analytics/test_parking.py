"""Parking enforcement's evidence from the live pipeline: the photo of a vehicle as it
stopped, and, on real footage, a parked car's overstay event carrying its plate."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.detections import CLASS_NAME, Detections
from vigil.analytics.offline import play_file
from vigil.analytics.parking import SETTLE_S, ArrivalPhotos
from vigil.domain.events import Event

SHARED = Path(__file__).resolve().parents[3] / "shared"
PLATES = SHARED / "media" / "openalpr-eu" / "eu"
MODELS = SHARED / "models"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def car_at(x: float, class_name: str = "car") -> Detections:
    return Detections(
        xyxy=np.array([[x, 100.0, x + 120, 180.0]]),
        confidence=np.array([0.9]),
        tracker_id=np.array([7]),
        data={CLASS_NAME: np.array([class_name])},
    )


def test_the_arrival_photo_is_taken_once_the_vehicle_has_settled() -> None:
    photos = ArrivalPhotos()
    image = np.zeros((360, 640, 3), np.uint8)

    def at(t: float, x: float, class_name: str = "car") -> None:
        photos.observe(car_at(x, class_name), image, t, T0 + timedelta(seconds=t))

    for t in range(4):
        at(t, 10 + 60 * t)  # driving in
    at(4.5, 250)  # stops (within a quarter of its width of 250 from here on)
    at(5.5, 255)
    assert photos.arrival(7) is None, "not settled yet"
    at(4.5 + SETTLE_S, 252)
    arrival = photos.arrival(7)
    assert arrival is not None and arrival.jpeg is not None
    assert arrival.at == T0 + timedelta(seconds=4.5)
    at(8, 400)  # drives off: the next stop takes a new photo
    assert photos.arrival(7) is None
    photos.forget([7])
    at(9, 10, "person")  # not a vehicle
    at(9 + SETTLE_S, 10, "person")
    assert photos.arrival(7) is None


@pytest.mark.skipif(not PLATES.is_dir() or not MODELS.is_dir(), reason="needs ../shared")
def test_a_real_car_parked_past_the_limit_is_reported_with_its_plate(tmp_path: Path) -> None:
    """A photo of a street (OpenALPR EU, eu10: plate WA56660) slides into view and stops;
    its nearest car overstays a 3 s limit."""
    clip = tmp_path / "parking.mp4"
    overlay = (
        "[1:v]scale=640:-2,format=yuv420p[car];[0:v][car]overlay=x='min(-600+t*300,300)':y=100"
    )
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y"),
            *("-f", "lavfi", "-i", "color=c=0x505050:s=1280x720:r=25:d=12"),
            *("-loop", "1", "-i", str(PLATES / "eu10.jpg"), "-filter_complex", overlay),
            *("-t", "12", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"),
            *("-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", str(clip)),
        ],
        check=True,
        capture_output=True,
    )
    config = CameraAnalyticsConfig.model_validate(
        {
            "zones": [{"name": "street", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "behaviours": [{"type": "parked_vehicle", "zone": "street", "max_s": 3}],
        }
    )
    events: list[Event] = []
    lock = threading.Lock()

    def publish(_subject: str, message: object) -> None:
        if isinstance(message, Event):
            with lock:
                events.append(message)

    play_file(clip, config, MODELS, publish, start=T0)
    with_plate = [e for e in events if e.attributes.get("plate")]
    assert [e.attributes["plate"] for e in with_plate] == ["WA56660"], events
    event = with_plate[0]
    assert event.type == "parked_vehicle" and event.attributes["stopped_s"] > 3
    arrived = datetime.fromisoformat(event.attributes["arrived_at"])
    assert T0 + timedelta(seconds=3) <= arrived <= event.at - timedelta(seconds=3)
    assert event.attributes["arrival_photo"].endswith("-arrival.jpg")
    assert event.attributes["plate_crop"].endswith("-plate.jpg")

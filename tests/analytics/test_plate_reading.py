"""Live plate reading (the ``plate_reading`` behaviour): formats by country, the vote over a
passage's views, and one ``plate.read`` event per passage through the live pipeline's code path
on a generated clip of a vehicle with a plate (vehicles mode and plate-camera frame mode)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tests.analytics.clips import CAR_GONE_S, plate_car_clip
from vigil.analytics.boxes import Box
from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.offline import EPOCH, play_file
from vigil.analytics.plate_formats import fit
from vigil.analytics.plate_reading import PlateView, vote
from vigil.analytics.plates import PlateRead
from vigil.domain.events import Event


# Formats ------------------------------------------------------------------------------------
def test_a_named_country_s_format_corrects_by_position() -> None:
    assert fit("CA12B4AB", ["BG"]).text == "CA1284AB"  # B where a digit belongs
    assert fit("C01234AB", ["BG"]).text == "CO1234AB"  # 0 where a letter belongs
    corrected = fit("RKO99AN", ["SK"])
    assert (corrected.text, corrected.format, corrected.fixes) == ("RK099AN", "SK", 1)


def test_without_a_named_country_a_fitting_reading_stays_and_names_its_formats() -> None:
    seen = fit("RK099AN")
    assert (seen.text, seen.fixes, seen.format) == ("RK099AN", 0, "IT/FR/SK/HR")
    assert fit("7ABC123", region="US").format == "US-CA"
    # A reading no series fits, that the formats one change away all correct the same way.
    assert (fit("PP587A0").text, fit("PP587A0").fixes) == ("PP587AO", 1)
    assert fit("ZH12345").text == "ZH12345", "one country's format alone does not correct"
    assert fit("AB123CD").format is not None and "IT" in (fit("AB123CD").format or "")
    assert fit("12").format is None


def test_too_many_corrections_is_another_plate_and_an_unknown_country_is_refused() -> None:
    assert fit("OOOOOOO", ["BG"]).format is None  # four changes at least
    with pytest.raises(ValueError, match="no plate formats for XX"):
        fit("AB123CD", ["XX"])
    with pytest.raises(ValidationError, match="no plate formats"):
        CameraAnalyticsConfig.model_validate(
            {"behaviours": [{"type": "plate_reading", "countries": ["XX"]}]}
        )


# The vote -------------------------------------------------------------------------------------
def _view() -> PlateView:
    return PlateView(np.zeros((4, 4, 3), np.uint8), Box(0, 0, 4, 4), (0, 0, 1, 1), 1.0, EPOCH)


def test_the_views_vote_confusions_together_and_the_majority_wins_each_character() -> None:
    box = Box(0, 0, 2, 2)
    reads = [
        (_view(), PlateRead(box, "CA1Z34AB", 0.9)),  # 2 read as Z
        (_view(), PlateRead(box, "CA1234AB", 0.8)),
        (_view(), PlateRead(box, "CA1234AB", 0.7)),
        (_view(), PlateRead(box, "KX99", 0.95)),  # something else in view
    ]
    reading = vote(reads, 5, ["BG"], track_id=3, class_name="car", first_at=EPOCH)
    assert reading is not None
    assert reading.text == reading.seen == "CA1234AB"
    assert (reading.reads, reading.views, reading.others) == (3, 5, ["KX99"])
    assert reading.format == "BG"
    assert reading.confidence == pytest.approx((0.9 + 0.8 + 0.7) / 5, abs=1e-3)
    # The fourth character: two views of five (0.8 + 0.7) agree; the others all three.
    assert reading.characters[3] == pytest.approx(1.5 / 5, abs=1e-3)
    assert reading.characters[0] == pytest.approx(2.4 / 5, abs=1e-3)
    assert vote([], 3, [], track_id=None, class_name=None, first_at=EPOCH) is None


# Through the live pipeline -------------------------------------------------------------------
@pytest.fixture(scope="module")
def car_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plate_car_clip(tmp_path_factory.mktemp("plates") / "car.mp4")


def plate_events(
    clip: Path, behaviour: dict[str, Any], tmp_path: Path, **config: Any
) -> list[Event]:
    """The events of the clip played through the live pipeline with this behaviour."""
    events: list[Event] = []
    lock = threading.Lock()

    def publish(_subject: str, message: object) -> None:
        if isinstance(message, Event):
            with lock:
                events.append(message)

    analytics = CameraAnalyticsConfig.model_validate(
        {"detector": {"type": "motion"}, "behaviours": [behaviour], **config}
    )
    play_file(clip, analytics, tmp_path, publish, start=datetime(2026, 1, 1, tzinfo=UTC))
    return events


def test_a_vehicle_passing_gives_one_plate_read_with_its_text(
    car_clip: Path, tmp_path: Path
) -> None:
    behaviour = {"type": "plate_reading", "classes": ["object"], "countries": ["BG"]}
    events = plate_events(car_clip, behaviour, tmp_path)
    assert [e.type for e in events] == ["plate.read"], events
    event = events[0]
    attributes = event.attributes
    assert attributes["plate"] == "CA1234AB", attributes
    assert attributes["format"] == "BG"
    assert 1 <= attributes["reads"] <= attributes["views"] <= 3
    assert len(attributes["characters"]) == 8
    assert all(0 < c <= 1 for c in attributes["characters"])
    assert event.object is not None and event.object.track_id is not None
    assert event.snapshot and attributes["plate_crop"].endswith("-plate.jpg")
    # The view read is one where the vehicle is in the frame, before it was gone.
    seconds = (event.at - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds()
    assert 0 <= seconds <= CAR_GONE_S


def test_a_plate_camera_reads_the_whole_frame_into_one_passage(
    car_clip: Path, tmp_path: Path
) -> None:
    behaviour = {"type": "plate_reading", "mode": "frame", "frame_reads_per_s": 2, "gap_s": 1}
    events = plate_events(car_clip, behaviour, tmp_path)
    assert [e.attributes["plate"] for e in events] == ["CA1234AB"], events
    assert events[0].object is None and events[0].attributes["reads"] >= 3


def test_vehicles_outside_the_zone_are_not_read(car_clip: Path, tmp_path: Path) -> None:
    behaviour = {"type": "plate_reading", "classes": ["object"], "zone": "top"}
    top = {"name": "top", "points": [[0, 0], [1, 0], [1, 0.2], [0, 0.2]]}
    assert plate_events(car_clip, behaviour, tmp_path, zones=[top]) == []

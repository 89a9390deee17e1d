"""Left objects on real footage, through the live pipeline with the shipped defaults (NanoDet,
5 fps, the motion gate, ``left_object`` and ``illegal_dumping`` at their defaults): a bottle
that NanoDet does not report (not a class Vigil asks it for) is found by the
static-foreground model. Left behind by the person at the table, it raises one left-object
event 10-30 s after they walked off (and one dumping event naming them); beside a person
who stays, nothing. Composites of Intel's sample clips (``real_clips``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.analytics import real_clips
from vigil.analytics.classes import ITEM_CLASS
from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.offline import EPOCH, play_file
from vigil.domain.events import AnalyticsFrame, Event

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"
pytestmark = pytest.mark.skipif(
    not real_clips.PEOPLE.is_file() or not (MODELS / "nanodet-int8.onnx").is_file(),
    reason="needs ../shared/media/intel-sample-videos and ../shared/models",
)


# Both behaviours about things set down, at their defaults (illegal dumping needs a zone:
# the floor).
FLOOR = {"name": "floor", "points": [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]}
BEHAVIOURS = [{"type": "left_object"}, {"type": "illegal_dumping", "zone": "floor"}]


@dataclass
class Seen:
    """Seconds into the clip of each left-object event and of each illegal-dumping event
    (with its attributes), and of each analysed frame on which an item (something set
    down, of unknown kind) was followed."""

    events: list[float] = field(default_factory=list)
    dumped: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    items: list[float] = field(default_factory=list)


def left_objects(clip: Path) -> Seen:
    """The clip played through the live pipeline's code path (``play_file``) with the
    default analytics and both behaviours at their defaults."""
    base = EPOCH
    seen = Seen()
    lock = threading.Lock()

    def publish(_subject: str, message: Any) -> None:
        with lock:
            if isinstance(message, Event) and message.type == "left_object":
                seen.events.append((message.at - base).total_seconds())
            elif isinstance(message, Event) and message.type == "illegal_dumping":
                seen.dumped.append(((message.at - base).total_seconds(), message.attributes))
            elif isinstance(message, AnalyticsFrame) and any(
                o.class_name == ITEM_CLASS for o in message.objects
            ):
                seen.items.append((message.at - base).total_seconds())

    config = CameraAnalyticsConfig.model_validate(
        {"enabled": True, "zones": [FLOOR], "behaviours": BEHAVIOURS}
    )
    play_file(clip, config, MODELS, publish, start=base)
    with lock:
        return seen


def test_a_bottle_left_behind_raises_one_event_soon_after_its_owner_walked_off(
    tmp_path: Path,
) -> None:
    """And, as it lies in a zone with illegal dumping, one dumping event naming the person
    who brought it, once they have been gone for that behaviour's 30 s."""
    clip = real_clips.left_object_clip(
        tmp_path / "left.mp4",
        scene=(0.0, real_clips.FIRST_GONE + 1),
        hold=real_clips.EMPTY,
        hold_s=40,
        set_down_s=10,
    )
    seen = left_objects(clip)
    assert len(seen.events) == 1, seen.events
    after_s = seen.events[0] - real_clips.FIRST_GONE
    assert 10 <= after_s <= 30, f"{after_s:.1f} s after the owner walked off"
    assert len(seen.dumped) == 1, seen.dumped
    dumped_s, attributes = seen.dumped[0]
    assert 30 <= dumped_s - real_clips.FIRST_GONE <= 40, dumped_s
    assert attributes["brought_by"]["class_name"] == "person", attributes


def test_a_bottle_beside_someone_who_stays_raises_nothing(tmp_path: Path) -> None:
    start, end = real_clips.FIFTH_STANDS
    clip = real_clips.left_object_clip(
        tmp_path / "stays.mp4",
        scene=(real_clips.FIFTH_ARRIVES - 2, end),
        hold=(start + 5, end),
        hold_s=40,
        set_down_s=6,  # once they stand at the table
    )
    seen = left_objects(clip)
    assert seen.items, "the bottle is found and followed..."
    assert seen.events == [] and seen.dumped == [], "...but its owner is beside it"

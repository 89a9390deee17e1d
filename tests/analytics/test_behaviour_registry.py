"""The behaviour registry: a new behaviour is one module (here, the top of this file) and the
configuration validates it, the engine runs it and the API offers its options; the built-in
behaviours come from their own modules, and stored configurations load as before."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient
from pydantic import ConfigDict, Field

from vigil.analytics.behaviours import BehaviourEngine
from vigil.analytics.behaviours.base import BehaviourHit, Scene, Sustained
from vigil.analytics.behaviours.registry import (
    BehaviourKind,
    BehaviourOptions,
    ZoneRef,
    behaviour_kinds,
    behaviour_label,
    register_behaviour,
)
from vigil.analytics.config import CameraAnalyticsConfig, Line, Zone
from vigil.analytics.tracking import Track, TrackPoint

# ----- what a new behaviour's module holds: options, its rule, one registration -------------


class Fall(BehaviourOptions):
    """A person lying down: the box wider than tall for ``min_s``."""

    model_config = ConfigDict(extra="forbid", title="Fall (test)")
    type: Literal["test_fall"] = "test_fall"
    zone: ZoneRef | None = Field(None, title="Zone (empty: the whole image)")
    min_ratio: float = Field(1.3, ge=1, le=5, title="Width / height at least")
    min_s: float = Field(1.0, ge=0, le=60, title="For at least (s)")


class FallRule:
    def __init__(self, behaviour: Fall, zone: Zone | None) -> None:
        self.behaviour = behaviour
        self.zone = zone
        self._lying: dict[int, Sustained] = {}
        self._reported: set[int] = set()

    def update(self, scene: Scene, *, armed: bool) -> list[BehaviourHit]:
        hits = []
        for s in scene.sightings:
            if s.class_name != "person" or s.track_id in self._reported:
                continue
            if self.zone is not None and not self.zone.contains([s.anchor]).all():
                continue
            lying = self._lying.setdefault(s.track_id, Sustained())
            length = lying.update(scene.now, s.width >= self.behaviour.min_ratio * s.height)
            if length is not None and length >= self.behaviour.min_s:
                self._reported.add(s.track_id)
                hits.append(
                    BehaviourHit(
                        type=self.behaviour.type,
                        zone=self.zone.name if self.zone else None,
                        track_id=s.track_id,
                        class_name=s.class_name,
                        count=None,
                        attributes={"lying_s": round(length, 2)},
                        label=behaviour_label(self.behaviour),
                        t=scene.now,
                    )
                )
        return hits

    def forget(self, track_ids: Collection[int]) -> None:
        for track_id in track_ids:
            self._lying.pop(track_id, None)


def _fall_rule(b: Fall, zones: Mapping[str, Zone], lines: Mapping[str, Line]) -> FallRule:
    return FallRule(b, zones[b.zone] if b.zone else None)


register_behaviour(BehaviourKind(Fall, _fall_rule, events=("test_fall",)))

# ---------------------------------------------------------------------------------------------

ZONE = {"name": "floor", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}


def test_the_new_behaviour_is_validated_by_its_options() -> None:
    config = CameraAnalyticsConfig.model_validate(
        {"zones": [ZONE], "behaviours": [{"type": "test_fall", "zone": "floor", "min_s": 2}]}
    )
    (fall,) = config.behaviours
    assert isinstance(fall, Fall) and fall.min_ratio == 1.3 and fall.min_s == 2
    with pytest.raises(ValueError, match=r"behaviours\.0\.test_fall\.min_ratio"):
        CameraAnalyticsConfig.model_validate(
            {"behaviours": [{"type": "test_fall", "min_ratio": 9}]}
        )
    with pytest.raises(ValueError, match=r"behaviours\.0 \(test_fall\) names zone 'bed'"):
        CameraAnalyticsConfig.model_validate({"behaviours": [{"type": "test_fall", "zone": "bed"}]})
    with pytest.raises(ValueError, match=r"behaviour type 'nothing' is not one of: .*test_fall"):
        CameraAnalyticsConfig.model_validate({"behaviours": [{"type": "nothing"}]})


def test_the_engine_runs_the_new_behaviour() -> None:
    config = CameraAnalyticsConfig.model_validate(
        {"zones": [ZONE], "behaviours": [{"type": "test_fall", "zone": "floor"}]}
    )
    engine = BehaviourEngine(config)
    track = Track(track_id=3, first_seen=0.0)
    track.class_votes["person"] += 1
    hits: list[BehaviourHit] = []
    for n in range(20):  # 2 s standing, then 2 s lying, at 5 frames a second
        t = n / 5
        box = (300.0, 100.0, 340.0, 200.0) if t < 2 else (260.0, 160.0, 380.0, 200.0)
        track.points.append(TrackPoint(t=t, xyxy=box, confidence=0.9))
        hits += engine.update([track], t, datetime.now(UTC), (640, 480))
    assert [(h.type, h.zone, h.track_id, h.label) for h in hits] == [
        ("test_fall", "floor", 3, "test fall")
    ]
    assert hits[0].t == pytest.approx(3.0)


def test_builtin_behaviours_are_registered_with_their_events() -> None:
    kinds = behaviour_kinds()
    builtin = {"line_crossing", "intrusion", "loitering", "running", "crowding"}
    assert builtin | {"left_object", "illegal_dumping", "parked_vehicle"} <= set(kinds)
    assert kinds["crowding"].events == ("crowding", "occupancy")
    assert kinds["loitering"].options.model_json_schema()["properties"]["dwell_s"] == {
        "default": 60.0,
        "exclusiveMinimum": 0,
        "maximum": 86400,
        "title": "Dwell longer than (s)",
        "type": "number",
    }


def test_a_stored_configuration_loads_and_saves_the_same() -> None:
    # As the configuration was stored before behaviours had a registry.
    stored: dict[str, Any] = {
        "zones": [ZONE],
        "lines": [{"name": "door", "start": [0.0, 0.5], "end": [1.0, 0.5]}],
        "behaviours": [
            {
                "name": None,
                "classes": [],
                "time_profile_id": None,
                "type": "line_crossing",
                "line": "door",
                "directions": ["in"],
            },
            {
                "name": "Crowd",
                "classes": ["person"],
                "time_profile_id": None,
                "type": "crowding",
                "zone": "floor",
                "min_count": 3,
                "min_s": 5.0,
            },
            {
                "name": None,
                "classes": [],
                "time_profile_id": None,
                "type": "running",
                "zone": None,
                "min_heights_per_s": 1.5,
                "min_s": 0.6,
            },
        ],
    }
    dumped = CameraAnalyticsConfig.model_validate(stored).model_dump(mode="json")
    assert dumped["behaviours"] == stored["behaviours"]


def test_the_api_offers_the_new_behaviour_and_saves_it(client: TestClient) -> None:
    listed = client.get("/api/analytics/behaviours")
    assert listed.status_code == 200, listed.text
    fall = next(b for b in listed.json() if b["key"] == "test_fall")
    assert fall["label"] == "Fall (test)" and fall["events"] == ["test_fall"]
    assert fall["options"]["properties"]["min_ratio"]["maximum"] == 5
    zone = fall["options"]["properties"]["zone"]["anyOf"][0]
    assert zone["x-widget"] == "zone"

    r = client.post("/api/cameras", json={"name": "Ward", "main_url": "rtsp://10.0.0.1/ward"})
    assert r.status_code == 201, r.text
    url = f"/api/cameras/{r.json()['id']}/analytics"
    bad = {"zones": [ZONE], "behaviours": [{"type": "test_fall", "min_ratio": 0.5}]}
    r = client.put(url, json=bad)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["behaviours.0.test_fall.min_ratio"]

    good = {"zones": [ZONE], "behaviours": [{"type": "test_fall", "zone": "floor", "min_s": 3}]}
    assert client.put(url, json=good).status_code == 200
    (saved,) = client.get(url).json()["behaviours"]
    assert saved["type"] == "test_fall" and saved["min_s"] == 3 and saved["min_ratio"] == 1.3

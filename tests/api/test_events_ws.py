"""The /api/events WebSocket's analytics topic: one camera's boxes and status, live."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.test_alarms import ctx, portal
from tests.api.test_rules import camera
from vigil.domain.events import AnalyticsFrame, AnalyticsStatus, Event, ObjectRef, TrackEnded
from vigil.store.types import utcnow


def publish(
    client: TestClient, message: AnalyticsFrame | AnalyticsStatus | Event | TrackEnded
) -> None:
    """Publish on the app's own bus, from its event loop."""
    portal(client).call(ctx(client).bus.publish, message.subject(), message)


def test_analytics_topic_relays_frames_and_status_of_one_camera_only(
    client: TestClient,
) -> None:
    gate, yard = camera(client, "Gate"), camera(client, "Yard")
    person = ObjectRef(class_name="person", track_id=7, confidence=0.9, box=(0.1, 0.2, 0.3, 0.8))
    with client.websocket_connect(f"/api/events?topics=analytics&camera={gate}") as ws:
        # Another camera's frame, the camera's ended track and its events are not this topic.
        publish(client, AnalyticsFrame(camera_id=yard, at=utcnow(), objects=[person]))
        publish(client, TrackEnded(camera_id=gate, track_id=7, class_name="person",
                                   first_at=utcnow(), last_at=utcnow()))  # fmt: skip
        publish(client, Event(type="intrusion", at=utcnow(), camera_id=gate))
        publish(client, AnalyticsFrame(camera_id=gate, at=utcnow(), objects=[person]))
        publish(
            client,
            AnalyticsStatus(
                camera_id=gate, state="unavailable", detector="nanodet", at=utcnow(),
                error="model nanodet.onnx is missing: run `vigil models install`",
            ),
        )  # fmt: skip
        frame = json.loads(ws.receive_text())
        status = json.loads(ws.receive_text())
    assert frame["kind"] == "analytics.frame" and frame["subject"] == f"analytics.{gate}.frame"
    assert frame["payload"]["camera_id"] == gate
    assert frame["payload"]["objects"][0]["track_id"] == 7
    assert frame["payload"]["objects"][0]["box"] == [0.1, 0.2, 0.3, 0.8]
    assert status["kind"] == "analytics.status" and status["payload"]["state"] == "unavailable"
    assert "vigil models install" in status["payload"]["error"]
    assert "origin" not in frame


def test_analytics_topic_goes_with_the_other_topics(client: TestClient) -> None:
    gate = camera(client)
    with client.websocket_connect(f"/api/events?topics=events,analytics&camera={gate}") as ws:
        publish(client, Event(type="loitering", at=utcnow(), camera_id=gate, zone="Door"))
        publish(client, AnalyticsFrame(camera_id=gate, at=utcnow()))
        kinds = [json.loads(ws.receive_text())["kind"] for _ in range(2)]
    assert kinds == ["event", "analytics.frame"]


@pytest.mark.parametrize("camera_query", ["", "&camera=", "&camera=gate", "&camera=-1"])
def test_analytics_topic_needs_a_camera(client: TestClient, camera_query: str) -> None:
    with (
        client.websocket_connect(f"/api/events?topics=analytics{camera_query}") as ws,
        pytest.raises(WebSocketDisconnect) as exc,
    ):
        ws.receive_text()
    assert exc.value.code == 1008 and "camera=ID" in exc.value.reason


def test_unknown_topic_names_the_analytics_topic_among_the_known(
    client: TestClient,
) -> None:
    with (
        client.websocket_connect("/api/events?topics=frames&camera=1") as ws,
        pytest.raises(WebSocketDisconnect) as exc,
    ):
        ws.receive_text()
    assert exc.value.code == 1008 and "frames" in exc.value.reason
    assert "analytics" in exc.value.reason

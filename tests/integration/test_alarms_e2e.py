"""Rules and alarms through real processes: a simulated camera that vanishes raises an
alarm from the recorder's health; an MQTT sensor's message raises an alarm and switches a
street lamp over the real broker."""

from __future__ import annotations

import json
import queue
import socket
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import Stack, require_service, wait_until
from vigil.devices.simulator import Simulator

pytestmark = pytest.mark.slow

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


def alarms_of(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    r = stack.client.get("/api/alarms", params={"state": "all", **params})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_camera_that_vanishes_raises_an_alarm_with_its_checklist_and_a_bookmark(
    stack: Stack, clip_dir: Path, h264_clip: Path
) -> None:
    with Simulator([h264_clip], port=0, cache_dir=clip_dir / "sim-cache") as sim:
        cam = stack.add_camera("gate", sim.url_for("pattern"))
        stack.wait_status(cam["id"], "online")
        rule = {
            "name": "Camera lost",
            "trigger": {"kind": "camera_status", "statuses": ["offline"], "cameras": [cam["id"]]},
            "actions": [
                {
                    "type": "raise_alarm",
                    "priority": 2,
                    "category": "technical",
                    "title": "{camera} is offline",
                    "sop": ["Check the camera's power", "Call the maintenance crew"],
                },
                {"type": "bookmark", "label": "{camera} lost"},
            ],
        }
        r = stack.client.post("/api/rules", json=rule)
        assert r.status_code == 201, r.text
    # The simulator has gone: the camera vanished.

    wait_until(lambda: alarms_of(stack, camera_id=cam["id"]) != [], 60, "the alarm", stack.logs)
    alarm = alarms_of(stack, camera_id=cam["id"])[0]
    assert alarm["title"] == "gate is offline"
    assert (alarm["priority"], alarm["category"], alarm["state"]) == (2, "technical", "new")
    assert alarm["event_type"] == "camera.offline"
    assert [item["text"] for item in alarm["sop"]] == [
        "Check the camera's power",
        "Call the maintenance crew",
    ]

    def bookmarked() -> bool:
        found = stack.client.get("/api/bookmarks", params={"camera_id": cam["id"]}).json()
        return any(b["label"] == "gate lost" and b["alarm_id"] == alarm["id"] for b in found)

    wait_until(bookmarked, 30, "the bookmark", stack.logs)
    detail = stack.client.get(f"/api/alarms/{alarm['id']}").json()
    assert [(a["type"], a["status"]) for a in detail["actions"]] == [("bookmark", "done")]
    assert detail["event"]["camera_id"] == cam["id"]
    # The linked video starts before the event, so the operator sees the camera go.
    assert detail["video"]["camera_id"] == cam["id"]
    assert detail["video"]["start"] < detail["event"]["at"] < detail["video"]["end"]


@pytest.fixture
def broker() -> None:
    try:
        socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2).close()
    except OSError as exc:
        require_service("Mosquitto", f"{MQTT_HOST}:{MQTT_PORT}: {exc}")


def test_sos_button_over_mqtt_raises_an_alarm_and_switches_the_street_lamp(
    broker: None, tmp_path: Path
) -> None:
    prefix = f"vigile2e-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    data.mkdir()
    stack = Stack(
        data,
        f"sqlite:///{data / 'vigil.db'}",
        env={"VIGIL_MQTT__ENABLED": "true", "VIGIL_MQTT__TOPIC_PREFIX": prefix},
    )
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: received.put((msg.topic, msg.payload))
    client.connect(MQTT_HOST, MQTT_PORT)
    client.subscribe([(f"{prefix}-lamps/#", 1), (f"{prefix}/alarms/#", 1)])
    client.loop_start()
    try:
        stack.start_server()
        rule = {
            "name": "SOS pressed",
            "trigger": {
                "kind": "input",
                "source": "mqtt",
                "name": f"{prefix}/inputs/sos/+",
                "match": {"state": "pressed"},
            },
            "actions": [
                {"type": "raise_alarm", "priority": 1, "category": "emergency"},
                {
                    "type": "mqtt_publish",
                    "topic": f"{prefix}-lamps/street-7/set",
                    "payload": '{{"on": true, "reason": "{rule}"}}',
                },
            ],
        }
        r = stack.client.post("/api/rules", json=rule)
        assert r.status_code == 201, r.text
        # Wait until the server's bridge is connected (it announces itself retained).
        status: queue.Queue[bytes] = queue.Queue()
        watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        watcher.on_message = lambda _c, _u, msg: status.put(msg.payload)
        watcher.connect(MQTT_HOST, MQTT_PORT)
        watcher.subscribe(f"{prefix}/status", 1)
        watcher.loop_start()
        try:
            assert status.get(timeout=30) == b"online"
        finally:
            watcher.loop_stop()
            watcher.disconnect()

        # A button that is released is not an emergency; a pressed one is.
        client.publish(f"{prefix}/inputs/sos/kiosk-3", json.dumps({"state": "released"}), qos=1)
        client.publish(f"{prefix}/inputs/sos/kiosk-3", json.dumps({"state": "pressed"}), qos=1)

        lamp = alarm_message = None
        while lamp is None or alarm_message is None:
            topic, payload = received.get(timeout=30)
            if topic == f"{prefix}-lamps/street-7/set":
                lamp = json.loads(payload)
            elif topic.startswith(f"{prefix}/alarms/"):
                alarm_message = json.loads(payload)
        assert lamp == {"on": True, "reason": "SOS pressed"}
        assert alarm_message["priority"] == 1

        alarms = alarms_of(stack)
        assert len(alarms) == 1, "the released button raised nothing"
        assert (alarms[0]["event_type"], alarms[0]["category"]) == ("input.mqtt", "emergency")
        url = f"/api/alarms/{alarms[0]['id']}"
        detail = stack.client.get(url).json()
        assert detail["event"]["attributes"]["name"] == f"{prefix}/inputs/sos/kiosk-3"
        # The lamp may hear of it before the outbox has written the run down as done.
        wait_until(
            lambda: (
                [(a["type"], a["status"]) for a in stack.client.get(url).json()["actions"]]
                == [("mqtt_publish", "done")]
            ),
            10,
            "the action recorded as done",
        )
    finally:
        client.loop_stop()
        client.disconnect()
        stack.stop()

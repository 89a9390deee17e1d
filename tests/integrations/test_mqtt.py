"""The MQTT bridge against the real Mosquitto on 127.0.0.1:1883; each test has its own
topic prefix and clears the retained messages it leaves."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import aiomqtt
import pytest

from tests.conftest import Stack, free_port
from tests.integrations.conftest import MQTT_HOST, MQTT_PORT, make_job
from vigil.bus.memory import InProcessBus
from vigil.config import MqttSettings, Settings
from vigil.domain.alarms import AlarmChanged, AlarmState
from vigil.domain.cameras import CameraStatus
from vigil.domain.events import Event
from vigil.domain.messages import CamerasChanged, CameraStatusChanged
from vigil.integrations import Integrations, mqtt
from vigil.rules.actions import ActionError
from vigil.security.secrets import SecretBox
from vigil.store import cameras as camera_store
from vigil.store.db import Database
from vigil.store.models import Alarm
from vigil.store.types import utcnow

TIMEOUT = 10.0


class Listener:
    """A subscriber of its own, collecting what arrives on a topic filter."""

    def __init__(self, topic_filter: str) -> None:
        self.topic_filter = topic_filter
        self.client = aiomqtt.Client(MQTT_HOST, MQTT_PORT)
        self.messages: list[aiomqtt.Message] = []
        self._arrived = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        await self.client.__aenter__()
        await self.client.subscribe(self.topic_filter, qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.client.__aexit__(t, e, tb)

    async def _collect(self) -> None:
        async for message in self.client.messages:
            async with self._arrived:
                self.messages.append(message)
                self._arrived.notify_all()

    async def next(
        self, topic: str, *, after: int = 0, payload: bytes | None = None
    ) -> aiomqtt.Message:
        """The first message on ``topic`` (with this payload) from index ``after`` on."""

        def wanted(m: aiomqtt.Message) -> bool:
            return m.topic.value == topic and payload in (None, m.payload)

        def found() -> aiomqtt.Message | None:
            return next((m for m in self.messages[after:] if wanted(m)), None)

        async with asyncio.timeout(TIMEOUT), self._arrived:
            await self._arrived.wait_for(lambda: found() is not None)
        message = found()
        assert message is not None
        return message


async def clear_retained(prefix: str) -> None:
    """Delete every retained message under the prefix (an empty retained message does)."""
    async with Listener(f"{prefix}/#") as listener:
        await asyncio.sleep(0.5)
        for topic in {m.topic.value for m in listener.messages if m.retain}:
            await listener.client.publish(topic, b"", qos=1, retain=True)


@pytest.fixture
async def mqtt_on(
    mqtt_settings: MqttSettings, sqlite_settings: Settings
) -> AsyncIterator[Settings]:
    """Settings with MQTT enabled under this test's prefix."""
    yield sqlite_settings.model_copy(update={"mqtt": mqtt_settings})
    await clear_retained(mqtt_settings.topic_prefix)


def hub_for(settings: Settings, db: Database, bus: InProcessBus) -> Integrations:
    return Integrations(
        settings=settings, db=db, bus=bus, secrets=SecretBox.for_data_dir(settings.data_dir)
    )


async def test_bridge_publishes_availability_events_and_alarms(
    mqtt_on: Settings, sqlite_db: Database
) -> None:
    p = mqtt_on.mqtt.topic_prefix
    camera = camera_store.create_camera(sqlite_db, name="Gate 1", main_url="rtsp://10.0.0.1/a")
    bus = InProcessBus()
    hub = hub_for(mqtt_on, sqlite_db, bus)
    async with Listener(f"{p}/#") as listen:
        await hub.start()
        try:
            assert (await listen.next(f"{p}/status")).payload == b"online"
            # On connecting, every camera's state from the database: not streaming yet.
            first = await listen.next(f"{p}/cameras/{camera.id}/availability")
            assert first.payload == b"offline"
            initial = await listen.next(f"{p}/cameras/{camera.id}/status")
            assert isinstance(initial.payload, bytes)
            assert json.loads(initial.payload)["status"] == "connecting"
            seen = len(listen.messages)
            await bus.publish(
                CameraStatusChanged.subject(camera.id),
                CameraStatusChanged(
                    camera_id=camera.id, status=CameraStatus.ONLINE, node="rec-1", at=utcnow()
                ),
            )
            online = await listen.next(f"{p}/cameras/{camera.id}/availability", after=seen)
            assert online.payload == b"online"
            status = await listen.next(f"{p}/cameras/{camera.id}/status", after=seen)
            assert isinstance(status.payload, bytes)
            assert json.loads(status.payload) | {"at": None} == {
                "camera_id": camera.id,
                "name": "Gate 1",
                "status": "online",
                "availability": "online",
                "error": None,
                "node": "rec-1",
                "at": None,
            }

            event = Event(type="line_crossing", at=utcnow(), camera_id=camera.id, zone="gate")
            await bus.publish(event.subject(), event)
            got = await listen.next(f"{p}/events/{camera.id}/line_crossing")
            assert isinstance(got.payload, bytes)
            assert Event.model_validate_json(got.payload) == event

            alarm = _add_alarm(sqlite_db, camera.id, event.id)
            await bus.publish(
                f"alarms.{alarm.id}",
                AlarmChanged(
                    alarm_id=alarm.id,
                    change="raised",
                    state=AlarmState.NEW,
                    priority=1,
                    at=utcnow(),
                ),
            )
            got = await listen.next(f"{p}/alarms/{alarm.id}")
            assert isinstance(got.payload, bytes)
            body = json.loads(got.payload)
            assert body["id"] == alarm.id and body["change"] == "raised"
            assert body["state"] == "new" and body["priority_name"] == "critical"
            assert body["title"] == "Intrusion at Gate 1" and body["event_id"] == event.id
        finally:
            seen = len(listen.messages)
            await hub.stop()
        assert (await listen.next(f"{p}/status", after=seen)).payload == b"offline"

    # Someone subscribing later gets the retained state.
    async with Listener(f"{p}/#") as late:
        availability = await late.next(f"{p}/cameras/{camera.id}/availability")
        assert availability.retain and availability.payload == b"online"
        bridge = await late.next(f"{p}/status")
        assert bridge.retain and bridge.payload == b"offline"


async def test_added_and_removed_cameras_update_retained_state(
    mqtt_on: Settings, sqlite_db: Database
) -> None:
    p = mqtt_on.mqtt.topic_prefix
    bus = InProcessBus()
    hub = hub_for(mqtt_on, sqlite_db, bus)
    async with Listener(f"{p}/#") as listen:
        await hub.start()
        try:
            await listen.next(f"{p}/status", payload=b"online")
            camera = camera_store.create_camera(sqlite_db, name="Lobby", main_url="rtsp://h/a")
            await bus.publish(
                CamerasChanged.SUBJECT, CamerasChanged(camera_id=camera.id, change="created")
            )
            topic = f"{p}/cameras/{camera.id}/availability"
            assert (await listen.next(topic)).payload == b"offline"

            camera_store.delete_camera(sqlite_db, camera.id)
            await bus.publish(
                CamerasChanged.SUBJECT, CamerasChanged(camera_id=camera.id, change="deleted")
            )
            await listen.next(topic, payload=b"")
        finally:
            await hub.stop()
    async with Listener(f"{p}/cameras/#") as late:
        await asyncio.sleep(0.5)
        assert late.messages == [], "a removed camera leaves no retained state"


def _add_alarm(db: Database, camera_id: int, event_id: str) -> Alarm:
    now = datetime.now(UTC)
    with db.session() as s:
        alarm = Alarm(
            rule_name="Intrusion",
            event_id=event_id,
            event_type="line_crossing",
            camera_id=camera_id,
            title="Intrusion at Gate 1",
            category="intrusion",
            priority=1,
            first_at=now,
            last_at=now,
        )
        s.add(alarm)
        s.flush()
        return alarm


async def test_sensor_messages_become_input_events(mqtt_on: Settings, sqlite_db: Database) -> None:
    p = mqtt_on.mqtt.topic_prefix
    settings = mqtt_on.model_copy(
        update={"mqtt": mqtt_on.mqtt.model_copy(update={"input_topics": [f"{p}-site/+/state"]})}
    )
    bus = InProcessBus()
    hub = hub_for(settings, sqlite_db, bus)
    async with Listener(f"{p}-site/#") as sensor:
        # A retained message is old state, replayed on subscribing: not an event.
        await sensor.client.publish(f"{p}/inputs/sos/1", b'{"state": "old"}', qos=1, retain=True)
        async with bus.subscribe(Event.SUBJECTS) as events:
            await hub.start()
            try:
                assert hub.mqtt is not None
                async with asyncio.timeout(TIMEOUT):
                    await hub.mqtt.wait_connected()
                await sensor.client.publish(
                    f"{p}/inputs/sos/7", b'{"state": "pressed", "camera_id": 3}', qos=1
                )
                await sensor.client.publish(f"{p}-site/door-4/state", b"open", qos=1)
                async with asyncio.timeout(TIMEOUT):
                    sos = (await anext(events)).open(Event)
                    door = (await anext(events)).open(Event)
            finally:
                await hub.stop()
            await sensor.client.publish(f"{p}/inputs/sos/1", b"", qos=1, retain=True)

    assert sos.type == "input.mqtt" and sos.camera_id == 3 and sos.source == "mqtt"
    assert sos.attributes == {
        "name": f"{p}/inputs/sos/7",
        "payload": {"state": "pressed", "camera_id": 3},
    }
    assert door.type == "input.mqtt" and door.camera_id is None
    assert door.attributes == {"name": f"{p}-site/door-4/state", "payload": "open"}


async def test_publish_actions_and_mqtt_signs(mqtt_on: Settings, sqlite_db: Database) -> None:
    p = mqtt_on.mqtt.topic_prefix
    hub = hub_for(mqtt_on, sqlite_db, InProcessBus())
    async with Listener(f"{p}/#") as listen:
        await hub.start()
        try:
            action = {
                "type": "mqtt_publish",
                "topic": f"{p}/lamps/gate",
                "payload": '{{"flash": true, "camera": "{camera}"}}',
                "qos": 1,
                "retain": True,
            }
            outcome = await hub.executors["mqtt_publish"](make_job(action))
            assert outcome == f"published on MQTT topic {p}/lamps/gate"
            lamp = await listen.next(f"{p}/lamps/gate")
            assert lamp.payload == b'{"flash": true, "camera": "Gate 1"}'

            sign = {"type": "signage", "via": "mqtt", "target": f"{p}/signs/3", "message": "{rule}"}
            await hub.executors["signage"](make_job(sign))
            got = await listen.next(f"{p}/signs/3")
            assert isinstance(got.payload, bytes)
            assert json.loads(got.payload)["message"] == "Door forced"
        finally:
            await hub.stop()
    async with Listener(f"{p}/lamps/#") as late:
        assert (await late.next(f"{p}/lamps/gate")).retain, "published retained as asked"


async def test_unreachable_broker_fails_the_action_for_a_retry(
    sqlite_settings: Settings, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt, "CONNECT_WAIT_S", 0.5)
    port = free_port()
    settings = sqlite_settings.model_copy(
        update={"mqtt": MqttSettings(enabled=True, host="127.0.0.1", port=port)}
    )
    hub = hub_for(settings, sqlite_db, InProcessBus())
    await hub.start()
    try:
        with pytest.raises(
            ActionError, match=f"MQTT broker 127.0.0.1:{port} is not connected"
        ) as e:
            await hub.executors["mqtt_publish"](
                make_job({"type": "mqtt_publish", "topic": "x/y", "payload": "1"})
            )
        assert e.value.retry is True
    finally:
        await hub.stop()


@pytest.mark.slow
def test_last_will_says_offline_when_the_server_dies(
    mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    p = mqtt_settings.topic_prefix
    data = tmp_path / "data"
    data.mkdir()
    stack = Stack(
        data,
        f"sqlite:///{data / 'vigil.db'}",
        env={"VIGIL_MQTT__ENABLED": "true", "VIGIL_MQTT__TOPIC_PREFIX": p},
    )

    async def status_after(action: str) -> bytes:
        async with Listener(f"{p}/status") as listen:
            if action == "start":
                stack.start_server()
                want = b"online"
            else:
                await listen.next(f"{p}/status")  # the retained "online"
                stack.server.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
                want = b"offline"
            await listen.next(f"{p}/status", payload=want)
            return want

    try:
        assert asyncio.run(status_after("start")) == b"online"
        assert asyncio.run(status_after("kill")) == b"offline"
    finally:
        stack.stop()
        asyncio.run(clear_retained(p))

"""MQTT: Vigil's events, alarms and camera availability out; sensors' messages in.

One long-lived client per server, reconnecting with backoff. Topics (``<p>`` is the
configured prefix, ``vigil`` by default; see docs/mqtt.md):

- ``<p>/status``: ``online`` / ``offline`` (retained; ``offline`` is the last will)
- ``<p>/events/<camera id or _>/<type>``: each event as JSON
- ``<p>/alarms/<id>``: each alarm change, the alarm as JSON
- ``<p>/cameras/<id>/availability``: ``online`` / ``offline`` (retained)
- ``<p>/cameras/<id>/status``: the camera's status as JSON (retained)
- in: ``<p>/inputs/#`` and the configured ``input_topics`` become ``input.mqtt`` events.

The bridge mirrors what happens while it is connected; it does not queue while the broker is
away (camera states are re-published on reconnect). Rules' ``mqtt_publish`` actions go
through the outbox and are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiomqtt

from vigil.bus.base import Envelope, EventBus
from vigil.config import MqttSettings
from vigil.domain.alarms import AlarmChanged
from vigil.domain.cameras import HEALTH_STALE_AFTER, CameraStatus, reported_status
from vigil.domain.events import INPUT_MQTT, Event
from vigil.domain.messages import CamerasChanged, CameraStatusChanged
from vigil.domain.rules import PRIORITY_NAMES, MqttPublish, mqtt_topic_matches, render
from vigil.rules.actions import ActionError, ActionJob
from vigil.store import cameras as camera_store
from vigil.store.db import Database
from vigil.store.models import Alarm
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "MQTT broker not configured: set VIGIL_MQTT__ENABLED=true and VIGIL_MQTT__HOST "
    "(and VIGIL_MQTT__PORT, VIGIL_MQTT__USERNAME, VIGIL_MQTT__PASSWORD as needed)"
)
# Inbound messages larger than this are dropped: a sensor's state, not a file transfer.
MAX_INPUT_BYTES = 64 * 1024
RECONNECT_MIN_S = 1.0
# How long an action waits for a broker that is (re)connecting before it fails and retries.
CONNECT_WAIT_S = 5.0
PUBLISH_TIMEOUT_S = 10.0
# Camera states are re-read this often: a recorder that died publishes no change itself.
CAMERA_SYNC_S = HEALTH_STALE_AFTER.total_seconds()
ONLINE, OFFLINE = "online", "offline"


class Topics:
    """The topic names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.strip("/")
        self.status = f"{self.prefix}/status"
        self.inputs = f"{self.prefix}/inputs/#"

    def event(self, event: Event) -> str:
        """``<p>/events/<camera id or _>/<type>``."""
        camera = event.camera_id if event.camera_id is not None else "_"
        return f"{self.prefix}/events/{camera}/{event.type}"

    def alarm(self, alarm_id: int) -> str:
        """``<p>/alarms/<id>``."""
        return f"{self.prefix}/alarms/{alarm_id}"

    def availability(self, camera_id: int) -> str:
        """``<p>/cameras/<id>/availability``."""
        return f"{self.prefix}/cameras/{camera_id}/availability"

    def camera_status(self, camera_id: int) -> str:
        """``<p>/cameras/<id>/status``."""
        return f"{self.prefix}/cameras/{camera_id}/status"

    def is_own_output(self, topic: str) -> bool:
        """Whether Vigil itself publishes on this topic (never read back as an input)."""
        return topic.startswith(self.prefix + "/") and not mqtt_topic_matches(self.inputs, topic)


def parse_payload(raw: bytes) -> Any:
    """A JSON object as a dict; anything else as its text."""
    text = raw.decode(errors="replace")
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


def input_event(topic: str, raw: bytes) -> Event:
    """The ``input.mqtt`` event for one message; a JSON object's integer ``camera_id``
    links the event to that camera."""
    payload = parse_payload(raw)
    camera_id = payload.get("camera_id") if isinstance(payload, dict) else None
    if not isinstance(camera_id, int) or isinstance(camera_id, bool):
        camera_id = None
    return Event(
        type=INPUT_MQTT,
        at=utcnow(),
        camera_id=camera_id,
        attributes={"name": topic, "payload": payload},
        source="mqtt",
    )


def alarm_payload(alarm: Alarm, change: str | None) -> dict[str, Any]:
    """An alarm as the ``<p>/alarms/<id>`` message carries it."""

    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    return {
        "id": alarm.id,
        "change": change,
        "rule_id": alarm.rule_id,
        "rule_name": alarm.rule_name,
        "title": alarm.title,
        "category": alarm.category,
        "priority": alarm.priority,
        "priority_name": PRIORITY_NAMES.get(alarm.priority, ""),
        "state": alarm.state,
        "owner": alarm.owner,
        "camera_id": alarm.camera_id,
        "event_id": alarm.event_id,
        "event_type": alarm.event_type,
        "occurrences": alarm.occurrences,
        "first_at": iso(alarm.first_at),
        "last_at": iso(alarm.last_at),
        "acknowledged_at": iso(alarm.acknowledged_at),
        "escalated_at": iso(alarm.escalated_at),
        "closed_at": iso(alarm.closed_at),
        "closing_reason": alarm.closing_reason,
        "created_at": iso(alarm.created_at),
        "updated_at": iso(alarm.updated_at),
    }


def _read_alarm(db: Database, alarm_id: int) -> Alarm | None:
    with db.session() as s:
        return s.get(Alarm, alarm_id)


@dataclass(frozen=True, slots=True)
class CameraState:
    """What the retained camera topics say about one camera."""

    camera_id: int
    name: str | None
    status: str
    error: str | None
    node: str | None
    at: datetime

    @property
    def availability(self) -> str:
        """``online`` only while video arrives."""
        return ONLINE if self.status == CameraStatus.ONLINE else OFFLINE

    def key(self) -> tuple[str | None, str, str | None]:
        """What must change for the retained messages to be re-published."""
        return (self.name, self.status, self.error)

    def payload(self) -> str:
        """The ``<p>/cameras/<id>/status`` JSON."""
        return json.dumps(
            {
                "camera_id": self.camera_id,
                "name": self.name,
                "status": self.status,
                "availability": self.availability,
                "error": self.error,
                "node": self.node,
                "at": self.at.isoformat(),
            }
        )


def camera_states(db: Database) -> dict[int, CameraState]:
    """Every camera's state from the database; a stale report reads as offline."""
    now = utcnow()
    health = camera_store.health_of(db)
    states: dict[int, CameraState] = {}
    for camera in camera_store.list_cameras(db):
        h = health.get(camera.id)
        if not camera.enabled:
            state = CameraState(camera.id, camera.name, CameraStatus.DISABLED, None, None, now)
        elif h is None:
            state = CameraState(camera.id, camera.name, CameraStatus.CONNECTING, None, None, now)
        else:
            status, stale = reported_status(h.status, h.updated_at, h.node, now)
            error = stale or h.last_error
            state = CameraState(camera.id, camera.name, status, error, h.node, h.updated_at)
        states[camera.id] = state
    return states


class MqttBridge:
    """The MQTT client: bridge of the server's bus, inputs, and the publish actions."""

    def __init__(self, *, settings: MqttSettings, db: Database, bus: EventBus) -> None:
        self._settings = settings
        self._db = db
        self._bus = bus
        self.topics = Topics(settings.topic_prefix)
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._last_error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._cameras: dict[int, CameraState] = {}
        # The connection's resync, the periodic one, camera changes and status changes all
        # update the retained camera states: one at a time, or a sync that read the cameras
        # before one was removed could record it again after the removal had been published.
        self._cameras_lock = asyncio.Lock()
        self._dropped = 0

    @property
    def server(self) -> str:
        """``host:port`` of the broker, for messages."""
        return f"{self._settings.host}:{self._settings.port}"

    @property
    def connected(self) -> bool:
        """Whether the client is connected now."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Return once connected (at once when connected now)."""
        await self._connected.wait()

    def input_filters(self) -> list[str]:
        """The topic filters read as inputs."""
        return list(dict.fromkeys([self.topics.inputs, *self._settings.input_topics]))

    async def start(self) -> None:
        """Connect in the background (and keep reconnecting); follow the bus."""
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name="mqtt-connection"),
            asyncio.create_task(self._outbound_loop(), name="mqtt-outbound"),
        ]

    async def stop(self) -> None:
        """Say ``offline`` (a clean disconnect sends no last will) and disconnect."""
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(self.topics.status, OFFLINE, qos=1, retain=True, timeout=2)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # ----- publishing ------------------------------------------------------------------------

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish for an action; raise :class:`ActionError` when it cannot be done."""
        try:
            async with asyncio.timeout(CONNECT_WAIT_S):
                await self.wait_connected()
        except TimeoutError:
            why = f": {self._last_error}" if self._last_error else ""
            raise ActionError(f"MQTT broker {self.server} is not connected{why}") from None
        client = self._client
        if client is None:
            raise ActionError(f"MQTT broker {self.server} is not connected")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=PUBLISH_TIMEOUT_S)
        except ValueError as exc:  # paho refuses the topic (empty, too long, NUL...)
            raise ActionError(
                f"cannot publish on MQTT topic {topic!r}: {exc}", retry=False
            ) from None
        except (aiomqtt.MqttError, TimeoutError) as exc:
            raise ActionError(
                f"publishing on MQTT topic {topic} at {self.server} failed: {exc or 'timed out'}"
            ) from None

    async def publish_action(self, job: ActionJob) -> str:
        """The ``mqtt_publish`` executor."""
        action = job.action
        assert isinstance(action, MqttPublish)
        await self.publish(
            action.topic, render(action.payload, job.values), qos=action.qos, retain=action.retain
        )
        return f"published on MQTT topic {action.topic}"

    async def _send(self, topic: str, payload: str, *, qos: int, retain: bool = False) -> None:
        """Publish a bridged message; while disconnected it is dropped (counted, logged)."""
        client = self._client
        if client is None or not self.connected:
            self._dropped += 1
            if self._dropped == 1:
                log.warning("MQTT broker %s is away: bus messages are not bridged", self.server)
            return
        await client.publish(topic, payload, qos=qos, retain=retain, timeout=PUBLISH_TIMEOUT_S)

    # ----- connection and inputs -------------------------------------------------------------

    def _client_for(self) -> aiomqtt.Client:
        s = self._settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            will=aiomqtt.Will(self.topics.status, OFFLINE, qos=1, retain=True),
            keepalive=s.keepalive_s,
            timeout=PUBLISH_TIMEOUT_S,
        )

    async def _connection_loop(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            try:
                async with self._client_for() as client:
                    await self._on_connect(client)
                    delay = RECONNECT_MIN_S
                    sync = asyncio.create_task(self._camera_sync_loop())
                    try:
                        async for message in client.messages:
                            await self._on_message(message)
                    finally:
                        sync.cancel()
            except aiomqtt.MqttError as exc:
                self._last_error = str(exc) or type(exc).__name__
                log.warning(
                    "MQTT broker %s: %s; reconnecting in %g s", self.server, self._last_error, delay
                )
            finally:
                self._connected.clear()
                self._client = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max_s)

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topics.status, ONLINE, qos=1, retain=True)
        for topic_filter in self.input_filters():
            await client.subscribe(topic_filter, qos=1)
        self._client = client
        self._last_error = None
        if self._dropped:
            log.warning("MQTT: %d bus messages were not bridged while away", self._dropped)
        self._dropped = 0
        self._connected.set()
        log.info("MQTT connected to %s (prefix %s)", self.server, self.topics.prefix)
        # The broker may have lost its retained messages: say every camera's state again.
        async with self._cameras_lock:
            self._cameras.clear()
            await self._sync_cameras_locked()

    async def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        # A retained message is a stale state replayed on subscribing, not something new.
        if message.retain or self.topics.is_own_output(topic):
            return
        raw = message.payload
        data = raw if isinstance(raw, bytes | bytearray) else str(raw or "").encode()
        if len(data) > MAX_INPUT_BYTES:
            log.warning(
                "MQTT input on %s dropped: %d bytes (limit %d)", topic, len(data), MAX_INPUT_BYTES
            )
            return
        event = input_event(topic, bytes(data))
        await self._bus.publish(event.subject(), event)

    # ----- outbound bridge -------------------------------------------------------------------

    async def _outbound_loop(self) -> None:
        task = asyncio.current_task()
        async with self._bus.subscribe(">") as messages:
            async for envelope in messages:
                try:
                    await self._forward(envelope)
                except (aiomqtt.MqttError, TimeoutError) as exc:
                    log.warning("MQTT: could not bridge %s: %s", envelope.subject, exc)
                except Exception:
                    log.exception("MQTT: could not bridge %s", envelope.subject)
                # Python 3.11's asyncio.wait_for (inside aiomqtt's publish) can swallow a
                # cancellation that arrives just as the broker acknowledges: honour it here,
                # or `stop` would wait for this loop forever.
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError

    async def _forward(self, envelope: Envelope) -> None:
        if envelope.kind == Event.kind:
            event = envelope.open(Event)
            # QoS 0: events can come by the hundred per second; waiting for each
            # acknowledgement would hold the bridge back.
            await self._send(self.topics.event(event), event.model_dump_json(), qos=0)
        elif envelope.kind == AlarmChanged.kind:
            changed = envelope.open(AlarmChanged)
            alarm = await asyncio.to_thread(_read_alarm, self._db, changed.alarm_id)
            if alarm is not None:
                body = json.dumps(alarm_payload(alarm, changed.change))
                await self._send(self.topics.alarm(alarm.id), body, qos=1)
        elif envelope.kind == CameraStatusChanged.kind:
            msg = envelope.open(CameraStatusChanged)
            known = self._cameras.get(msg.camera_id)
            state = CameraState(
                msg.camera_id,
                known.name if known else None,
                msg.status,
                msg.error,
                msg.node,
                msg.at,
            )
            async with self._cameras_lock:
                await self._publish_camera(state)
        elif envelope.kind == CamerasChanged.kind and self.connected:
            await self._sync_cameras()  # added, renamed, disabled or removed

    async def _publish_camera(self, state: CameraState) -> None:
        known = self._cameras.get(state.camera_id)
        if known is not None and known.key() == state.key():
            return
        await self._send(
            self.topics.availability(state.camera_id), state.availability, qos=1, retain=True
        )
        await self._send(
            self.topics.camera_status(state.camera_id), state.payload(), qos=1, retain=True
        )
        self._cameras[state.camera_id] = state

    async def _sync_cameras(self) -> None:
        async with self._cameras_lock:
            await self._sync_cameras_locked()

    async def _sync_cameras_locked(self) -> None:
        states = await asyncio.to_thread(camera_states, self._db)
        for state in states.values():
            await self._publish_camera(state)
        for camera_id in set(self._cameras) - set(states):
            # A removed camera: an empty retained message deletes the retained one.
            await self._send(self.topics.availability(camera_id), "", qos=1, retain=True)
            await self._send(self.topics.camera_status(camera_id), "", qos=1, retain=True)
            del self._cameras[camera_id]

    async def _camera_sync_loop(self) -> None:
        while True:
            await asyncio.sleep(CAMERA_SYNC_S)
            try:
                await self._sync_cameras()
            except aiomqtt.MqttError:
                return  # the connection loop notices and reconnects
            except Exception:
                log.exception("MQTT: could not refresh camera states")

"""Alarms whose condition ended, on SQLite and PostgreSQL: a camera back online closes its
untouched "offline" and "storage full" alarms, marks those an operator works, and neither is
escalated afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.rules.helpers import add_camera, add_rule, alarm_changes, at
from vigil.alarms.manager import AlarmManager
from vigil.bus.memory import InProcessBus
from vigil.config import AlarmSettings
from vigil.domain.alarms import AlarmState, InvalidTransition
from vigil.domain.cameras import CameraStatus
from vigil.domain.events import Event
from vigil.domain.messages import CameraStatusChanged
from vigil.rules.engine import RulesEngine
from vigil.store import alarms as alarm_store
from vigil.store import rules as rule_store
from vigil.store.db import Database
from vigil.store.models import Alarm, AlarmNote
from vigil.store.types import utcnow

OFFLINE_RULE = {
    "name": "Camera offline",
    "trigger": {"kind": "camera_status", "statuses": ["offline", "storage_full"]},
    "actions": [{"type": "raise_alarm", "priority": 3, "escalate_after_min": 10}],
}


@pytest.fixture
def manager(db: Database, bus: InProcessBus) -> AlarmManager:
    return AlarmManager(db, bus, AlarmSettings())


async def _status(
    bus: InProcessBus,
    camera_id: int,
    status: CameraStatus,
    seconds: float,
    error: str | None = None,
) -> None:
    message = CameraStatusChanged(
        camera_id=camera_id, status=status, node="rec-1", at=at(seconds), error=error
    )
    await bus.publish(CameraStatusChanged.subject(camera_id), message)


def _alarm(db: Database, alarm_id: int) -> Alarm:
    with db.session() as s:
        alarm = s.get(Alarm, alarm_id)
        assert alarm is not None
        return alarm


def _notes(db: Database, alarm_id: int) -> list[tuple[str, str]]:
    return [(n.kind, n.text) for n in alarm_store.notes_of(db, alarm_id)]


def _age(db: Database, alarm_id: int, minutes: float) -> None:
    """Make the alarm look raised ``minutes`` ago, past its escalation time."""
    with db.session() as s:
        alarm = s.get(Alarm, alarm_id)
        assert alarm is not None
        alarm.created_at = utcnow() - timedelta(minutes=minutes)


async def test_an_untouched_offline_alarm_is_resolved_when_the_camera_is_back(
    db: Database, bus: InProcessBus, engine: RulesEngine, manager: AlarmManager
) -> None:
    cam = add_camera(db, "bottle-detection")
    add_rule(db, **OFFLINE_RULE)
    async with alarm_changes(bus) as changes:
        await _status(bus, cam, CameraStatus.OFFLINE, 0, error="connection refused")
        [raised] = await changes.wait_for(1)
        alarm = _alarm(db, raised.alarm_id)
        assert alarm.title == "Camera bottle-detection offline"
        assert _notes(db, alarm.id) == [
            ("state", "raised by rule 'Camera offline': camera offline (connection refused)")
        ]
        await _status(bus, cam, CameraStatus.CONNECTING, 20)
        await _status(bus, cam, CameraStatus.ONLINE, 25)
        [_, resolved] = await changes.wait_for(2)
    assert (resolved.alarm_id, resolved.change, resolved.state) == (alarm.id, "resolved", "closed")
    alarm = _alarm(db, alarm.id)
    back = f"camera back online at {at(25):%Y-%m-%d %H:%M:%S} UTC"
    assert alarm.state == "closed" and alarm.closed_at is not None
    assert alarm.closing_reason == f"resolved automatically: {back}"
    assert alarm.acknowledged_at is None and alarm.owner is None, "nobody worked it"
    assert _notes(db, alarm.id)[-1] == ("state", f"new -> closed: resolved automatically: {back}")
    _age(db, alarm.id, 60)
    assert await manager.escalate_now() == []
    assert _alarm(db, alarm.id).priority == 3, "a resolved alarm is never escalated"


async def test_a_worked_alarm_is_marked_cleared_and_left_to_its_operator(
    db: Database, bus: InProcessBus, engine: RulesEngine, manager: AlarmManager
) -> None:
    cam = add_camera(db, "Gate")
    add_rule(db, **OFFLINE_RULE)
    async with alarm_changes(bus) as changes:
        await _status(bus, cam, CameraStatus.OFFLINE, 0)
        [raised] = await changes.wait_for(1)
        await manager.transition(
            raised.alarm_id, AlarmState.ACKNOWLEDGED, operator="ann", reason=None
        )
        await _status(bus, cam, CameraStatus.ONLINE, 30)
        cleared = (await changes.wait_for(3))[2]
    assert (cleared.change, cleared.state) == ("cleared", "acknowledged")
    alarm = _alarm(db, raised.alarm_id)
    assert alarm.state == "acknowledged" and alarm.owner == "ann" and alarm.closed_at is None
    kind, text = _notes(db, alarm.id)[-1]
    assert kind == "cleared" and text.startswith("condition cleared: camera back online at ")
    row = alarm_store.get_alarm(db, alarm.id)
    assert row is not None and row.condition_cleared_at is not None
    _age(db, alarm.id, 60)
    assert await manager.escalate_now() == []

    # Offline again: the same alarm counts it, and its condition holds again.
    await _status(bus, cam, CameraStatus.OFFLINE, 60)
    await engine.flush()
    row = alarm_store.get_alarm(db, alarm.id)
    assert row is not None and row.alarm.occurrences == 2 and row.condition_cleared_at is None
    await manager.transition(alarm.id, AlarmState.CLOSED, operator="ann", reason="cable fixed")
    assert _alarm(db, alarm.id).closing_reason == "cable fixed"


async def test_only_this_camera_s_offline_and_storage_alarms_are_cleared(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam, other = add_camera(db, "A"), add_camera(db, "B")
    add_rule(db, **OFFLINE_RULE)
    add_rule(db, name="Intrusion")
    await _status(bus, cam, CameraStatus.OFFLINE, 0)
    await _status(bus, other, CameraStatus.STORAGE_FULL, 1)
    intrusion = Event(type="intrusion", at=at(2), camera_id=cam)
    await bus.publish(intrusion.subject(), intrusion)
    await engine.flush()
    # A camera still connecting, or another one back, ends nothing of this camera.
    await _status(bus, cam, CameraStatus.CONNECTING, 3)
    await _status(bus, cam, CameraStatus.STORAGE_FULL, 4)
    await engine.flush()
    assert _states(db) == {
        ("Camera offline", cam, "camera.offline"): "new",
        ("Camera offline", other, "camera.storage_full"): "new",
        ("Intrusion", cam, "intrusion"): "new",
    }, "storage full on an offline camera repeats its open alarm"
    await _status(bus, other, CameraStatus.ONLINE, 5)
    await engine.flush()
    assert _states(db)[("Camera offline", other, "camera.storage_full")] == "closed"
    assert _states(db)[("Camera offline", cam, "camera.offline")] == "new"
    await _status(bus, cam, CameraStatus.ONLINE, 6)
    await engine.flush()
    assert _states(db) == {
        ("Camera offline", cam, "camera.offline"): "closed",
        ("Camera offline", other, "camera.storage_full"): "closed",
        ("Intrusion", cam, "intrusion"): "new",
    }, "an intrusion is a moment, not a condition: it stays for the operator"


async def test_offline_and_online_in_one_burst_keep_their_order(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam = add_camera(db)
    add_rule(db, **OFFLINE_RULE)
    for seconds, status in enumerate([CameraStatus.OFFLINE, CameraStatus.ONLINE] * 2):
        await _status(bus, cam, status, seconds)
    await _status(bus, cam, CameraStatus.OFFLINE, 10)
    await engine.flush()
    with db.session() as s:
        alarms = s.scalars(select(Alarm).order_by(Alarm.id)).all()
    assert [(a.first_at, a.state) for a in alarms] == [
        (at(0), "closed"),
        (at(2), "closed"),
        (at(10), "new"),
    ], "each return closes the alarm of its outage; a new outage raises a new one"


async def test_the_alarm_of_a_deleted_rule_is_still_resolved(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam = add_camera(db)
    rule_id = add_rule(db, **OFFLINE_RULE)
    async with alarm_changes(bus) as changes:
        await _status(bus, cam, CameraStatus.OFFLINE, 0)
        [raised] = await changes.wait_for(1)
    rule_store.delete_rule(db, rule_id)
    engine.reload()
    await _status(bus, cam, CameraStatus.ONLINE, 5)
    await engine.flush()
    assert _alarm(db, raised.alarm_id).state == "closed"


async def test_an_operator_cannot_move_an_alarm_the_system_resolved(
    db: Database, bus: InProcessBus, engine: RulesEngine, manager: AlarmManager
) -> None:
    cam = add_camera(db)
    add_rule(db, **OFFLINE_RULE)
    async with alarm_changes(bus) as changes:
        await _status(bus, cam, CameraStatus.OFFLINE, 0)
        [raised] = await changes.wait_for(1)
    await _status(bus, cam, CameraStatus.ONLINE, 5)
    await engine.flush()
    with pytest.raises(InvalidTransition, match="closed can move to nothing"):
        await manager.transition(
            raised.alarm_id, AlarmState.ACKNOWLEDGED, operator="ann", reason=None
        )
    with db.session() as s:
        kinds = s.scalars(select(AlarmNote.kind).where(AlarmNote.alarm_id == raised.alarm_id))
        assert list(kinds) == ["state", "state"], "raised, then resolved; nothing after"


def _states(db: Database) -> dict[tuple[str, int | None, str | None], str]:
    with db.session() as s:
        return {(a.rule_name, a.camera_id, a.event_type): a.state for a in s.scalars(select(Alarm))}

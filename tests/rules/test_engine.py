"""The rules engine on SQLite and PostgreSQL: events stored, rules matched, conditions held,
alarms raised (and de-duplicated), actions queued in the alarm's transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.rules.helpers import BASE, add_camera, add_rule, alarm_changes, at
from vigil.bus.memory import InProcessBus
from vigil.domain.cameras import CameraStatus
from vigil.domain.events import Event
from vigil.domain.messages import CameraStatusChanged
from vigil.rules.engine import RulesEngine
from vigil.store import groups as group_store
from vigil.store import rules as rule_store
from vigil.store.db import Database
from vigil.store.models import ActionRun, Alarm, AlarmNote, EventRecord


def _event(camera_id: int | None, seconds: float = 0, type: str = "intrusion", **kw: Any) -> Event:
    return Event(type=type, at=at(seconds), camera_id=camera_id, **kw)


async def _publish(bus: InProcessBus, *events: Event) -> None:
    for e in events:
        await bus.publish(e.subject(), e)


def _alarms(db: Database) -> list[Alarm]:
    with db.session() as s:
        return list(s.scalars(select(Alarm).order_by(Alarm.id)))


async def test_every_event_is_stored_and_a_matching_rule_raises_an_alarm(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam = add_camera(db)
    rule_id = add_rule(
        db,
        actions=[
            {
                "type": "raise_alarm",
                "priority": 2,
                "title": "{rule} at {camera} ({location})",
                "sop": ["Look", "Call"],
            },
            {"type": "bookmark"},
        ],
    )
    engine.reload()
    async with alarm_changes(bus) as changes:
        await _publish(bus, _event(cam, type="loitering"), _event(cam, snapshot="snaps/1.jpg"))
        [change] = await changes.wait_for(1)
    assert change.change == "raised" and change.priority == 2
    await engine.flush()
    with db.session() as s:
        assert len(s.scalars(select(EventRecord)).all()) == 2, "non-matching events are stored too"
        alarm = s.get(Alarm, change.alarm_id)
        assert alarm is not None and alarm.rule_id == rule_id
        assert alarm.title == "Intrusion at Gate (North)"
        assert alarm.state == "new" and alarm.snapshot == "snaps/1.jpg"
        assert [i["text"] for i in alarm.sop] == ["Look", "Call"]
        [run] = s.scalars(select(ActionRun)).all()
        assert run.type == "bookmark" and run.alarm_id == alarm.id and run.status == "pending"
        assert run.values["template"]["alarm_id"] == alarm.id
        assert run.values["event"]["id"] == alarm.event_id


async def test_open_alarm_of_the_same_rule_and_camera_repeats(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam1, cam2 = add_camera(db, "A"), add_camera(db, "B")
    add_rule(db, actions=[{"type": "raise_alarm"}, {"type": "bookmark"}])
    async with alarm_changes(bus) as changes:
        await _publish(bus, _event(cam1, 0), _event(cam1, 5), _event(cam2, 6))
        got = await changes.wait_for(3)
    assert [c.change for c in got] == ["raised", "repeated", "raised"]
    first, second = _alarms(db)
    assert first.camera_id == cam1 and first.occurrences == 2 and first.last_at == at(5)
    assert second.camera_id == cam2 and second.occurrences == 1
    with db.session() as s:
        assert len(s.scalars(select(ActionRun)).all()) == 3, "repeats still run the actions"
        kinds = s.scalars(select(AlarmNote.kind).where(AlarmNote.alarm_id == first.id)).all()
        assert "repeat" in kinds
    # A closed alarm is not reopened: the next event raises a new one.
    with db.session() as s:
        a = s.get(Alarm, first.id)
        assert a is not None
        a.state = "closed"
    async with alarm_changes(bus) as changes:
        await _publish(bus, _event(cam1, 10))
        [c] = await changes.wait_for(1)
    assert c.change == "raised" and c.alarm_id not in (first.id, second.id)


async def test_count_within_window_per_camera(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam1, cam2 = add_camera(db, "A"), add_camera(db, "B")
    add_rule(db, conditions={"count": {"at_least": 3, "within_s": 10}})
    # cam1: 0, 5, 20 -> never three within 10 s; cam2: 0, 4, 8 -> fires at 8.
    # cam1 then 21, 22 -> 20, 21, 22 fires.
    await _publish(bus, _event(cam1, 0), _event(cam1, 5), _event(cam2, 0), _event(cam1, 20))
    await _publish(bus, _event(cam2, 4), _event(cam2, 8), _event(cam1, 21))
    await engine.flush()
    assert [(a.camera_id, a.first_at) for a in _alarms(db)] == [(cam2, at(8))]
    await _publish(bus, _event(cam1, 22))
    await engine.flush()
    assert [(a.camera_id, a.first_at) for a in _alarms(db)] == [(cam2, at(8)), (cam1, at(22))]


async def test_cooldown_per_camera(db: Database, bus: InProcessBus, engine: RulesEngine) -> None:
    cam = add_camera(db)
    add_rule(db, conditions={"cooldown_s": 60}, actions=[{"type": "bookmark"}])
    await _publish(bus, *(_event(cam, s) for s in (0, 30, 59, 61, 100, 125)))
    await engine.flush()
    with db.session() as s:
        fired = sorted(r.values["event"]["at"] for r in s.scalars(select(ActionRun)))
    assert len(fired) == 3, "fires at 0, 61 and 125; not within 60 s of the last firing"


async def test_time_profile_arms_the_rule(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam = add_camera(db)
    hour = BASE.hour
    window = {"days": list(range(7)), "start": f"{hour:02d}:00", "end": f"{(hour + 1) % 24:02d}:00"}
    profile = rule_store.save_time_profile(
        db, profile_id=None, name="now", spec={"name": "now", "windows": [window]}
    )
    assert profile is not None
    add_rule(db, conditions={"time_profile_id": profile.id})
    await _publish(bus, _event(cam, 0), _event(cam, 2 * 3600 + 1))
    await engine.flush()
    assert [a.first_at for a in _alarms(db)] == [at(0)], "armed at 0, not two hours later"


async def test_camera_group_filter_and_reload(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    inside, outside = add_camera(db, "In"), add_camera(db, "Out")
    group = group_store.save_group(
        db, group_id=None, name="Centre", description=None, camera_ids=[inside]
    )
    assert group is not None
    add_rule(db, trigger={"kind": "event", "event_types": ["intr*"], "camera_groups": [group.id]})
    engine.reload()
    await _publish(bus, _event(outside, 0), _event(inside, 1), _event(None, 2))
    await engine.flush()
    assert [a.camera_id for a in _alarms(db)] == [inside]
    group_store.save_group(
        db, group_id=group.id, name="Centre", description=None, camera_ids=[outside]
    )
    engine.reload()
    await _publish(bus, _event(outside, 3))
    await engine.flush()
    assert [a.camera_id for a in _alarms(db)] == [inside, outside]


async def test_disabled_rule_does_nothing(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam = add_camera(db)
    add_rule(db, enabled=False)
    await _publish(bus, _event(cam))
    await engine.flush()
    assert _alarms(db) == []


async def test_camera_status_becomes_a_stored_event_that_rules_match(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam = add_camera(db)
    add_rule(db, name="Lost", trigger={"kind": "camera_status", "statuses": ["offline"]})
    seen: list[Event] = []
    async with bus.subscribe(Event.SUBJECTS) as messages, alarm_changes(bus) as changes:
        status = CameraStatusChanged(
            camera_id=cam, status=CameraStatus.OFFLINE, node="rec-1", at=at(0), error="timeout"
        )
        await bus.publish(CameraStatusChanged.subject(cam), status)
        [change] = await changes.wait_for(1)
        seen.append((await anext(messages)).open(Event))
    assert seen[0].type == "camera.offline" and seen[0].camera_id == cam
    [alarm] = _alarms(db)
    assert alarm.id == change.alarm_id and alarm.event_type == "camera.offline"
    await engine.flush()
    with db.session() as s:
        [stored] = s.scalars(select(EventRecord)).all()
    assert stored.id == seen[0].id and stored.attributes["error"] == "timeout"


async def test_manual_fire_returns_the_alarm(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cam = add_camera(db)
    rule_id = add_rule(db, name="Panic", trigger={"kind": "manual"})
    fired = await engine.fire_manual(rule_id, Event(type="manual", at=at(0), camera_id=cam))
    assert fired is not None and fired.alarm_id is not None
    [alarm] = _alarms(db)
    assert alarm.id == fired.alarm_id and alarm.rule_name == "Panic"
    # Matching never fires a manual rule.
    await _publish(bus, _event(cam, 1, type="manual"))
    await engine.flush()
    assert len(_alarms(db)) == 1


async def test_a_burst_is_written_in_few_transactions(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    cams = [add_camera(db, f"C{i}") for i in range(5)]
    add_rule(db)
    events = [_event(cams[i % 5], i * 0.01) for i in range(300)]
    await _publish(bus, *events)
    await engine.flush()
    alarms = _alarms(db)
    assert len(alarms) == 5 and sum(a.occurrences for a in alarms) == 300
    with db.session() as s:
        assert len(s.scalars(select(EventRecord.id)).all()) == 300
    assert timedelta(0) <= alarms[0].last_at - alarms[0].first_at

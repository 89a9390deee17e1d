"""The action outbox on SQLite and PostgreSQL: delivery, retries with backoff, giving up,
notes on the alarm, restart resume, and the core "record" and "bookmark" executors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.rules.helpers import BOX, add_camera, add_rule, alarm_changes, at
from vigil.bus.memory import InProcessBus
from vigil.config import AlarmSettings
from vigil.domain.events import Event
from vigil.domain.rules import Webhook
from vigil.rules.actions import ActionError, ActionJob, Executor
from vigil.rules.dispatcher import Dispatcher
from vigil.rules.engine import RulesEngine
from vigil.rules.executors import core_executors
from vigil.store import actions as action_store
from vigil.store.db import Database
from vigil.store.models import ActionRun, Alarm, AlarmNote, Bookmark, RecordingRequest

FAST = AlarmSettings(action_backoff_s=0.05, action_backoff_max_s=0.2, action_max_attempts=4)


class Flaky:
    """An executor that fails its first ``failures`` attempts, then delivers."""

    def __init__(self, db: Database, failures: int, *, retry: bool = True) -> None:
        self.db = db
        self.failures = failures
        self.retry = retry
        self.jobs: list[ActionJob] = []
        self.alarm_stored_first: list[bool] = []
        self.done = asyncio.Event()

    async def __call__(self, job: ActionJob) -> str | None:
        self.jobs.append(job)
        with self.db.session() as s:  # the alarm must exist before anything is sent
            self.alarm_stored_first.append(
                job.alarm_id is not None and s.get(Alarm, job.alarm_id) is not None
            )
        if len(self.jobs) <= self.failures:
            raise ActionError(f"receiver said no ({len(self.jobs)})", retry=self.retry)
        self.done.set()
        return "202 Accepted"


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    yield b
    await b.close()


async def _run(
    db: Database, bus: InProcessBus, executors: dict[str, Executor], *events: Event
) -> tuple[Dispatcher, RulesEngine]:
    dispatcher = Dispatcher(db, bus, BOX, executors, FAST)
    engine = RulesEngine(db, bus, on_actions=dispatcher.wake)
    await dispatcher.start()
    await engine.start()
    for e in events:
        await bus.publish(e.subject(), e)
    return dispatcher, engine


def _runs(db: Database) -> list[ActionRun]:
    with db.session() as s:
        return list(s.scalars(select(ActionRun).order_by(ActionRun.id)))


def _notes(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(AlarmNote.text).where(AlarmNote.kind == "action")))


async def _wait(check: Callable[[], object]) -> None:
    """Poll the database (10 s at most) until ``check`` holds."""
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110 - the database has no event to wait on
            await asyncio.sleep(0.02)


async def test_retries_with_backoff_then_delivers_with_notes(
    db: Database, bus: InProcessBus
) -> None:
    cam = add_camera(db)
    add_rule(
        db,
        actions=[
            {"type": "raise_alarm"},
            {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret"},
        ],
    )
    flaky = Flaky(db, failures=2)
    async with alarm_changes(bus) as changes:
        dispatcher, engine = await _run(
            db, bus, {"webhook": flaky}, Event(type="intrusion", at=at(0), camera_id=cam)
        )
        async with asyncio.timeout(10):
            await flaky.done.wait()
        await _wait(lambda: _runs(db)[0].status == "done")
        await changes.wait_for(4)
    await engine.stop()
    await dispatcher.stop()
    assert [j.attempt for j in flaky.jobs] == [1, 2, 3]
    assert all(flaky.alarm_stored_first), "the alarm is stored before any action runs"
    job = flaky.jobs[0]
    assert isinstance(job.action, Webhook) and job.action.secret == "s3cret", "secret decrypted"
    assert job.rule_name == "Intrusion" and job.event.camera_id == cam
    assert job.values["camera"] == "Gate"
    [run] = _runs(db)
    assert run.attempts == 3 and run.done_at is not None
    assert "s3cret" not in str(run.action), "the stored action keeps the secret encrypted"
    notes = _notes(db)
    assert notes[0] == "webhook failed (attempt 1/4): receiver said no (1); retrying in 0.05 s"
    assert notes[1] == "webhook failed (attempt 2/4): receiver said no (2); retrying in 0.1 s"
    assert notes[2] == "webhook delivered: 202 Accepted"
    assert [c.change for c in changes.items] == ["raised", "action", "action", "action"]


async def test_gives_up_after_max_attempts_and_can_be_retried(
    db: Database, bus: InProcessBus
) -> None:
    cam = add_camera(db)
    add_rule(db, actions=[{"type": "raise_alarm"}, {"type": "email", "to": ["a@b.c"]}])
    flaky = Flaky(db, failures=100)
    dispatcher, engine = await _run(
        db, bus, {"email": flaky}, Event(type="intrusion", at=at(0), camera_id=cam)
    )
    await _wait(lambda: _runs(db) and _runs(db)[0].status == "failed")
    [run] = _runs(db)
    assert run.attempts == 4 and run.last_error == "receiver said no (4)"
    assert _notes(db)[-1] == "email failed (attempt 4/4): receiver said no (4); giving up"
    flaky.failures = 0
    action_store.requeue(db, run.id, by="op")
    dispatcher.wake()
    await _wait(lambda: _runs(db)[0].status == "done")
    assert len(flaky.jobs) == 5 and flaky.jobs[-1].attempt == 1
    await engine.stop()
    await dispatcher.stop()


async def test_no_retry_when_the_executor_says_so_or_none_exists(
    db: Database, bus: InProcessBus
) -> None:
    cam = add_camera(db)
    add_rule(
        db,
        actions=[{"type": "web_push"}, {"type": "mqtt_publish", "topic": "a/b"}],
    )
    flaky = Flaky(db, failures=1, retry=False)
    dispatcher, engine = await _run(
        db, bus, {"web_push": flaky}, Event(type="intrusion", at=at(0), camera_id=cam)
    )
    await _wait(lambda: len(_runs(db)) == 2 and all(r.status == "failed" for r in _runs(db)))
    push, mqtt = _runs(db)
    assert push.attempts == 1 and mqtt.attempts == 1
    assert mqtt.last_error is not None and "no executor for 'mqtt_publish'" in mqtt.last_error
    await engine.stop()
    await dispatcher.stop()


async def test_restart_resumes_pending_runs(db: Database, bus: InProcessBus) -> None:
    cam = add_camera(db)
    add_rule(
        db, actions=[{"type": "raise_alarm"}, {"type": "signage", "via": "mqtt", "target": "s/1"}]
    )
    # First server: the engine queues the run, but no dispatcher runs before it stops.
    engine = RulesEngine(db, bus)
    await engine.start()
    e = Event(type="intrusion", at=at(0), camera_id=cam)
    await bus.publish(e.subject(), e)
    await engine.flush()
    await engine.stop()
    assert [r.status for r in _runs(db)] == ["pending"]
    # The next server's dispatcher picks it up.
    flaky = Flaky(db, failures=0)
    dispatcher = Dispatcher(db, bus, BOX, {"signage": flaky}, FAST)
    await dispatcher.start()
    await _wait(lambda: _runs(db)[0].status == "done")
    await dispatcher.stop()
    assert len(flaky.jobs) == 1


def test_backoff_doubles_and_is_capped() -> None:
    delays = [action_store.backoff(n, base_s=2, max_s=300).total_seconds() for n in range(1, 10)]
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300]


async def test_record_and_bookmark_executors_write_the_store(
    db: Database, bus: InProcessBus
) -> None:
    cam = add_camera(db)
    add_rule(
        db,
        actions=[
            {"type": "raise_alarm"},
            {"type": "record", "pre_s": 5, "post_s": 20, "keep_days": 7},
            {"type": "bookmark", "label": "{rule}: {object} in {zone}"},
        ],
    )
    event = Event(
        type="intrusion", at=at(0), camera_id=cam, zone="Yard", object={"class_name": "person"}
    )
    dispatcher, engine = await _run(db, bus, core_executors(db), event)
    await _wait(lambda: len(_runs(db)) == 2 and all(r.status == "done" for r in _runs(db)))
    await engine.stop()
    await dispatcher.stop()
    with db.session() as s:
        [request] = s.scalars(select(RecordingRequest)).all()
        [bookmark] = s.scalars(select(Bookmark)).all()
        alarm = s.scalars(select(Alarm)).one()
    assert request.camera_id == cam and request.alarm_id == alarm.id
    assert request.start == at(-5) and request.end == at(20)
    assert request.keep_until is not None and request.keep_until > at(0) + timedelta(days=6)
    assert bookmark.label == "Intrusion: person in Yard" and bookmark.at == at(0)
    assert bookmark.alarm_id == alarm.id


async def test_record_without_a_camera_fails_without_retry(db: Database, bus: InProcessBus) -> None:
    add_rule(db, actions=[{"type": "record"}])
    dispatcher, engine = await _run(
        db, bus, core_executors(db), Event(type="intrusion", at=at(0), camera_id=None)
    )
    await _wait(lambda: len(_runs(db)) == 1 and _runs(db)[0].status == "failed")
    assert _runs(db)[0].last_error == "no camera to record: the event has none"
    await engine.stop()
    await dispatcher.stop()

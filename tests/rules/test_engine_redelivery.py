"""The rules engine given one event twice: a durable consumer delivers again what was not
acknowledged in time (the database slow, a server gone), and the copy may arrive before the
first was handled. It is stored and counted once."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.rules.helpers import add_camera, add_rule, at
from vigil.bus.base import Envelope
from vigil.bus.memory import InProcessBus
from vigil.domain.events import Event
from vigil.rules.engine import RulesEngine
from vigil.store.db import Database
from vigil.store.models import Alarm, EventRecord


async def test_an_event_delivered_twice_at_once_raises_one_occurrence(
    db: Database, bus: InProcessBus, engine: RulesEngine
) -> None:
    add_rule(db)
    event = Event(type="intrusion", at=at(0), camera_id=add_camera(db))
    envelope = Envelope.wrap(event.subject(), event)
    for _ in range(2):  # both queued before the engine takes its next batch
        await bus.publish_envelope(envelope)
    await engine.flush()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(EventRecord)) == 1
        assert s.scalar(select(func.sum(Alarm.occurrences))) == 1, "counted twice"

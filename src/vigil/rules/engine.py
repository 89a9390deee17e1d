"""The rules engine: one asyncio task on the server that reads every event on the bus,
stores it, matches the enabled rules and writes what fires, one transaction per batch.

Rules, time profiles, group memberships and camera names are cached; the API calls
:meth:`RulesEngine.reload` when they change (and camera changes arrive on the bus). The
database work runs in a worker thread, one batch at a time, so events keep their order and
the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.bus.base import Delivery, EventBus
from vigil.domain.alarms import AlarmChanged
from vigil.domain.events import Event, camera_status_event_type
from vigil.domain.messages import CamerasChanged, CameraStatusChanged, RulesChanged
from vigil.domain.rules import trigger_matches
from vigil.domain.schedules import TimeProfileSpec
from vigil.rules.clearing import clear_ended
from vigil.rules.conditions import ConditionState
from vigil.rules.firing import CameraInfo, Fired, LoadedRule, fire
from vigil.rules.specs import unseal
from vigil.store import events as event_store
from vigil.store import rules as rule_store
from vigil.store.db import Database
from vigil.store.groups import groups_by_camera
from vigil.store.models import Camera
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

BATCH_MAX = 500  # events written in one transaction at most
# Durable consumers shared by every server: each event is handled by one of them.
EVENTS_CONSUMER = "rules-events"
STATUS_CONSUMER = "rules-camera-status"
RETRY_DELAY_S = 2.0
# Longest pause between two tries while the database is away (below the bus's ack wait).
RETRY_MAX_S = 10.0
RECENT_IDS = 10_000  # ids of events this engine stored itself, so their echo is not redone


@dataclass(slots=True)
class _Item:
    event: Event | None  # None: a barrier (see flush)
    manual_rule_id: int | None = None
    publish: bool = False  # made here (camera status, manual): put it on the bus afterwards
    done: asyncio.Future[Fired | None] | None = field(default=None)
    # From a durable consumer: acknowledged once the batch is stored, refused if it failed.
    delivery: Delivery | None = None


@dataclass(slots=True)
class _Outcome:
    """What one event did: the rules it fired, and the alarms whose condition it ended."""

    fired: list[Fired] = field(default_factory=list)
    cleared: list[AlarmChanged] = field(default_factory=list)


@dataclass(slots=True)
class _Cache:
    rules: list[LoadedRule]
    by_id: dict[int, LoadedRule]
    profiles: dict[int, TimeProfileSpec]
    groups: dict[int, list[int]]
    cameras: dict[int, CameraInfo]


class RulesEngine:
    """Events in; stored events, alarms and queued actions out."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        on_actions: Callable[[], None] | None = None,
        site: str = "local",
    ) -> None:
        self._db = db
        self._site = site
        self._bus = bus
        self._on_actions = on_actions
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._cache: _Cache | None = None
        self._state = ConditionState()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._specs: dict[int, dict[str, Any]] = {}
        self._generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future[None]] = set()

    # ----- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Consume events and camera status (durably, shared with the other servers),
        follow camera changes, and start working; returns once subscribed."""
        self._loop = asyncio.get_running_loop()
        subscribed = [asyncio.Event() for _ in range(3)]
        self._tasks = [
            asyncio.create_task(self._consume(EVENTS_CONSUMER, Event.SUBJECTS, subscribed[0])),
            asyncio.create_task(self._consume(STATUS_CONSUMER, "cameras.*.status", subscribed[1])),
            asyncio.create_task(self._listen("config.*", subscribed[2])),
            asyncio.create_task(self._work()),
        ]
        await asyncio.gather(*(s.wait() for s in subscribed))

    async def stop(self) -> None:
        """Stop listening; a batch being written finishes first."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def reload(self) -> None:
        """Rules, time profiles or groups changed: read them again before the next event,
        here and on every other server (any thread)."""
        self._invalidate()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._announce_reload)

    def _invalidate(self) -> None:
        self._generation += 1
        self._cache = None

    def _announce_reload(self) -> None:
        task = asyncio.ensure_future(self._bus.publish(RulesChanged.SUBJECT, RulesChanged()))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # ----- input ----------------------------------------------------------------------------

    async def _listen(self, pattern: str, ready: asyncio.Event) -> None:
        async with self._bus.subscribe(pattern) as messages:
            ready.set()
            async for envelope in messages:
                if envelope.kind in (CamerasChanged.kind, RulesChanged.kind):
                    self._invalidate()

    async def _consume(self, durable: str, pattern: str, ready: asyncio.Event) -> None:
        async with self._bus.consume(durable, pattern) as deliveries:
            ready.set()
            async for delivery in deliveries:
                try:
                    item = self._item(delivery)
                except ValueError as exc:
                    log.warning("ignoring a malformed %s message: %s", delivery.envelope.kind, exc)
                    await delivery.ack()
                    continue
                if item is None:
                    await delivery.ack()
                else:
                    self._queue.put_nowait(item)

    def _item(self, delivery: Delivery) -> _Item | None:
        envelope = delivery.envelope
        if envelope.kind == Event.kind:
            event = envelope.open(Event)
            return None if event.id in self._recent else _Item(event, delivery=delivery)
        if envelope.kind == CameraStatusChanged.kind:
            status = envelope.open(CameraStatusChanged)
            event = Event(
                # The message's id: delivered again (another server), it is the same event.
                id=envelope.id,
                type=camera_status_event_type(status.status.value),
                at=status.at,
                camera_id=status.camera_id,
                attributes={"node": status.node, "error": status.error},
                source=status.node,
            )
            return _Item(event, publish=True, delivery=delivery)
        return None

    async def fire_manual(self, rule_id: int, event: Event) -> Fired | None:
        """Fire a rule by hand (its trigger is manual): store the event, raise its alarm,
        queue its actions. None when the rule is not enabled any more."""
        done: asyncio.Future[Fired | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(event, manual_rule_id=rule_id, publish=True, done=done))
        return await done

    async def flush(self) -> None:
        """Return once everything published on the bus before the call has been handled."""
        for _ in range(5):  # let the listeners move what the bus holds for them
            await asyncio.sleep(0)
        done: asyncio.Future[Fired | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(None, done=done))
        await done

    # ----- work -----------------------------------------------------------------------------

    async def _work(self) -> None:
        failures = 0  # batches failed in a row: the database is away
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._handle, batch)
            except Exception as exc:  # the database is away: say so, keep serving
                failures += 1
                await self._refuse(batch, exc, failures)
                # Let what arrives meanwhile gather into one batch for the next try, rather
                # than failing event by event (each retried by the bus anyway).
                await asyncio.sleep(min(RETRY_DELAY_S * failures, RETRY_MAX_S))
                continue
            if failures:
                log.info("events are stored again after %d failed batch(es)", failures)
                failures = 0
            await self._announce(batch, results)
            for item in batch:
                if item.delivery is not None:
                    with contextlib.suppress(Exception):  # unacked: handled again, as a no-op
                        await item.delivery.ack()

    async def _refuse(self, batch: list[_Item], exc: Exception, failures: int) -> None:
        """A batch could not be stored: its events come again from the bus (after the
        delay), manual firings fail with the error."""
        if failures == 1:
            log.exception("could not store %d event(s); they come again", len(batch))
        else:  # the same outage: one line each, not a traceback each
            log.warning("still cannot store events (%d batches): %s", failures, exc)
        for item in batch:
            if item.done is not None and not item.done.done():
                item.done.set_exception(exc)
            if item.delivery is not None:
                with contextlib.suppress(Exception):
                    await item.delivery.nak(RETRY_DELAY_S)

    async def _announce(self, batch: list[_Item], results: list[_Outcome]) -> None:
        runs = 0
        for item, outcome in zip(batch, results, strict=True):
            if item.publish and item.event is not None:
                self._remember(item.event.id)
                await self._bus.publish(item.event.subject(), item.event)
            changes = [*outcome.cleared, *(f.change for f in outcome.fired if f.change)]
            for change in changes:
                await self._bus.publish(change.subject(), change)
            runs += sum(f.runs for f in outcome.fired)
            if item.done is not None and not item.done.done():
                item.done.set_result(outcome.fired[0] if outcome.fired else None)
        if runs and self._on_actions is not None:
            self._on_actions()

    def _remember(self, event_id: str) -> None:
        self._recent[event_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)

    def _handle(self, batch: list[_Item]) -> list[_Outcome]:
        """Match a batch and write it in one transaction (in the worker thread)."""
        cache = self._cache or self._load()
        now = utcnow()
        results: list[_Outcome] = []
        with self._db.session() as s:
            events = [i.event for i in batch if i.event is not None]
            new = event_store.add_events(s, events, site=self._site)
            for item in batch:
                event = item.event
                # Stored already: delivered again after a crash, or another server's echo; or
                # a second copy in this batch (delivered again before the first was handled).
                if event is None or event.id not in new:
                    results.append(_Outcome())
                    continue
                new.discard(event.id)
                camera = cache.cameras.get(event.camera_id) if event.camera_id is not None else None
                # The condition ends before rules react to its end (a "back online" rule).
                cleared = clear_ended(s, event, now)
                matching = self._matching(s, cache, item, event)
                fired = [fire(s, r, event, camera, now) for r in matching]
                results.append(_Outcome(fired, cleared))
        return results

    def _matching(self, s: Session, cache: _Cache, item: _Item, event: Event) -> list[LoadedRule]:
        if item.manual_rule_id is not None:
            # An operator's press skips counts and cooldowns: it is a decision, not a signal.
            rule = cache.by_id.get(item.manual_rule_id)
            return [rule] if rule is not None else []
        groups = cache.groups.get(event.camera_id, []) if event.camera_id is not None else []
        matched = []
        for rule in cache.rules:
            if not trigger_matches(rule.spec.trigger, event, groups):
                continue
            conditions = rule.spec.conditions
            profile = (
                cache.profiles.get(conditions.time_profile_id)
                if conditions.time_profile_id is not None
                else None
            )
            if self._state.check(s, (rule.id, event.camera_id), conditions, event.at, profile):
                matched.append(rule)
        return matched

    def _load(self) -> _Cache:
        generation = self._generation
        rules, specs = [], {}
        for row in rule_store.list_rules(self._db, enabled_only=True):
            try:
                rules.append(LoadedRule(row.id, row.name, unseal(row.spec), row.spec["actions"]))
                specs[row.id] = row.spec
            except ValueError as exc:
                log.error("rule %r cannot be read and is skipped: %s", row.name, exc)
        # Counts and cooldowns of a changed or removed rule start again.
        changed = {i for i, spec in self._specs.items() if specs.get(i) != spec}
        if changed:
            with self._db.session() as s:
                self._state.forget(s, changed)
        self._specs = specs
        profiles = {}
        for p in rule_store.list_time_profiles(self._db):
            try:
                profiles[p.id] = TimeProfileSpec.model_validate(p.spec)
            except ValueError as exc:
                log.error("time profile %r cannot be read: %s", p.name, exc)
        with self._db.session() as s:
            cameras = {c.id: CameraInfo(c.name, c.location) for c in s.scalars(select(Camera))}
        cache = _Cache(
            rules=rules,
            by_id={r.id: r for r in rules},
            profiles=profiles,
            groups=groups_by_camera(self._db),
            cameras=cameras,
        )
        if generation == self._generation:  # else a change came meanwhile: read again next time
            self._cache = cache
        return cache

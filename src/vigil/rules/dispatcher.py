"""The action outbox worker: runs due actions with a small concurrency limit, retries with
backoff, gives up after the last attempt, and notes every outcome on the alarm.

Everything it needs is in the ``action_runs`` table, so a restart simply resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from vigil.bus.base import EventBus
from vigil.config import AlarmSettings
from vigil.domain.alarms import AlarmChanged, AlarmState
from vigil.domain.events import Event
from vigil.rules.actions import ActionError, ActionJob, Executor
from vigil.rules.specs import action_for_job
from vigil.security.secrets import SecretBox
from vigil.store import actions as action_store
from vigil.store.db import Database
from vigil.store.models import ActionRun
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

IDLE_CHECK_S = 5.0  # look at the table at least this often (another server may have queued)
ACTION_TIMEOUT_S = 300.0  # an executor that hangs longer counts as a failed attempt
# A claimed run is this server's until then; if the server dies, another takes it after.
CLAIM_HOLD = timedelta(seconds=ACTION_TIMEOUT_S + 60)
ERROR_MAX = 1000  # characters of an error kept and shown


class Dispatcher:
    """Runs the outbox. ``wake()`` after queuing runs; ``start()``/``stop()`` in the lifespan."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        secrets: SecretBox,
        executors: Mapping[str, Executor],
        settings: AlarmSettings,
    ) -> None:
        self._db = db
        self._bus = bus
        self._secrets = secrets
        self.executors = dict(executors)
        self._settings = settings
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        # Who claims runs: this server process, among any number of them.
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for due runs now."""
        self._wake.set()

    async def start(self) -> None:
        """Start the worker; pending runs from before a restart are picked up at once."""
        self._loop_task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop; runs in flight are cancelled and stay pending for the next start."""
        # The loop first, so that no run starts while the others are being cancelled.
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        claimed = list(self._in_flight)
        self._in_flight.clear()
        with contextlib.suppress(Exception):  # the database may be away: claims run out
            await asyncio.to_thread(
                action_store.release_claims, self._db, claimed, owner=self._owner
            )

    async def _run(self) -> None:
        limit = self._settings.action_concurrency
        while True:
            self._wake.clear()
            free = limit - len(self._in_flight)
            if free > 0:
                try:
                    due = await asyncio.to_thread(
                        action_store.claim_due_runs,
                        self._db,
                        now=utcnow(),
                        owner=self._owner,
                        limit=free,
                        hold=CLAIM_HOLD,
                    )
                    for run in due:
                        task = asyncio.create_task(self._attempt(run))
                        self._in_flight[run.id] = task
                        task.add_done_callback(functools.partial(self._finished, run.id))
                    next_at = await asyncio.to_thread(
                        action_store.next_due_at, self._db, now=utcnow()
                    )
                except Exception:
                    log.exception("cannot read the action outbox; trying again")
                    next_at = None
            else:
                next_at = None
            await self._sleep_until(next_at)

    def _finished(self, run_id: int, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(run_id, None)
        self._wake.set()

    async def _sleep_until(self, next_at: datetime | None) -> None:
        delay = IDLE_CHECK_S
        if next_at is not None:
            delay = min(delay, max((next_at - utcnow()).total_seconds(), 0.0))
            if delay == 0.0 and len(self._in_flight) >= self._settings.action_concurrency:
                delay = IDLE_CHECK_S  # all slots busy: a finishing run wakes us
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # comes together with the wake-up, and stop() would wait forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _attempt(self, run: ActionRun) -> None:
        attempt = run.attempts + 1
        max_attempts = self._settings.action_max_attempts
        try:
            job = ActionJob(
                run_id=run.id,
                attempt=attempt,
                rule_id=run.rule_id,
                rule_name=str(run.values.get("rule_name", "")),
                alarm_id=run.alarm_id,
                event=Event.model_validate(run.values["event"]),
                values=dict(run.values.get("template", {})),
                action=action_for_job(run.action, self._secrets),
            )
            executor = self.executors.get(run.type)
            if executor is None:
                raise ActionError(
                    f"no executor for {run.type!r} actions (is its integration configured?)",
                    retry=False,
                )
            async with asyncio.timeout(ACTION_TIMEOUT_S):
                outcome = await executor(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = (str(exc) or type(exc).__name__)[:ERROR_MAX]
            if isinstance(exc, TimeoutError):
                error = f"no answer within {ACTION_TIMEOUT_S:g} s"
            retry = (not isinstance(exc, ActionError) or exc.retry) and attempt < max_attempts
            if not isinstance(exc, ActionError):
                log.warning("action run %d (%s) failed: %s", run.id, run.type, error)
            if retry:
                delay = action_store.backoff(
                    attempt,
                    base_s=self._settings.action_backoff_s,
                    max_s=self._settings.action_backoff_max_s,
                )
                note = (
                    f"{run.type} failed (attempt {attempt}/{max_attempts}): {error}; "
                    f"retrying in {delay.total_seconds():g} s"
                )
                await self._record(
                    run, action_store.PENDING, attempt, error, utcnow() + delay, note
                )
            else:
                note = f"{run.type} failed (attempt {attempt}/{max_attempts}): {error}; giving up"
                await self._record(run, action_store.FAILED, attempt, error, None, note)
            return
        note = f"{run.type} delivered" + (f": {outcome}" if outcome else "")
        await self._record(run, action_store.DONE, attempt, None, None, note)

    async def _record(
        self,
        run: ActionRun,
        status: str,
        attempts: int,
        error: str | None,
        retry_at: datetime | None,
        note: str,
    ) -> None:
        try:
            outcome = await asyncio.to_thread(
                action_store.record_attempt,
                self._db,
                run.id,
                status=status,
                attempts=attempts,
                error=error,
                retry_at=retry_at,
                note=note,
            )
        except Exception:
            # Not written: the run stays as it was and is tried again (at least once delivery).
            log.exception("cannot record the outcome of action run %d", run.id)
            return
        if outcome and outcome.alarm_id is not None and outcome.alarm_state is not None:
            change = AlarmChanged(
                alarm_id=outcome.alarm_id,
                change="action",
                state=AlarmState(outcome.alarm_state),
                priority=outcome.alarm_priority or 3,
                at=utcnow(),
                event_id=run.event_id,
                camera_id=outcome.alarm_camera_id,
                register_id=outcome.alarm_register_id,
            )
            await self._bus.publish(change.subject(), change)

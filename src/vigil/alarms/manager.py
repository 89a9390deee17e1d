"""The alarm manager: state changes, owners, comments, SOP checklists and escalation.
Every change is written with a note in the alarm's history and published as AlarmChanged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from vigil.bus.base import EventBus
from vigil.config import AlarmSettings
from vigil.domain.alarms import AlarmState, check_transition
from vigil.domain.errors import NotFound
from vigil.store import alarms as alarm_store
from vigil.store.db import Database
from vigil.store.models import Alarm
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")


class AlarmNotFound(NotFound):
    """No alarm with this id."""


class SopItemNotFound(NotFound):
    """The alarm's checklist has no item with this index."""


class AlarmManager:
    """Changes alarms on behalf of operators; escalates those left unacknowledged."""

    def __init__(self, db: Database, bus: EventBus, settings: AlarmSettings) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    async def _change(
        self, alarm_id: int, change: str, edit: Callable[[Session, Alarm], None]
    ) -> Alarm:
        """Apply ``edit`` to the alarm in one transaction, then publish the change."""

        def work() -> Alarm:
            with self._db.session() as s:
                # Locked: the system resolving it at the same moment waits, or is waited for.
                alarm = s.get(Alarm, alarm_id, with_for_update=True)
                if alarm is None:
                    raise AlarmNotFound(f"alarm {alarm_id} not found")
                edit(s, alarm)
                alarm.updated_at = utcnow()
                return alarm

        alarm = await asyncio.to_thread(work)
        await self.publish(alarm, change)
        return alarm

    async def publish(self, alarm: Alarm, change: str) -> None:
        """Tell every operator's client that the alarm changed."""
        message = alarm_store.alarm_changed(alarm, change, at=utcnow())
        await self._bus.publish(message.subject(), message)

    async def transition(
        self, alarm_id: int, target: AlarmState, *, operator: str, reason: str | None
    ) -> Alarm:
        """Move an alarm to another state; raises InvalidTransition when it may not.
        Acknowledging makes the operator the owner when there is none."""

        def edit(s: Session, alarm: Alarm) -> None:
            current = AlarmState(alarm.state)
            check_transition(current, target, closing_reason=reason)
            now = utcnow()
            alarm.state = target.value
            if target is AlarmState.ACKNOWLEDGED or (
                alarm.acknowledged_at is None and target is not AlarmState.CLOSED
            ):
                alarm.acknowledged_at = alarm.acknowledged_at or now
            if target in (AlarmState.ACKNOWLEDGED, AlarmState.IN_PROGRESS) and not alarm.owner:
                alarm.owner = operator
            if target is AlarmState.CLOSED:
                alarm.closed_at, alarm.closing_reason = now, (reason or "").strip()
            text = f"{current.value} -> {target.value}"
            if reason:
                text += f": {reason}"
            alarm_store.add_note(s, alarm.id, kind="state", text=text, author=operator)

        return await self._change(alarm_id, "state", edit)

    async def assign(self, alarm_id: int, *, owner: str | None, operator: str) -> Alarm:
        """Give the alarm to someone (None: to nobody)."""

        def edit(s: Session, alarm: Alarm) -> None:
            alarm.owner = owner
            text = f"assigned to {owner}" if owner else "unassigned"
            alarm_store.add_note(s, alarm.id, kind="assign", text=text, author=operator)

        return await self._change(alarm_id, "assign", edit)

    async def comment(self, alarm_id: int, *, author: str, text: str) -> Alarm:
        """Add a comment to the alarm's history."""

        def edit(s: Session, alarm: Alarm) -> None:
            alarm_store.add_note(s, alarm.id, kind="comment", text=text, author=author)

        return await self._change(alarm_id, "comment", edit)

    async def check_sop(self, alarm_id: int, index: int, *, done: bool, operator: str) -> Alarm:
        """Tick (or untick) one item of the alarm's checklist."""

        def edit(s: Session, alarm: Alarm) -> None:
            if not 0 <= index < len(alarm.sop):
                raise SopItemNotFound(
                    f"alarm {alarm.id} has {len(alarm.sop)} checklist item(s); no item {index}"
                )
            items = [dict(item) for item in alarm.sop]  # a new list, so the JSON is written
            items[index].update(
                done=done, by=operator if done else None, at=utcnow().isoformat() if done else None
            )
            alarm.sop = items
            mark = "done" if done else "not done"
            text = f"checklist {index + 1} {mark}: {items[index]['text']}"
            alarm_store.add_note(s, alarm.id, kind="sop", text=text, author=operator)

        return await self._change(alarm_id, "sop", edit)

    # ----- escalation -----------------------------------------------------------------------

    async def escalate_now(self) -> list[Alarm]:
        """Escalate the alarms that are due and publish each."""
        escalated = await asyncio.to_thread(alarm_store.escalate_due, self._db, now=utcnow())
        for alarm in escalated:
            await self.publish(alarm, "escalated")
        return escalated

    async def start(self) -> None:
        """Start the escalation loop."""
        self._task = asyncio.create_task(self._escalation_loop())

    async def stop(self) -> None:
        """Stop the escalation loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _escalation_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.escalation_check_s)
            try:
                await self.escalate_now()
            except Exception:
                log.exception("escalation check failed; trying again")

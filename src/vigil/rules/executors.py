"""The executors Vigil's core provides: "record" and "bookmark" (database work only).
Sending things out (MQTT, webhooks, e-mail, Web Push, signs) is ``vigil.integrations``'."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from vigil.domain.rules import Bookmark, Record, render
from vigil.rules.actions import ActionError, ActionJob, Executor
from vigil.store.bookmarks import add_bookmark
from vigil.store.db import Database
from vigil.store.recording_requests import request_recording
from vigil.store.types import utcnow


def core_executors(db: Database) -> dict[str, Executor]:
    """The executors for "record" and "bookmark" on this database."""

    async def record(job: ActionJob) -> str | None:
        action = job.action
        assert isinstance(action, Record)
        camera_id = action.camera_id if action.camera_id is not None else job.event.camera_id
        if camera_id is None:
            raise ActionError("no camera to record: the event has none", retry=False)
        start = job.event.at - timedelta(seconds=action.pre_s)
        end = job.event.at + timedelta(seconds=action.post_s)
        keep = utcnow() + timedelta(days=action.keep_days) if action.keep_days else None
        try:
            request = await asyncio.to_thread(
                request_recording,
                db,
                camera_id=camera_id,
                start=start,
                end=end,
                keep_until=keep,
                reason=f"rule {job.rule_name!r}: {job.event.type}",
                alarm_id=job.alarm_id,
            )
        except IntegrityError:
            raise ActionError(f"camera {camera_id} does not exist", retry=False) from None
        return f"camera {camera_id} {request.start:%H:%M:%S}-{request.end:%H:%M:%S} UTC"

    async def bookmark(job: ActionJob) -> str | None:
        action = job.action
        assert isinstance(action, Bookmark)
        camera_id = job.event.camera_id
        if camera_id is None:
            raise ActionError("no camera to bookmark: the event has none", retry=False)
        label = render(action.label, job.values)[:500] or job.rule_name
        try:
            await asyncio.to_thread(
                add_bookmark,
                db,
                camera_id=camera_id,
                at=job.event.at,
                end=None,
                label=label,
                created_by=f"rule {job.rule_name}",
                alarm_id=job.alarm_id,
            )
        except IntegrityError:
            raise ActionError(f"camera {camera_id} does not exist", retry=False) from None
        return f"{label!r} on camera {camera_id}"

    return {"record": record, "bookmark": bookmark}

"""Record (or keep) footage around the event: a recording request on the database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from vigil.domain.rules import Record
from vigil.rules.actions import ActionError, ActionJob, Executor
from vigil.rules.registry import ActionKind, ExecutorContext, register_action
from vigil.store.recording_requests import request_recording
from vigil.store.types import utcnow


def _executor(context: ExecutorContext) -> Executor:
    db = context.db

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

    return record


KIND = register_action(ActionKind(Record, _executor))

"""Bookmark the moment on the camera's timeline."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import IntegrityError

from vigil.domain.rules import Bookmark, render
from vigil.rules.actions import ActionError, ActionJob, Executor
from vigil.rules.registry import ActionKind, ExecutorContext, register_action
from vigil.store.bookmarks import add_bookmark


def _executor(context: ExecutorContext) -> Executor:
    db = context.db

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

    return bookmark


KIND = register_action(ActionKind(Bookmark, _executor))

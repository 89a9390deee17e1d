"""Recorded video: the timeline of ranges and gaps, playback from any moment, export."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from vigil.api.deps import CameraDep, ContextDep
from vigil.api.schemas import GapPublic, SpanPublic, TimelinePublic
from vigil.domain.timeline import Span, build_timeline
from vigil.media.playback import NoFootageError, export_mp4, plan_playback, stream_plan
from vigil.store import recordings
from vigil.store.recordings import segment_files
from vigil.store.types import utcnow

router = APIRouter(prefix="/api/cameras/{camera_id}", tags=["recordings"])

MAX_TIMELINE = timedelta(days=31)
MAX_EXPORT = timedelta(hours=24)
# One playback response covers this much; the client asks again from where it got to.
PLAYBACK_WINDOW = timedelta(hours=6)
# Segments start at most this long before a moment they contain.
SEGMENT_LOOKBACK = timedelta(minutes=5)

When = Annotated[datetime, Query(description="ISO 8601 time with a timezone")]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise HTTPException(422, f"'{name}' needs a timezone, e.g. 2026-01-01T12:00:00Z")
    return value


@router.get("/timeline", response_model=TimelinePublic)
def timeline(
    camera: CameraDep,
    ctx: ContextDep,
    start: When | None = None,
    end: When | None = None,
) -> TimelinePublic:
    """Recorded ranges and gaps of a camera (default: the last 24 hours)."""
    now = utcnow()
    end = _aware(end, "end") if end else now
    start = _aware(start, "start") if start else end - timedelta(hours=24)
    if start >= end:
        raise HTTPException(422, "'start' must be before 'end'")
    if end - start > MAX_TIMELINE:
        raise HTTPException(422, f"a timeline spans at most {MAX_TIMELINE.days} days")
    segments = recordings.segments_between(ctx.db, camera.id, start, end)
    recording = any(s.end is None for s in segments)
    spans = [Span(max(s.start, start), min(s.end or now, end)) for s in segments]
    built = build_timeline(spans)
    reasons = recordings.gaps_between(ctx.db, camera.id, start, end)

    def reason_for(gap: Span) -> str | None:
        for g in reasons:
            if g.start <= gap.end and (g.end is None or g.end >= gap.start):
                return g.reason
        return None

    gaps = [GapPublic(start=g.start, end=g.end, reason=reason_for(g)) for g in built.gaps]
    return TimelinePublic(
        camera_id=camera.id,
        start=start,
        end=end,
        ranges=[SpanPublic(start=r.start, end=r.end) for r in built.ranges],
        gaps=gaps,
        recording=recording,
    )


@router.get("/playback.mp4", response_class=StreamingResponse)
def playback(camera: CameraDep, ctx: ContextDep, start: When) -> StreamingResponse:
    """Fragmented MP4 from the keyframe at or before ``start`` onwards, for ``<video>``.

    The ``X-Vigil-Start`` header gives the wall-clock time of the first frame.
    """
    start = _aware(start, "start")
    files = segment_files(
        ctx.db,
        ctx.settings.recordings_dir,
        camera.id,
        start - timedelta(minutes=5),
        utcnow() + timedelta(days=1),
    )
    try:
        plan = plan_playback(files, start)
    except NoFootageError as exc:
        raise HTTPException(
            404, f"no recording of camera {camera.id} at {start.isoformat()}: {exc}"
        ) from None
    return StreamingResponse(
        stream_plan(plan),
        media_type="video/mp4",
        headers={"X-Vigil-Start": plan.first_wall.isoformat(), "Cache-Control": "no-store"},
    )


@router.get("/export", response_class=FileResponse)
async def export(camera: CameraDep, ctx: ContextDep, start: When, end: When) -> FileResponse:
    """One MP4 of [start, end] across segments and gaps, by stream copy, as a download."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if start >= end:
        raise HTTPException(422, "'start' must be before 'end'")
    if end - start > MAX_EXPORT:
        raise HTTPException(422, "an export spans at most 24 hours; export in parts")
    files = segment_files(
        ctx.db, ctx.settings.recordings_dir, camera.id, start - timedelta(minutes=5), end
    )
    out_dir = ctx.settings.data_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", camera.name)
    filename = f"{safe_name}_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.mp4"
    out = out_dir / f"{camera.id}-{utcnow():%Y%m%d%H%M%S%f}.mp4"
    try:
        await asyncio.to_thread(export_mp4, files, start, end, out)
    except NoFootageError:
        out.unlink(missing_ok=True)
        raise HTTPException(
            404,
            f"no recording of camera {camera.id} between {start.isoformat()} and {end.isoformat()}",
        ) from None
    return FileResponse(
        out,
        media_type="video/mp4",
        filename=filename,
        background=BackgroundTask(out.unlink, missing_ok=True),
    )

"""Recorded video: the timeline of ranges and gaps, playback from any moment, export."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from vigil.analytics.faces import FacesUnavailable
from vigil.analytics.plates import PlatesUnavailable
from vigil.api.auth import Principal, audit_action, require
from vigil.api.deps import CameraDep, ContextDep
from vigil.api.routes.privacy import MASKED_HEADER, masks_for
from vigil.api.schemas import GapPublic, SpanPublic, TimelinePublic
from vigil.domain.permissions import Permission
from vigil.domain.timeline import Span, build_timeline
from vigil.media.footage import Footage, FootageUnavailable
from vigil.media.playback import NoFootageError, export_mp4, plan_playback, stream_plan
from vigil.media.privacy import export_masked_mp4, stream_masked
from vigil.privacy.redaction import RedactionError, redact_clip, shared_object_detector
from vigil.store import recordings
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/cameras/{camera_id}", tags=["recordings"])

MAX_TIMELINE = timedelta(days=31)
# A segment is closed this long before the next one opens, at most (a keyframe cut).
ROTATION_WINDOW = timedelta(seconds=5)
MAX_EXPORT = timedelta(hours=24)
# Redaction decodes, analyses and re-encodes every frame (~2.3 s per second of 640x360 video
# on a small CPU, more for larger frames): a redacted export is held in one request, so
# longer spans are exported in parts.
MAX_REDACTED_EXPORT = timedelta(minutes=15)
# One playback response covers this much; the client asks again from where it got to.
PLAYBACK_WINDOW = timedelta(hours=6)
# Segments start at most this long before a moment they contain.
SEGMENT_LOOKBACK = timedelta(minutes=5)
ONE_DAY = timedelta(days=1)
# Documented on every route that reads recorded files (``media/footage.py``).
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "the footage is on a recorder node that is down or not answering"}
}

When = Annotated[datetime, Query(description="ISO 8601 time with a timezone")]
PlaybackUser = Annotated[Principal, Depends(require(Permission.PLAYBACK))]
ExportUser = Annotated[Principal, Depends(require(Permission.EXPORT))]
Redact = Annotated[
    list[Literal["faces", "plates"]] | None,
    Query(description="blur faces and/or licence plates in the export (repeatable)"),
]


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise HTTPException(422, f"'{name}' needs a timezone, e.g. 2026-01-01T12:00:00Z")
    return value


@router.get(
    "/timeline",
    response_model=TimelinePublic,
    dependencies=[Depends(require(Permission.PLAYBACK, Permission.LIVE))],
)
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
    spans = [Span(max(s.start, start), min(s.end or now, end)) for s in segments]
    built = build_timeline(spans)
    reasons = recordings.gaps_between(ctx.db, camera.id, start, end)
    # A segment is closed a moment before the next one opens (each keyframe cut is two
    # writes): recording has stopped only once a gap has opened after the last segment.
    recording = any(s.end is None for s in segments) or (
        bool(segments)
        and not any(g.end is None for g in reasons)
        and max(s.end for s in segments if s.end is not None) >= now - ROTATION_WINDOW
    )

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


@router.get("/playback.mp4", response_class=StreamingResponse, responses=UNAVAILABLE)
def playback(
    user: PlaybackUser, camera: CameraDep, ctx: ContextDep, request: Request, start: When
) -> StreamingResponse:
    """Fragmented MP4 from the keyframe at or before ``start`` onwards, for ``<video>``.

    The ``X-Vigil-Start`` header gives the wall-clock time of the first frame.
    """
    start = _aware(start, "start")
    # Footage on a node that is down is left out: what is reachable still plays.
    found = footage_of(ctx).resolve(camera.id, start - SEGMENT_LOOKBACK, utcnow() + ONE_DAY)
    try:
        plan = plan_playback(found.files, start)
    except FootageUnavailable as exc:
        raise footage_unavailable(exc) from None
    except NoFootageError as exc:
        if found.unavailable:
            raise footage_unavailable(found.unavailable[0]) from None
        raise HTTPException(
            404, f"no recording of camera {camera.id} at {start.isoformat()}: {exc}"
        ) from None
    # Not silently later than asked: the footage at ``start`` itself is unavailable.
    for gone in found.unavailable:
        if gone.start < plan.first_wall and gone.end > start:
            raise footage_unavailable(gone)
    # Without the unmask permission, the camera's privacy masks are filled into every frame.
    masks = masks_for(request, user, camera)
    audit_action(
        request, user, "camera.playback", camera_id=camera.id, start=start, masked=bool(masks)
    )
    chunks = _until_unavailable(stream_plan(plan))
    return StreamingResponse(
        stream_masked(chunks, masks) if masks else chunks,
        media_type="video/mp4",
        headers={
            "X-Vigil-Start": plan.first_wall.isoformat(),
            "Cache-Control": "no-store",
            **({MASKED_HEADER: "1"} if masks else {}),
        },
    )


def footage_of(ctx: ContextDep) -> Footage:
    """Recorded files of this installation, read where they live (``media/footage.py``)."""
    return Footage(
        ctx.db, recordings_dir=ctx.settings.recordings_dir, data_dir=ctx.settings.data_dir
    )


def footage_unavailable(exc: FootageUnavailable) -> HTTPException:
    """503: the footage exists but its recorder node cannot serve it now."""
    return HTTPException(503, str(exc))


def _until_unavailable(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The stream, ended cleanly (as at the end of the footage) when a node that holds a
    later part stops answering: the player asks again from where it got to."""
    try:
        yield from chunks
    except FootageUnavailable as exc:
        log.warning("playback ends early: %s", exc)


def _redact(ctx: ContextDep, src: Path, kinds: list[str]) -> tuple[Path, dict[str, Any]]:
    """Blur ``kinds`` in the export ``src`` (removed in any case); the redacted file and
    what was blurred, for the audit trail. Runs in a worker thread."""
    dst = src.with_name(f"{src.stem}-redacted.mp4")
    try:
        report = redact_clip(
            src,
            dst,
            faces="faces" in kinds,
            plates="plates" in kinds,
            detector=shared_object_detector(ctx.settings.models_dir),
        )
    except RedactionError as exc:
        dst.unlink(missing_ok=True)
        raise HTTPException(422, f"the export could not be redacted: {exc}") from None
    except (FacesUnavailable, PlatesUnavailable) as exc:
        raise HTTPException(503, f"redaction is not available on this server: {exc}") from None
    finally:
        src.unlink(missing_ok=True)
    return dst, {
        "redacted": kinds,
        "faces_blurred": report.faces_blurred + report.heads_blurred,
        "plates_blurred": report.plates_blurred,
    }


@router.get("/export", response_class=FileResponse, responses=UNAVAILABLE)
async def export(
    user: ExportUser,
    camera: CameraDep,
    ctx: ContextDep,
    request: Request,
    start: When,
    end: When,
    redact: Redact = None,
) -> FileResponse:
    """One MP4 of [start, end] across segments and gaps, by stream copy, as a download.

    With ``redact`` (``faces``, ``plates``) the export is re-encoded with those blurred
    (`vigil.privacy.redaction`) and its file name ends in ``_redacted``.
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    kinds: list[str] = sorted(set(redact or []))
    if start >= end:
        raise HTTPException(422, "'start' must be before 'end'")
    if end - start > MAX_EXPORT:
        raise HTTPException(422, "an export spans at most 24 hours; export in parts")
    if kinds and end - start > MAX_REDACTED_EXPORT:
        raise HTTPException(422, "a redacted export spans at most 15 minutes; export in parts")
    footage = footage_of(ctx)
    try:
        files = await run_in_threadpool(
            footage.segment_files, camera.id, start - SEGMENT_LOOKBACK, end
        )
    except FootageUnavailable as exc:
        raise footage_unavailable(exc) from None
    out_dir = ctx.settings.data_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    # No leading dot: a download named ".._x.mp4" would be hidden on the investigator's disk.
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", camera.name).lstrip(".") or f"camera{camera.id}"
    suffix = "_redacted" if kinds else ""
    filename = f"{safe_name}_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}{suffix}.mp4"
    out = out_dir / f"{camera.id}-{utcnow():%Y%m%d%H%M%S%f}.mp4"
    masks = masks_for(request, user, camera)
    try:
        if masks:  # without the unmask permission: masked in every frame
            await asyncio.to_thread(export_masked_mp4, files, start, end, out, masks)
        else:
            await asyncio.to_thread(export_mp4, files, start, end, out)
    except NoFootageError:
        out.unlink(missing_ok=True)
        raise HTTPException(
            404,
            f"no recording of camera {camera.id} between {start.isoformat()} and {end.isoformat()}",
        ) from None
    except FootageUnavailable as exc:  # its node went away while it was being fetched
        out.unlink(missing_ok=True)
        raise footage_unavailable(exc) from None
    redaction: dict[str, Any] = {}
    if kinds:
        out, redaction = await asyncio.to_thread(_redact, ctx, out, kinds)
    await run_in_threadpool(
        audit_action,
        request,
        user,
        "camera.export",
        camera_id=camera.id,
        target=filename,
        start=start,
        end=end,
        masked=bool(masks),
        **redaction,
    )
    return FileResponse(
        out,
        media_type="video/mp4",
        filename=filename,
        headers={MASKED_HEADER: "1"} if masks else None,
        background=BackgroundTask(out.unlink, missing_ok=True),
    )

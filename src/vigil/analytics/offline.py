"""A video file through one camera's live analytics, without a server or a recorder: for
``vigil analyze`` (try a zone or a behaviour on a recorded clip before switching it on live),
and for the benchmarks and tests that must measure the live code path itself.

The file's packets go into the same ``AnalyticsTap`` an ingest feeds, so the frames are
sampled, gated, detected, tracked and turned into events exactly as on a live camera. It is
fed one packet at a time, each once the decoder has handled the one before and the detector
has finished what it was given: no analysis frame is dropped (a live camera drops them when
the detector is busy; a file can wait), and every decision (the motion gate's, the reduced
detection rate's) sees the same state whatever the machine's load, so the same file gives
the same events every time.

Example:
    >>> seen = []
    >>> play_file(Path("clip.mp4"), config, models_dir, lambda _s, m: seen.append(m))
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.frames import AnalyticsTap
from vigil.analytics.pipeline import CameraPipeline, PipelineContext, State
from vigil.analytics.runtime import Publish, WorkerPool
from vigil.media.packets import StreamInfo

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Where a file's time starts by default: message times minus this are seconds into it."""
DRAIN_TIMEOUT_S = 60.0
"""The last frames' analysis must end within this long after the file's end."""


class AnalysisError(RuntimeError):
    """The file could not be analysed (the message names the file or the model and why)."""


def play_file(
    path: Path,
    config: CameraAnalyticsConfig,
    models_dir: Path,
    publish: Publish,
    *,
    start: datetime = EPOCH,
    progress: Callable[[float], None] | None = None,
) -> CameraPipeline:
    """Analyse a video file as a live camera's pipeline would.

    Args:
        path: The video file (anything FFmpeg reads; its first video stream is analysed).
        config: The camera's analytics configuration (``enabled`` is not looked at).
        models_dir: Where the detector's model files are.
        publish: Receives every message the pipeline publishes (events, analytics frames,
            tracks that ended, status), from its threads.
        start: The wall time of the file's first frame (message times are this plus the
            file's timestamps).
        progress: Called with the share of the file done (0..1) now and then.

    Returns:
        The stopped pipeline (its counters: frames analysed, detector calls).

    Raises:
        AnalysisError: The file has no video or cannot be read, or the detector cannot load.
    """
    pool = WorkerPool(1)
    with tempfile.TemporaryDirectory(prefix="vigil-analyze-") as tmp:
        pipeline = CameraPipeline(1, config, PipelineContext(Path(tmp), models_dir, "analyze",
                                                             pool, publish))  # fmt: skip
        tap = AnalyticsTap(keep_keyframe=False)
        tap.attach(pipeline.decoder)
        pipeline.start()
        try:
            _feed(path, pipeline, tap, start, progress)
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while pipeline.decoder.queued or pipeline.busy:
                if time.monotonic() > deadline:
                    raise AnalysisError(f"{path}: analysis did not finish after the file's end")
                time.sleep(0.01)
        finally:
            pipeline.stop()
            pool.stop()
    if pipeline.state in (State.UNAVAILABLE, State.ERROR):
        raise AnalysisError(f"analytics could not run: {pipeline.error}")
    return pipeline


def _feed(
    path: Path,
    pipeline: CameraPipeline,
    tap: AnalyticsTap,
    start: datetime,
    progress: Callable[[float], None] | None,
) -> None:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise AnalysisError(f"{path}: cannot be read as video ({exc})") from None
    with container:
        if not container.streams.video:
            raise AnalysisError(f"{path}: has no video stream")
        video = container.streams.video[0]
        base = video.time_base
        duration = float(video.duration * base) if video.duration and base else None
        if duration is None and container.duration:
            duration = container.duration / av.time_base
        tap.open(StreamInfo(1, video, None, start))
        given = 1  # the decoder's items: the stream's opening, then each packet
        seconds = 0.0
        try:
            for packet in container.demux(video):
                if packet.pts is None or packet.dts is None:
                    continue
                # Waits for the pipeline (a file can; a camera cannot), and while the
                # detector loads: the first frames must not be lost to its start.
                while _waiting(pipeline, given):
                    if pipeline.state in (State.UNAVAILABLE, State.ERROR):
                        return
                    time.sleep(0.0005)
                seconds = float(packet.pts * packet.time_base)
                tap.write(packet, start + timedelta(seconds=seconds))
                given += 1
                if progress is not None and duration:
                    progress(min(1.0, seconds / duration))
        except av.error.FFmpegError as exc:
            raise AnalysisError(f"{path}: broken at {seconds:.1f} s ({exc})") from None
        finally:
            tap.close(None)


def _waiting(pipeline: CameraPipeline, given: int) -> bool:
    """Whether the next packet must wait: the decoder has not handled all it was given, or
    the detector is busy or still loading."""
    decoder = pipeline.decoder
    return decoder.items_done < given or pipeline.busy or pipeline.state == State.STARTING

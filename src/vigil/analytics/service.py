"""The analytics of a recorder's cameras: one pipeline per camera with analytics enabled,
fed by taps that stay in the cameras' ingests, restarted alone when its configuration changes.

The recorder puts an :class:`~vigil.analytics.frames.AnalyticsTap` in each ingest it starts
(main stream, and sub-stream when the camera has one) and calls :meth:`AnalyticsService.start`
with them; saving a camera's analytics configuration (``AnalyticsConfigChanged`` on the bus)
restarts only that camera's pipeline. Recording never waits for any of it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from av.video.frame import VideoFrame

from vigil.analytics.frames import AnalyticsTap, to_bgr
from vigil.analytics.pipeline import (
    CameraPipeline,
    EventRecording,
    PipelineContext,
    State,
)
from vigil.analytics.runtime import BusPublisher, WorkerPool
from vigil.analytics.snapshots import encode_jpeg
from vigil.bus.base import EventBus
from vigil.config import Settings
from vigil.domain.cameras import RecordingMode
from vigil.domain.events import AnalyticsStatus
from vigil.domain.messages import AnalyticsConfigChanged
from vigil.domain.schedules import TimeProfileSpec
from vigil.store import analytics as analytics_store
from vigil.store.db import Database
from vigil.store.models import Camera
from vigil.store.privacy import get_masks
from vigil.store.rules import list_time_profiles
from vigil.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CameraTaps:
    """The analytics taps in one camera's ingests."""

    main: AnalyticsTap
    sub: AnalyticsTap | None = None

    @classmethod
    def for_camera(cls, camera: Camera) -> CameraTaps:
        """New taps; the sub-stream's (or, without one, the main stream's) keeps keyframes
        for snapshots."""
        has_sub = bool(camera.sub_url)
        return cls(
            AnalyticsTap(keep_keyframe=not has_sub),
            AnalyticsTap(keep_keyframe=True) if has_sub else None,
        )

    def stream(self, name: str) -> AnalyticsTap:
        """The tap of the stream analytics reads: the sub-stream when asked for and present."""
        return self.sub if name == "sub" and self.sub is not None else self.main


@dataclass(slots=True)
class _Camera:
    camera_id: int
    recording_mode: str
    taps: CameraTaps
    pipeline: CameraPipeline | None = None


class AnalyticsService:
    """Runs the analytics of the cameras a recorder records.

    Args:
        settings: Data and models directories, onnxruntime threads, node name.
        db: Configurations, time profiles, recording requests.
        bus: The recorder's bus (events and analytics messages go out on it).
        loop: The recorder's event loop (pipelines publish from their threads through it).
    """

    def __init__(
        self, settings: Settings, db: Database, bus: EventBus, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._db = db
        self._bus = bus
        self._pool = WorkerPool()
        self._publish = BusPublisher(loop, bus)
        self._ctx = PipelineContext(
            data_dir=settings.data_dir.resolve(),
            models_dir=settings.models_dir,
            node=settings.recorder.node_name,
            pool=self._pool,
            publish=self._publish,
            db=db,
            intra_op_threads=settings.analytics.ort_intra_op_threads,
        )
        self._cameras: dict[int, _Camera] = {}

    def start(self, camera: Camera, taps: CameraTaps) -> None:
        """Start a camera's analytics if its configuration enables it (blocking: reads the
        database and stops a previous pipeline)."""
        self.stop(camera.id)
        entry = self._cameras[camera.id] = _Camera(camera.id, camera.recording_mode, taps)
        self._run(entry)

    def restart(self, camera_id: int) -> None:
        """Apply a camera's new analytics configuration (its recording goes on)."""
        entry = self._cameras.get(camera_id)
        if entry is None:
            return  # not recorded here
        self._halt(entry)
        self._run(entry)

    def stop(self, camera_id: int) -> None:
        """Stop a camera's analytics (the camera stopped or moved)."""
        entry = self._cameras.pop(camera_id, None)
        if entry is not None:
            self._halt(entry)

    def close(self) -> None:
        """Stop every pipeline and the workers."""
        for camera_id in list(self._cameras):
            self.stop(camera_id)
        self._pool.stop()

    def snapshot(self, camera_id: int) -> bytes | None:
        """The latest analysed-stream frame as JPEG: the pipeline's latest sampled frame,
        or, with analytics off, the latest keyframe of the stream; None when there is none."""
        entry = self._cameras.get(camera_id)
        if entry is None:
            return None
        if entry.pipeline is not None and (jpeg := entry.pipeline.snapshot_jpeg()) is not None:
            return jpeg
        taps = entry.taps
        frame: VideoFrame | None = (taps.sub or taps.main).snapshot()
        if frame is None and taps.sub is not None:
            frame = taps.main.snapshot()
        return encode_jpeg(to_bgr(frame)) if frame is not None else None

    async def listen(self) -> None:
        """Restart a camera's pipeline whenever its configuration is saved."""
        async with self._bus.subscribe(AnalyticsConfigChanged.SUBJECT) as messages:
            async for envelope in messages:
                try:
                    camera_id = envelope.open(AnalyticsConfigChanged).camera_id
                    await asyncio.to_thread(self.restart, camera_id)
                except Exception:  # a bad message or a failed restart: keep listening
                    log.exception("applying an analytics configuration failed")

    def _run(self, entry: _Camera) -> None:
        config = analytics_store.get_config(self._db, entry.camera_id)
        if not config.enabled:
            self._publish_disabled(entry.camera_id)
            return
        recording = None
        if entry.recording_mode == RecordingMode.EVENTS:
            recording = EventRecording(config.record_pre_s, config.record_post_s)
        profiles: dict[int, TimeProfileSpec] = {}
        if any(b.time_profile_id is not None for b in config.behaviours):
            profiles = {
                p.id: TimeProfileSpec.model_validate(p.spec) for p in list_time_profiles(self._db)
            }
        pipeline = CameraPipeline(
            entry.camera_id,
            config,
            self._ctx,
            recording=recording,
            time_profiles=profiles,
            privacy_masks=get_masks(self._db, entry.camera_id) or [],
        )
        pipeline.start()
        entry.taps.stream(config.stream).attach(pipeline.decoder)
        entry.pipeline = pipeline
        log.info("camera %s: analytics started (%s)", entry.camera_id, config.detector["type"])

    def _halt(self, entry: _Camera) -> None:
        pipeline, entry.pipeline = entry.pipeline, None
        if pipeline is None:
            return
        for tap in (entry.taps.main, entry.taps.sub):
            if tap is not None:
                tap.attach(None)
        pipeline.stop()
        self._publish_disabled(entry.camera_id)

    def _publish_disabled(self, camera_id: int) -> None:
        status = AnalyticsStatus(camera_id=camera_id, state=State.DISABLED, at=utcnow())
        self._publish(status.subject(), status)

"""The recorder role's work: own the enabled cameras, record them, serve their live view,
report their health, and keep storage within bounds.

One asyncio loop coordinates; each camera's ingest runs in its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from vigil.analytics.service import AnalyticsService, CameraTaps
from vigil.bus.base import EventBus
from vigil.config import Settings
from vigil.domain.cameras import CameraStatus, with_credentials
from vigil.domain.messages import CamerasChanged, CameraStatusChanged
from vigil.media.ingest import CameraIngest
from vigil.media.live import LiveFragmenter
from vigil.media.privacy_live import CameraPrivacy, MaskedLive
from vigil.media.segments import SegmentRecorder
from vigil.media.storage import DiskGuard, janitor_pass, repair_open_segments
from vigil.security.secrets import SecretBox
from vigil.store import cameras as camera_store
from vigil.store import nodes
from vigil.store.cameras import HealthReport
from vigil.store.db import Database
from vigil.store.models import Camera
from vigil.store.privacy import masks_of
from vigil.store.recordings import DbSegmentIndex
from vigil.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CameraWorker:
    """What runs for one camera."""

    camera_id: int
    updated_at: datetime
    ingest: CameraIngest
    live: LiveFragmenter
    # The sub-stream, when the camera has one: live view only (grids, phones), not recorded.
    sub_ingest: CameraIngest | None = None
    sub_live: LiveFragmenter | None = None
    # Analytics reads through these taps; its pipeline restarts without touching the ingests.
    taps: CameraTaps | None = None

    def live_views(self) -> tuple[LiveFragmenter, LiveFragmenter | None]:
        """The main and sub-stream live views, kept across a restart of the worker."""
        return self.live, self.sub_live

    def stop(self) -> None:
        """Stop reading the camera (blocking: closes the segment being written)."""
        if self.sub_ingest is not None:
            self.sub_ingest.stop()
        self.ingest.stop()


class RecorderService:
    """Records every enabled camera and keeps their health current."""

    def __init__(self, settings: Settings, db: Database, bus: EventBus) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.node = settings.recorder.node_name
        self.root = settings.recordings_dir
        self.workers: dict[int, CameraWorker] = {}
        self._secrets = SecretBox.for_data_dir(settings.data_dir)
        self._guard = DiskGuard(db, self.root, settings.storage)
        self._index = DbSegmentIndex(db, self.node)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        # Set from ingest threads when a camera cannot be written (disk full, write error).
        self._storage_errors: dict[int, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.analytics: AnalyticsService | None = None
        # Privacy masks and masked live views, per enabled camera, kept across restarts of
        # its ingest (media/privacy_live.py).
        self.privacy: dict[int, CameraPrivacy] = {}

    def live(self, camera_id: int, stream: str = "main") -> LiveFragmenter | None:
        """The live view of a camera this node records, if any: its sub-stream when asked
        for and the camera has one, else its main stream."""
        worker = self.workers.get(camera_id)
        if worker is None:
            return None
        return (worker.sub_live if stream == "sub" else None) or worker.live

    def masked_live(self, camera_id: int, stream: str = "main") -> MaskedLive | None:
        """The masked live view of the stream that :meth:`live` serves, if recorded here."""
        worker = self.workers.get(camera_id)
        privacy = self.privacy.get(camera_id)
        if worker is None or privacy is None:
            return None
        return privacy.view(stream, has_sub=worker.sub_live is not None)

    async def run(self) -> None:
        """Repair what a crash left, then keep cameras, health and storage in step."""
        self._loop = asyncio.get_running_loop()
        self.root.mkdir(parents=True, exist_ok=True)
        repaired = await asyncio.to_thread(repair_open_segments, self.db, self.root, self.node)
        if repaired:
            log.info("closed %d segments left open by the previous run", repaired)
        nodes.heartbeat(self.db, self.node, self.settings.recorder_url, starting=True)
        listener = asyncio.create_task(self._listen_for_changes())
        self.analytics = AnalyticsService(self.settings, self.db, self.bus, self._loop)
        analytics_listener = asyncio.create_task(self.analytics.listen())
        janitor = asyncio.create_task(self._janitor())
        try:
            while True:
                # Cleared before the round, not after: a change announced while the round
                # runs wakes the next one at once instead of waiting out the interval.
                self._wake.clear()
                try:
                    await self._sync_cameras()
                    await asyncio.to_thread(self._write_health)
                    await asyncio.to_thread(
                        nodes.heartbeat, self.db, self.node, self.settings.recorder_url
                    )
                except Exception:  # e.g. the database is briefly unavailable: try next round
                    log.exception("recorder housekeeping failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), timeout=self.settings.recorder.health_interval_s
                    )
        finally:
            listener.cancel()
            janitor.cancel()
            analytics_listener.cancel()
            await self.stop()

    async def stop(self) -> None:
        """Stop every camera, closing their segments cleanly."""
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in workers))
        privacy, self.privacy = list(self.privacy.values()), {}
        for masked in privacy:
            masked.shutdown()
        if self.analytics is not None:
            await asyncio.to_thread(self.analytics.close)
        await asyncio.to_thread(self._write_health_for, workers, CameraStatus.DISABLED)

    async def _listen_for_changes(self) -> None:
        async with self.bus.subscribe(CamerasChanged.SUBJECT) as messages:
            async for _ in messages:
                self._wake.set()

    async def _sync_cameras(self) -> None:
        wanted = {c.id: c for c in camera_store.list_cameras(self.db, enabled_only=True)}
        kept_live: dict[int, tuple[LiveFragmenter, LiveFragmenter | None]] = {}
        for camera_id, worker in list(self.workers.items()):
            camera = wanted.get(camera_id)
            if camera is None or camera.updated_at != worker.updated_at:
                del self.workers[camera_id]
                if self.analytics is not None:
                    await asyncio.to_thread(self.analytics.stop, camera_id)
                await asyncio.to_thread(worker.stop)
                if camera is None:
                    # Gone or disabled: its viewers learn it from the end of their stream.
                    for view in worker.live_views():
                        if view is not None:
                            view.end_all()
                    if (privacy := self.privacy.pop(camera_id, None)) is not None:
                        privacy.shutdown()
                    await asyncio.to_thread(self._write_health_for, [worker], CameraStatus.DISABLED)
                else:
                    kept_live[camera_id] = worker.live_views()
        for camera_id, camera in wanted.items():
            await self._apply_masks(camera)
            if camera_id not in self.workers:
                worker = self.workers[camera_id] = self._start(
                    camera, *kept_live.get(camera_id, (None, None))
                )
                await self._start_analytics(camera, worker)

    async def _apply_masks(self, camera: Camera) -> None:
        """Bring a camera's privacy masks up to date; a change reaches masked live views at
        their next frame and restarts the camera's analytics (it analyses masked frames)."""
        assert self._loop is not None
        masks = masks_of(camera)
        privacy = self.privacy.get(camera.id)
        if privacy is None:
            self.privacy[camera.id] = CameraPrivacy(camera.id, self._loop, masks)
        elif privacy.set_masks(masks) and camera.id in self.workers and self.analytics:
            await asyncio.to_thread(self.analytics.restart, camera.id)

    async def _start_analytics(self, camera: Camera, worker: CameraWorker) -> None:
        if self.analytics is None or worker.taps is None:
            return
        try:
            await asyncio.to_thread(self.analytics.start, camera, worker.taps)
        except Exception:  # analytics must never keep a camera from recording
            log.exception("camera %s: analytics failed to start", camera.id)

    def snapshot(self, camera_id: int) -> bytes | None:
        """The latest frame of a camera's analytics (or live) stream as JPEG (blocking)."""
        return self.analytics.snapshot(camera_id) if self.analytics is not None else None

    def _start(
        self, camera: Camera, live: LiveFragmenter | None, sub_live: LiveFragmenter | None
    ) -> CameraWorker:
        """Start a camera's ingest; a changed camera keeps its live view, so that its
        viewers get the new stream without reconnecting."""
        assert self._loop is not None
        password = (
            self._secrets.decrypt(camera.password_encrypted) if camera.password_encrypted else None
        )
        url = with_credentials(camera.main_url, camera.username, password)
        live = live or LiveFragmenter(self._loop)
        taps = CameraTaps.for_camera(camera)
        privacy = self.privacy[camera.id]
        recorder = SegmentRecorder(
            camera.id,
            self.root,
            self._index,
            self._guard,
            segment_seconds=self.settings.storage.segment_seconds,
            on_status=partial(self._storage_changed, camera.id),
        )
        ingest = CameraIngest(
            camera.id,
            url,
            [recorder, live, taps.main, privacy.main],
            secrets=[password, camera.username],
            on_status=partial(self._status_changed, camera.id),
            # Masked viewers watch too: the RTSP client then reads in small batches.
            watched=lambda: live.viewer_count > 0 or privacy.main.viewer_count > 0,
            reconnect_min_s=self.settings.recorder.reconnect_min_s,
            reconnect_max_s=self.settings.recorder.reconnect_max_s,
        )
        ingest.start()
        worker = CameraWorker(camera.id, camera.updated_at, ingest, live, taps=taps)
        if camera.sub_url:
            sub_view = worker.sub_live = sub_live or LiveFragmenter(self._loop)
            worker.sub_ingest = CameraIngest(
                camera.id,
                with_credentials(camera.sub_url, camera.username, password),
                [
                    worker.sub_live,
                    *([taps.sub] if taps.sub is not None else []),
                    privacy.sub(),
                ],
                secrets=[password, camera.username],
                watched=lambda: sub_view.viewer_count > 0 or privacy.sub().viewer_count > 0,
                reconnect_min_s=self.settings.recorder.reconnect_min_s,
                reconnect_max_s=self.settings.recorder.reconnect_max_s,
            )
            worker.sub_ingest.start()
        elif sub_live is not None:
            sub_live.end_all()  # the sub-stream was removed from the camera
        log.info("camera %s (%s): recording started", camera.id, camera.name)
        return worker

    def _storage_changed(self, camera_id: int, _status: CameraStatus, error: str | None) -> None:
        if error is None:
            self._storage_errors.pop(camera_id, None)
            self._status_changed(camera_id, CameraStatus.ONLINE, None)
        else:
            self._storage_errors[camera_id] = error
            self._status_changed(camera_id, CameraStatus.STORAGE_FULL, error)

    def _status_changed(self, camera_id: int, status: CameraStatus, error: str | None) -> None:
        """Called from ingest threads: hop onto the loop to publish and store."""
        if self._loop is None or self._loop.is_closed():
            return
        message = CameraStatusChanged(
            camera_id=camera_id, status=status, node=self.node, at=utcnow(), error=error
        )
        self._loop.call_soon_threadsafe(self._publish_status, message)

    def _publish_status(self, message: CameraStatusChanged) -> None:
        assert self._loop is not None
        worker = self.workers.get(message.camera_id)
        if worker is not None:
            self._background(asyncio.to_thread(self._write_health_for, [worker], None))
        self._background(self.bus.publish(CameraStatusChanged.subject(message.camera_id), message))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work without waiting for it, keeping a reference until it is done."""
        assert self._loop is not None
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _write_health(self) -> None:
        self._write_health_for(list(self.workers.values()), None)

    def _write_health_for(self, workers: list[CameraWorker], override: CameraStatus | None) -> None:
        reports = []
        for worker in workers:
            stats = worker.ingest.stats
            fps, bps = stats.rates() if stats.status == CameraStatus.ONLINE else (0.0, 0.0)
            status, error = override or stats.status, stats.last_error
            storage_error = self._storage_errors.get(worker.camera_id)
            if storage_error and status == CameraStatus.ONLINE:
                status, error = CameraStatus.STORAGE_FULL, storage_error
            reports.append(
                HealthReport(
                    camera_id=worker.camera_id,
                    node=self.node,
                    status=status.value,
                    fps=fps,
                    bitrate_bps=bps,
                    last_frame_at=stats.last_frame_at,
                    last_error=error,
                    video_codec=stats.video_codec,
                    width=stats.width,
                    height=stats.height,
                )
            )
        camera_store.save_health(self.db, reports)

    async def _janitor(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._enforce_retention)
            except Exception:  # the janitor must survive a bad pass and try again
                log.exception("retention pass failed")
            await asyncio.sleep(self.settings.storage.janitor_interval_s)

    def _enforce_retention(self) -> None:
        janitor_pass(self.db, self.root, self.settings.storage)
        self._guard.refresh()

"""The recorder role's work: hold leases on cameras, record each under its supervisor,
serve their live view, report their health, and keep storage within bounds.

One asyncio loop coordinates; each camera's ingest runs in its own thread
(``recorder/supervisor.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from vigil.analytics.service import AnalyticsService
from vigil.bus.base import EventBus
from vigil.cluster.membership import Membership
from vigil.config import Settings
from vigil.domain.cameras import CameraStatus
from vigil.domain.messages import CamerasChanged, CameraStatusChanged
from vigil.domain.timeline import CONTINUITY_TOLERANCE
from vigil.libc import release_free_heap
from vigil.media.live import LiveFragmenter
from vigil.media.privacy_live import CameraPrivacy, MaskedLive
from vigil.media.segment_index import DbSegmentIndex
from vigil.media.storage import DiskGuard, janitor_pass, repair_open_segments, sweep_unindexed
from vigil.recorder.supervisor import CameraSupervisor, RecordingContext
from vigil.security.secrets import SecretBox
from vigil.store import cameras as camera_store
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.models import Camera
from vigil.store.privacy import masks_of
from vigil.store.types import utcnow

log = logging.getLogger(__name__)

# A stopped recording's end may lie this far ahead of the clock at most (its last frame's
# duration, and live frames are stamped up to ingest.FUTURE_TOLERANCE ahead): an end further
# ahead means the clock was set back, and the camera starts at once rather than wait for it.
MAX_END_AHEAD = timedelta(seconds=2)
HEAP_TRIM_EVERY_S = 60.0


class RecorderService:
    """Records the enabled cameras this node holds leases for, and keeps their health."""

    def __init__(self, settings: Settings, db: Database, bus: EventBus) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.node = settings.recorder.node_name
        self.root = settings.recordings_dir
        self.supervisors: dict[int, CameraSupervisor] = {}
        self._secrets = SecretBox.for_data_dir(settings.data_dir)
        self._guard = DiskGuard(db, self.root, settings.storage, node=self.node)
        self.membership = Membership(
            db,
            self.node,
            settings.recorder_url,
            capacity=settings.recorder.max_cameras,
            disk=self.root,
        )
        # Every index write is fenced by this node's lease on the camera.
        self._index = DbSegmentIndex(db, self.node, epoch_of=self.membership.epoch_of)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        # What the supervisors share; made when run() has its loop.
        self._context: RecordingContext | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by request_stop(): the loop ends after its current round, never in the middle
        # of one (a cancelled round could leave a health write running after the stop's).
        self._stopping = False
        self.analytics: AnalyticsService | None = None
        # Privacy masks and masked live views, per enabled camera, kept across restarts of
        # its ingest (media/privacy_live.py).
        self.privacy: dict[int, CameraPrivacy] = {}

    def live(self, camera_id: int, stream: str = "main") -> LiveFragmenter | None:
        """The live view of a camera this node records, if any: its sub-stream when asked
        for and the camera has one, else its main stream."""
        supervisor = self.supervisors.get(camera_id)
        return supervisor.live_view(stream) if supervisor is not None else None

    def masked_live(self, camera_id: int, stream: str = "main") -> MaskedLive | None:
        """The masked live view of the stream that :meth:`live` serves, if recorded here."""
        supervisor = self.supervisors.get(camera_id)
        privacy = self.privacy.get(camera_id)
        if supervisor is None or privacy is None:
            return None
        return privacy.view(stream, has_sub=supervisor.sub_live is not None)

    async def run(self) -> None:
        """Repair what a crash left, then keep cameras, health and storage in step."""
        self._loop = asyncio.get_running_loop()
        self._context = RecordingContext(
            settings=self.settings,
            loop=self._loop,
            root=self.root,
            index=self._index,
            guard=self._guard,
            may_write=self.membership.may_write,
            on_status=self._status_changed,
            node=self.node,
        )
        self.root.mkdir(parents=True, exist_ok=True)
        repaired = await asyncio.to_thread(repair_open_segments, self.db, self.root, self.node)
        if repaired:
            log.info("closed %d segments left open by the previous run", repaired)
        await asyncio.to_thread(self.membership.round, starting=True)
        self.membership.keep(self.settings.recorder.health_interval_s, self._wake_from_thread)
        listener = asyncio.create_task(self._listen_for_changes())
        self.analytics = AnalyticsService(self.settings, self.db, self.bus, self._loop)
        analytics_listener = asyncio.create_task(self.analytics.listen())
        janitor = asyncio.create_task(self._janitor())
        trimmer = asyncio.create_task(self._trim_heap())
        try:
            while not self._stopping:
                # Cleared before the round, not after: a change announced while the round
                # runs wakes the next one at once instead of waiting out the interval.
                self._wake.clear()
                try:
                    await self._sync_cameras(self.membership.recording())
                    await asyncio.to_thread(self._write_health)
                except Exception:  # e.g. the database is briefly unavailable: try next round
                    log.exception("recorder housekeeping failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), timeout=self.settings.recorder.health_interval_s
                    )
        finally:
            listener.cancel()
            janitor.cancel()
            trimmer.cancel()
            analytics_listener.cancel()
            await asyncio.to_thread(self.membership.stop_keeping)
            await self.stop()

    def _wake_from_thread(self) -> None:
        """Run the next round now (from another thread: the lease keeper's)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._wake.set)

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop every camera cleanly and return, after its current round."""
        self._stopping = True
        self._wake.set()

    async def stop(self) -> None:
        """Stop every camera, closing their segments cleanly, and hand their leases back
        so that another node can take them at once."""
        supervisors, self.supervisors = list(self.supervisors.values()), {}
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in supervisors))
        for supervisor in supervisors:
            with contextlib.suppress(Exception):  # the database may be gone: leases expire
                await asyncio.to_thread(
                    self.membership.release, supervisor.camera_id, supervisor.epoch
                )
        privacy, self.privacy = list(self.privacy.values()), {}
        for masked in privacy:
            masked.shutdown()
        if self.analytics is not None:
            await asyncio.to_thread(self.analytics.close)
        await asyncio.to_thread(self._write_health_for, supervisors, CameraStatus.DISABLED)
        # The stopped ingests announced their cameras' new status: publish that before the
        # bus closes, so that the server hears it now rather than from a stale health report.
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _listen_for_changes(self) -> None:
        async with self.bus.subscribe(CamerasChanged.SUBJECT) as messages:
            async for _ in messages:
                self.membership.poke()  # the leases change first; the cameras follow
                self._wake.set()

    async def _sync_cameras(self, held: dict[int, int]) -> None:
        """Record exactly the enabled cameras this node holds (``held``: camera -> epoch)."""
        enabled = {c.id: c for c in camera_store.list_cameras(self.db, enabled_only=True)}
        wanted = {camera_id: c for camera_id, c in enabled.items() if camera_id in held}
        kept_live: dict[int, tuple[LiveFragmenter, LiveFragmenter | None]] = {}
        for camera_id, supervisor in list(self.supervisors.items()):
            camera = wanted.get(camera_id)
            moved = held.get(camera_id) != supervisor.epoch
            if camera is None or camera.updated_at != supervisor.updated_at or moved:
                del self.supervisors[camera_id]
                if self.analytics is not None:
                    await asyncio.to_thread(self.analytics.stop, camera_id)
                await asyncio.to_thread(supervisor.stop)
                if camera is None or moved:
                    # Handed over (drain, pin) or disabled: the lease is free for the next.
                    await asyncio.to_thread(self.membership.release, camera_id, supervisor.epoch)
                if camera is None:
                    # Gone, disabled or moved to another node: its viewers learn it from the
                    # end of their stream (and reconnect to wherever it is recorded now).
                    supervisor.end_live()
                    if (privacy := self.privacy.pop(camera_id, None)) is not None:
                        privacy.shutdown()
                    if camera_id not in enabled:  # a moved camera's health is its new node's
                        await asyncio.to_thread(
                            self._write_health_for, [supervisor], CameraStatus.DISABLED
                        )
                else:
                    kept_live[camera_id] = supervisor.live_views()
        for camera_id, camera in wanted.items():
            await self._apply_masks(camera)
            if camera_id not in self.supervisors:
                await self._after_last_recording(camera_id)
                supervisor = self.supervisors[camera_id] = self._start(
                    camera, held[camera_id], *kept_live.get(camera_id, (None, None))
                )
                await self._start_analytics(camera, supervisor)

    async def _after_last_recording(self, camera_id: int) -> None:
        """Return once the camera's last recording ended more than the timeline's continuity
        tolerance ago, so that the one about to start follows a visible gap.

        A stopped recording ends at its last frame's wall time plus the frame's duration,
        and live frames are stamped up to ``FUTURE_TOLERANCE`` ahead of the clock: when a
        camera restarts at once (disabled and enabled again, its settings changed), that end
        can still lie ahead (~0.1 s), while the new recording starts at the clock. Started
        right away, the two could overlap or meet, and the timeline would show one range
        where recording stopped."""
        end = await asyncio.to_thread(recordings.recorded_until, self.db, camera_id)
        if end is None:
            return
        if end - utcnow() > MAX_END_AHEAD:
            log.warning("camera %s: its last recording ends in the future (%s)", camera_id, end)
            return
        ahead = (end + CONTINUITY_TOLERANCE - utcnow()).total_seconds()
        if ahead >= 0:
            # A millisecond more: the loop sleeps by the monotonic clock, not the wall clock.
            await asyncio.sleep(ahead + 0.001)

    async def _apply_masks(self, camera: Camera) -> None:
        """Bring a camera's privacy masks up to date; a change reaches masked live views at
        their next frame and restarts the camera's analytics (it analyses masked frames)."""
        assert self._loop is not None
        masks = masks_of(camera)
        privacy = self.privacy.get(camera.id)
        if privacy is None:
            self.privacy[camera.id] = CameraPrivacy(camera.id, self._loop, masks)
        elif privacy.set_masks(masks) and camera.id in self.supervisors and self.analytics:
            await asyncio.to_thread(self.analytics.restart, camera.id)

    async def _start_analytics(self, camera: Camera, supervisor: CameraSupervisor) -> None:
        if self.analytics is None or supervisor.taps is None:
            return
        try:
            await asyncio.to_thread(self.analytics.start, camera, supervisor.taps)
        except Exception:  # analytics must never keep a camera from recording
            log.exception("camera %s: analytics failed to start", camera.id)

    def snapshot(self, camera_id: int) -> bytes | None:
        """The latest frame of a camera's analytics (or live) stream as JPEG (blocking)."""
        return self.analytics.snapshot(camera_id) if self.analytics is not None else None

    def _start(
        self,
        camera: Camera,
        epoch: int,
        live: LiveFragmenter | None,
        sub_live: LiveFragmenter | None,
    ) -> CameraSupervisor:
        """Start a camera's supervisor; a changed camera keeps its live views."""
        assert self._context is not None
        password = (
            self._secrets.decrypt(camera.password_encrypted) if camera.password_encrypted else None
        )
        supervisor = CameraSupervisor(
            self._context,
            camera,
            epoch,
            self.privacy[camera.id],
            password=password,
            live=live,
            sub_live=sub_live,
        )
        supervisor.start()
        return supervisor

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
        supervisor = self.supervisors.get(message.camera_id)
        if supervisor is not None:
            self._background(asyncio.to_thread(self._write_health_for, [supervisor], None))
        self._background(self.bus.publish(CameraStatusChanged.subject(message.camera_id), message))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work without waiting for it, keeping a reference until it is done."""
        assert self._loop is not None
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _write_health(self) -> None:
        supervisors = list(self.supervisors.values())
        for supervisor in supervisors:  # a camera whose frames stopped is announced offline
            supervisor.ingest.check_frames()
        self._write_health_for(supervisors, None)

    def _write_health_for(
        self, supervisors: list[CameraSupervisor], override: CameraStatus | None
    ) -> None:
        camera_store.save_health(self.db, [s.health(override) for s in supervisors])

    async def _janitor(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._enforce_retention)
            except Exception:  # the janitor must survive a bad pass and try again
                log.exception("retention pass failed")
            await asyncio.sleep(self.settings.storage.janitor_interval_s)

    async def _trim_heap(self) -> None:
        # Frames of a size no longer sent leave free pages in the threads' heaps
        # (vigil.libc.release_free_heap): without this the recorder grows after each
        # resolution change or reconnect.
        while True:
            await asyncio.sleep(HEAP_TRIM_EVERY_S)
            await asyncio.to_thread(release_free_heap)

    def _enforce_retention(self) -> None:
        janitor_pass(self.db, self.root, self.settings.storage)
        # Rows deleted by others (the server's erasure or camera deletion, another node's
        # retention) while this node was down or its disk unreachable: follow them.
        sweep_unindexed(self.db, self.root)
        self._guard.refresh()

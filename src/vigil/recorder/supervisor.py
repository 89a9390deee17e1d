"""One camera's recording on this node: the unit that a lease covers.

A supervisor starts the camera's ingests (main stream recorded, sub-stream for live view),
its live views and analytics taps, under the fencing epoch of its lease, and reports the
camera's health. The recorder service (``recorder/service.py``) decides which cameras have
one; a supervisor never outlives its lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vigil.analytics.service import CameraTaps
from vigil.config import Settings
from vigil.domain.cameras import CameraStatus, with_credentials
from vigil.media.ingest import CameraIngest
from vigil.media.live import LiveFragmenter
from vigil.media.privacy_live import CameraPrivacy
from vigil.media.segments import SegmentIndex, SegmentRecorder, StorageGuard
from vigil.store.cameras import HealthReport
from vigil.store.models import Camera

log = logging.getLogger(__name__)

# Called from ingest threads with (camera id, status, error).
StatusCallback = Callable[[int, CameraStatus, str | None], None]


@dataclass(frozen=True, slots=True)
class RecordingContext:
    """What every supervisor of a node shares."""

    settings: Settings
    loop: asyncio.AbstractEventLoop
    root: Path  # the node's recordings folder
    index: SegmentIndex  # fenced by the node's leases
    guard: StorageGuard
    may_write: Callable[[int], bool]  # camera id -> does this node still hold its lease
    on_status: StatusCallback
    node: str


class CameraSupervisor:
    """Records one camera under one lease epoch; stopped when the lease goes."""

    def __init__(
        self,
        context: RecordingContext,
        camera: Camera,
        epoch: int,
        privacy: CameraPrivacy,
        *,
        password: str | None,
        live: LiveFragmenter | None = None,
        sub_live: LiveFragmenter | None = None,
    ) -> None:
        self.camera_id = camera.id
        self.name = camera.name
        self.updated_at: datetime = camera.updated_at
        # The lease's fencing epoch this supervisor records under (cluster/membership.py).
        self.epoch = epoch
        self._context = context
        # Set from the ingest thread when the camera cannot be written (disk full, error).
        self.storage_error: str | None = None
        # A changed camera keeps its live views: its viewers get the new stream without
        # reconnecting.
        self.live = live or LiveFragmenter(context.loop)
        # Analytics reads through these taps; its pipeline restarts without the ingests.
        self.taps = CameraTaps.for_camera(camera)
        settings = context.settings
        recorder = SegmentRecorder(
            camera.id,
            context.root,
            context.index,
            context.guard,
            segment_seconds=settings.storage.segment_seconds,
            on_status=self._storage_changed,
            may_write=lambda: context.may_write(self.camera_id),
        )
        main_view = self.live
        self.ingest = CameraIngest(
            camera.id,
            with_credentials(camera.main_url, camera.username, password),
            [recorder, main_view, self.taps.main, privacy.main],
            secrets=[password, camera.username],
            on_status=self._status_changed,
            # Masked viewers watch too: the RTSP client then reads in small batches.
            watched=lambda: main_view.viewer_count > 0 or privacy.main.viewer_count > 0,
            reconnect_min_s=settings.recorder.reconnect_min_s,
            reconnect_max_s=settings.recorder.reconnect_max_s,
        )
        # The sub-stream, when the camera has one: live view only (grids, phones).
        self.sub_live: LiveFragmenter | None = None
        self.sub_ingest: CameraIngest | None = None
        if camera.sub_url:
            sub_view = self.sub_live = sub_live or LiveFragmenter(context.loop)
            self.sub_ingest = CameraIngest(
                camera.id,
                with_credentials(camera.sub_url, camera.username, password),
                [sub_view, *([self.taps.sub] if self.taps.sub is not None else []), privacy.sub()],
                secrets=[password, camera.username],
                watched=lambda: sub_view.viewer_count > 0 or privacy.sub().viewer_count > 0,
                reconnect_min_s=settings.recorder.reconnect_min_s,
                reconnect_max_s=settings.recorder.reconnect_max_s,
            )
        elif sub_live is not None:
            sub_live.end_all()  # the sub-stream was removed from the camera

    def start(self) -> None:
        """Start reading the camera (its ingest threads)."""
        self.ingest.start()
        if self.sub_ingest is not None:
            self.sub_ingest.start()
        log.info("camera %s (%s): recording started", self.camera_id, self.name)

    def stop(self) -> None:
        """Stop reading the camera (blocking: closes the segment being written)."""
        if self.sub_ingest is not None:
            self.sub_ingest.stop()
        self.ingest.stop()

    def live_views(self) -> tuple[LiveFragmenter, LiveFragmenter | None]:
        """The main and sub-stream live views, to keep across a restart of the camera."""
        return self.live, self.sub_live

    def live_view(self, stream: str) -> LiveFragmenter:
        """The sub-stream's view when asked for and the camera has one, else the main's."""
        return (self.sub_live if stream == "sub" else None) or self.live

    def end_live(self) -> None:
        """Tell the viewers the camera is no longer recorded here (they reconnect to
        wherever it is recorded now)."""
        for view in self.live_views():
            if view is not None:
                view.end_all()

    def health(self, override: CameraStatus | None = None) -> HealthReport:
        """The camera's health as the ingest sees it (``override``: the status to report,
        e.g. disabled when stopping)."""
        stats = self.ingest.stats
        fps, bps = stats.rates() if stats.status == CameraStatus.ONLINE else (0.0, 0.0)
        status, error = override or stats.status, stats.last_error
        if self.storage_error and status == CameraStatus.ONLINE:
            status, error = CameraStatus.STORAGE_FULL, self.storage_error
        return HealthReport(
            camera_id=self.camera_id,
            node=self._context.node,
            status=status.value,
            fps=fps,
            bitrate_bps=bps,
            last_frame_at=stats.last_frame_at,
            last_error=error,
            video_codec=stats.video_codec,
            width=stats.width,
            height=stats.height,
        )

    def _status_changed(self, status: CameraStatus, error: str | None) -> None:
        self._context.on_status(self.camera_id, status, error)

    def _storage_changed(self, _status: CameraStatus, error: str | None) -> None:
        self.storage_error = error
        if error is None:
            self._context.on_status(self.camera_id, CameraStatus.ONLINE, None)
        else:
            self._context.on_status(self.camera_id, CameraStatus.STORAGE_FULL, error)

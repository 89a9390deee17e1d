"""Prometheus metrics of the installation, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.domain.cameras import CameraStatus, reported_status
from vigil.store import cameras as camera_store
from vigil.store import recordings
from vigil.store.db import Database
from vigil.store.types import utcnow


class CameraHealthCollector(Collector):
    """Per-camera ingest health and recording totals."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        """Yield one family per figure, labelled by camera."""
        labels = ["camera_id", "camera"]
        online = GaugeMetricFamily(
            "vigil_camera_online", "1 when the camera is online", labels=labels
        )
        fps = GaugeMetricFamily("vigil_camera_fps", "frames per second received", labels=labels)
        bitrate = GaugeMetricFamily(
            "vigil_camera_bitrate_bps", "bits per second received", labels=labels
        )
        age = GaugeMetricFamily(
            "vigil_camera_last_frame_age_seconds", "seconds since the last frame", labels=labels
        )
        health = camera_store.health_of(self._db)
        now = utcnow()
        for camera in camera_store.list_cameras(self._db):
            h = health.get(camera.id)
            values = [str(camera.id), camera.name]
            status = reported_status(h.status, h.updated_at, h.node, now)[0] if h else None
            is_online = camera.enabled and status == CameraStatus.ONLINE
            online.add_metric(values, 1.0 if is_online else 0.0)
            fps.add_metric(values, h.fps if h and is_online else 0.0)
            bitrate.add_metric(values, h.bitrate_bps if h and is_online else 0.0)
            if h and h.last_frame_at:
                age.add_metric(values, (now - h.last_frame_at).total_seconds())
        yield from (online, fps, bitrate, age)
        total = GaugeMetricFamily("vigil_recorded_bytes", "bytes of recorded segments")
        total.add_metric([], float(recordings.total_bytes(self._db)))
        yield total

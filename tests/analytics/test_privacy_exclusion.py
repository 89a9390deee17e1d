"""Analytics never looks inside privacy masks: masked areas are filled before the motion
gate and the detector, so nothing there moves, is detected, tracked or reported, and event
snapshots show the fill. Read from the camera's stored masks by the analytics service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.analytics.clips import scene_clip
from tests.analytics.test_pipeline import Published, context, feed, motion_config, run_pipeline
from tests.conftest import wait_until
from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.frames import AnalyticsTap
from vigil.analytics.pipeline import CameraPipeline
from vigil.analytics.runtime import WorkerPool
from vigil.analytics.service import AnalyticsService, CameraTaps
from vigil.bus.memory import InProcessBus
from vigil.config import Settings
from vigil.domain.events import AnalyticsFrame, Event, TrackEnded
from vigil.domain.privacy import PrivacyMask
from vigil.media.privacy import FILL_LEVEL
from vigil.store import analytics as analytics_store
from vigil.store import cameras as camera_store
from vigil.store.db import Database
from vigil.store.privacy import save_masks

# The generated scene's box moves along y 140..260 of 360 (0.39..0.72), x from 40 to 600.
BAND = PrivacyMask(name="street", points=[(0, 0.3), (1, 0.3), (1, 0.8), (0, 0.8)])
LEFT = PrivacyMask(name="left half", points=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)])


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scene_clip(tmp_path_factory.mktemp("clips") / "moving.mp4")


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(2)
    yield workers
    workers.stop()


def behaviours_config() -> CameraAnalyticsConfig:
    return motion_config(
        zones=[{"name": "right", "points": [[0.5, 0.3], [1, 0.3], [1, 1], [0.5, 1]]}],
        lines=[{"name": "middle", "start": [0.45, 1], "end": [0.45, 0]}],
        behaviours=[
            {"type": "intrusion", "zone": "right", "classes": ["object"]},
            {"type": "line_crossing", "line": "middle", "classes": ["object"]},
        ],
    )


def masked_run(
    clip: Path, tmp_path: Path, pool: WorkerPool, masks: list[PrivacyMask]
) -> tuple[CameraPipeline, Published, Path]:
    published = Published()
    ctx = context(tmp_path, pool, published)
    pipeline = CameraPipeline(1, behaviours_config(), ctx, privacy_masks=masks)
    tap = AnalyticsTap(keep_keyframe=False)
    tap.attach(pipeline.decoder)
    pipeline.start()
    try:
        feed(tap, clip, wait=lambda: pipeline.decoder.queued > 2 or pipeline.busy)
        wait_until(lambda: pipeline.decoder.queued == 0 and not pipeline.busy, 20, "drained")
    finally:
        pipeline.stop()
    return pipeline, published, ctx.data_dir


def test_motion_inside_a_mask_raises_nothing(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    # Without the mask the same clip raises both events (the control).
    unmasked = Published()
    run_pipeline(moving_clip, behaviours_config(), context(tmp_path / "a", pool, unmasked))
    assert {e.type for e in unmasked.of(Event)} == {"intrusion", "line_crossing"}

    pipeline, published, _ = masked_run(moving_clip, tmp_path / "b", pool, [BAND])
    assert pipeline.decoder.frames_sampled == 45
    # The first frame only (a new view is looked at); after it the gate saw no motion.
    assert pipeline.detector_calls == 1, "the motion gate saw motion"
    assert published.of(Event) == [] and published.of(TrackEnded) == []
    assert pipeline.report().motion_ratio == round(1 / 45, 3)
    # Snapshots for the editors are the camera's own picture (masked on the way out).
    assert pipeline.latest is not None


def test_only_what_is_outside_the_mask_is_detected_and_snapshots_show_the_fill(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    _, published, data_dir = masked_run(moving_clip, tmp_path, pool, [LEFT])
    boxes = [o.box for f in published.of(AnalyticsFrame) for o in f.objects if o.box]
    assert boxes, "the box is seen in the right half"
    assert min(x1 for x1, _, _, _ in boxes) >= 0.49, "nothing inside the mask is detected"
    events = {e.type: e for e in published.of(Event)}
    # The box is first seen right of the mask, so it never crosses the line at 0.45.
    assert set(events) == {"intrusion"}, events
    snapshot = events["intrusion"].snapshot
    assert snapshot is not None
    image = cv2.imread(str(data_dir / snapshot))
    assert image is not None
    left = image[:, : image.shape[1] // 2 - 4]
    assert np.abs(left.astype(int) - FILL_LEVEL).max() <= 8, "the snapshot shows the fill"
    for track in published.of(TrackEnded):
        assert all(x >= 0.49 for _, x, _ in track.path)


async def test_the_service_analyses_with_the_cameras_stored_masks(
    settings: Settings, db: Database
) -> None:
    camera = camera_store.create_camera(db, name="street", main_url="rtsp://127.0.0.1:9/x")
    analytics_store.save_config(db, camera.id, behaviours_config())
    assert save_masks(db, camera.id, [BAND])
    service = AnalyticsService(settings, db, InProcessBus(), asyncio.get_running_loop())
    try:
        service.start(camera, CameraTaps.for_camera(camera))
        pipeline = service._cameras[camera.id].pipeline
        assert pipeline is not None and pipeline._masker is not None
        assert pipeline._masker.masks == (BAND,)
    finally:
        service.close()

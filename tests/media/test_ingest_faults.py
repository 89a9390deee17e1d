"""Camera faults end in a recorded gap with its reason and a clean resume.

A simulated camera is read through `FaultProxy` by a real ingest into real segments and a
real index (SQLite), as the recorder does; each test injects one fault and then wants what
`bench/soak.py` wants: a gap with the fault's reason, then recording again (the first
segment after the gap indexed at the size the camera now sends and decoding at that size)
and the camera online. ``cam`` and ``small`` are read by Vigil's RTSP client, ``bframes``
(B-frames) by FFmpeg.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import av
import pytest

from tests.conftest import require_service, wait_until
from tests.media.test_ingest import encode_clip
from vigil.config import StorageSettings
from vigil.devices.simulator import Simulator, generate_test_clip, gstreamer_missing
from vigil.devices.simulator.faults import FaultProxy
from vigil.domain.cameras import CameraStatus
from vigil.media.ingest import CLOSED_BY_CAMERA, READ_TIMEOUT_S, CameraIngest
from vigil.media.segment_index import DbSegmentIndex
from vigil.media.segments import SegmentRecorder
from vigil.media.storage import DiskGuard
from vigil.store import cameras as camera_store
from vigil.store import recordings
from vigil.store.db import Database, migrate
from vigil.store.models import Gap, Segment
from vigil.store.types import utcnow

SIZES = {"cam": (640, 360), "small": (320, 240), "bframes": (320, 180)}
RECORDING_S = 30.0  # to the first segment, from the start or from the fault's end
# A stall shorter than two of FFmpeg's read timeouts: its demuxer reads on past the first.
STALL_S = READ_TIMEOUT_S + 3


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    if missing := gstreamer_missing():
        require_service("GStreamer RTSP server", missing)
    folder = tmp_path_factory.mktemp("fault-clips")
    clips = {
        "cam": generate_test_clip(folder / "cam.mp4", seconds=4),
        "small": generate_test_clip(folder / "small.mp4", seconds=4, width=320, height=240),
        "bframes": encode_clip(folder / "bframes.mp4", seconds=4, b_frames=2),
    }
    with Simulator(clips, port=0, cache_dir=folder / "sim-cache") as simulator:
        yield simulator


@pytest.fixture
def proxy(sim: Simulator) -> Iterator[FaultProxy]:
    with FaultProxy(sim.port) as p:
        yield p


@dataclass
class Recording:
    """One camera recorded as the recorder records it, and what its index says."""

    db: Database
    root: Path
    camera_id: int
    ingest: CameraIngest
    statuses: list[tuple[CameraStatus, str | None]]

    def _rows(self) -> tuple[list[Segment], list[Gap]]:
        now, far = utcnow(), timedelta(days=1)
        return (
            list(recordings.segments_between(self.db, self.camera_id, now - far, now + far)),
            list(recordings.gaps_between(self.db, self.camera_id, now - far, now + far)),
        )

    def recording(self) -> bool:
        """Whether a segment was recorded whole."""
        return any(seg.end is not None for seg in self._rows()[0])

    def resumed(self) -> tuple[Gap, Segment] | None:
        """The first gap and the whole segment after it, once recorded."""
        segments, gaps = self._rows()
        if not gaps or gaps[0].end is None:
            return None
        after = next((s for s in segments if s.start == gaps[0].end and s.end), None)
        return (gaps[0], after) if after else None

    def decoded_sizes(self, segment: Segment) -> set[tuple[int, int]]:
        """The sizes of the frames FFmpeg decodes from a segment's file."""
        with av.open(str(self.root / segment.path)) as container:
            return {(f.width, f.height) for f in container.decode(video=0)}


@pytest.fixture
def record(tmp_path: Path) -> Iterator[Callable[[str], Recording]]:
    """Starts recording a URL as a camera; stopped at the test's end."""
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    migrate(url)
    db = Database(url)
    root = tmp_path / "recordings"
    root.mkdir()
    started: list[CameraIngest] = []

    def start(camera_url: str) -> Recording:
        camera = camera_store.create_camera(db, name=f"cam-{len(started)}", main_url=camera_url)
        sink = SegmentRecorder(
            camera.id,
            root,
            DbSegmentIndex(db, "test-node"),
            DiskGuard(db, root, StorageSettings(min_free_bytes=0)),
            segment_seconds=1.0,
        )
        statuses: list[tuple[CameraStatus, str | None]] = []
        ingest = CameraIngest(
            camera.id,
            camera_url,
            [sink],
            on_status=lambda status, error: statuses.append((status, error)),
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
        )
        started.append(ingest)
        ingest.start()
        return Recording(db, root, camera.id, ingest, statuses)

    yield start
    for ingest in started:
        ingest.stop()
    db.dispose()


def resumes_after(rec: Recording, inject: Callable[[], object], mount: str) -> Gap:
    """Inject a fault once the camera records; returns its gap, having checked the resume:
    the first segment after it is at the size ``mount`` sends, and the camera online."""
    wait_until(rec.recording, RECORDING_S, "a first segment")
    inject()
    wait_until(lambda: rec.resumed() is not None, RECORDING_S + STALL_S, "a gap, then a segment")
    resumed = rec.resumed()
    assert resumed is not None
    gap, segment = resumed
    assert (segment.width, segment.height) == SIZES[mount], "indexed at the camera's new size"
    assert rec.decoded_sizes(segment) == {SIZES[mount]}, "and its frames are that size"
    assert rec.ingest.stats.status == CameraStatus.ONLINE
    return gap


def test_garbage_ends_the_session_and_recording_resumes(
    record: Callable[[str], Recording], proxy: FaultProxy
) -> None:
    rec = record(proxy.url_for("cam"))
    gap = resumes_after(rec, lambda: proxy.garbage("cam", 4096), "cam")
    assert re.fullmatch(r"stream broke off: garbage in the stream: .+", gap.reason), gap.reason


def test_a_resolution_change_in_band_is_recorded_at_the_new_size(
    record: Callable[[str], Recording], proxy: FaultProxy
) -> None:
    rec = record(proxy.url_for("cam"))
    gap = resumes_after(rec, lambda: proxy.splice("cam", "small"), "small")
    assert gap.reason == "the camera changed its stream (new SPS: 320x240)"
    assert CameraStatus.OFFLINE not in [s for s, _ in rec.statuses], "online throughout"


def test_a_resolution_change_of_a_camera_read_by_ffmpeg(
    record: Callable[[str], Recording], proxy: FaultProxy
) -> None:
    rec = record(proxy.url_for("bframes"))
    gap = resumes_after(rec, lambda: proxy.splice("bframes", "cam"), "cam")
    assert gap.reason == "the camera changed its stream (new SPS: 640x360)"
    assert CameraStatus.OFFLINE not in [s for s, _ in rec.statuses], "online throughout"


def test_a_stall_of_a_camera_read_by_ffmpeg_is_a_gap(
    record: Callable[[str], Recording], proxy: FaultProxy
) -> None:
    rec = record(proxy.url_for("bframes"))
    gap = resumes_after(rec, lambda: proxy.stall("bframes", STALL_S), "bframes")
    assert re.fullmatch(r"stream stalled for \d+ s", gap.reason), gap.reason
    assert gap.end is not None
    # Not recorded as time with video: the gap lasts until the camera sends again.
    assert (gap.end - gap.start).total_seconds() > READ_TIMEOUT_S


def test_a_reset_of_a_camera_read_by_ffmpeg_says_the_camera_closed_it(
    record: Callable[[str], Recording], proxy: FaultProxy
) -> None:
    rec = record(proxy.url_for("bframes"))
    gap = resumes_after(rec, lambda: proxy.cut("bframes", down_s=1.0), "bframes")
    assert gap.reason == CLOSED_BY_CAMERA

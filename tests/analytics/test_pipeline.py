"""The live analytics pipeline on generated clips: sampling, the motion gate, detection,
tracking, behaviour events with snapshots, dropping instead of blocking, a missing model."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.analytics.clips import scene_clip
from tests.conftest import wait_until
from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.detections import Detections, empty_detections, make_detections
from vigil.analytics.detectors.motion import OBJECT_CLASS_ID
from vigil.analytics.frames import AnalyticsTap, FrameDecoder, SampledFrame
from vigil.analytics.motion_gate import MotionGate
from vigil.analytics.pipeline import (
    CameraPipeline,
    DetectorFactory,
    PipelineContext,
    followed_areas,
    thin,
)
from vigil.analytics.runtime import WorkerPool
from vigil.analytics.tracking import Track, TrackPoint
from vigil.domain.events import AnalyticsFrame, AnalyticsStatus, Event, TrackEnded
from vigil.domain.messages import BusMessage
from vigil.media.packets import StreamInfo


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scene_clip(tmp_path_factory.mktemp("clips") / "moving.mp4")


@pytest.fixture(scope="module")
def static_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scene_clip(tmp_path_factory.mktemp("clips") / "static.mp4", seconds=6, moving_until=None)


class Published:
    """What a pipeline published, collected from its threads."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, BusMessage]] = []
        self._lock = threading.Lock()

    def __call__(self, subject: str, message: BusMessage) -> None:
        with self._lock:
            self.messages.append((subject, message))

    def of(self, kind: type[Any]) -> list[Any]:
        with self._lock:
            return [m for _, m in self.messages if isinstance(m, kind)]


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(2)
    yield workers
    workers.stop()


def feed(tap: AnalyticsTap, clip: Path, *, wait: Callable[[], bool] = lambda: False) -> int:
    """Play a clip into a tap as an ingest would (wall time from the stream's timestamps);
    ``wait`` holds each packet back while it is true. Returns the video packets written."""
    written = 0
    with av.open(str(clip)) as container:
        video = container.streams.video[0]
        base = datetime.now(UTC)
        tap.open(StreamInfo(1, video, None, base))
        for packet in container.demux(video):
            if packet.dts is None or packet.pts is None:
                continue
            while wait():
                time.sleep(0.002)
            tap.write(packet, base + timedelta(seconds=float(packet.pts * packet.time_base)))
            written += 1
        tap.close(None)
    return written


def run_pipeline(
    clip: Path,
    config: CameraAnalyticsConfig,
    ctx: PipelineContext,
    detector_factory: DetectorFactory | None = None,
) -> CameraPipeline:
    """Run a clip through a pipeline, paced so that no analysis frame is dropped."""
    pipeline = CameraPipeline(1, config, ctx, detector_factory=detector_factory)
    tap = AnalyticsTap(keep_keyframe=False)
    tap.attach(pipeline.decoder)
    pipeline.start()
    try:
        feed(tap, clip, wait=lambda: pipeline.decoder.queued > 2 or pipeline.busy)
        wait_until(lambda: pipeline.decoder.queued == 0 and not pipeline.busy, 20, "drained")
    finally:
        pipeline.stop()
    return pipeline


def context(tmp_path: Path, pool: WorkerPool, published: Published) -> PipelineContext:
    return PipelineContext(
        data_dir=tmp_path / "data", models_dir=tmp_path / "models", node="rec-1",
        pool=pool, publish=published,
    )  # fmt: skip


def motion_config(**extra: Any) -> CameraAnalyticsConfig:
    return CameraAnalyticsConfig.model_validate(
        {
            "enabled": True,
            "fps": 5,
            "detector": {"type": "motion"},
            "tracker": {"type": "bytetrack", "lost_track_s": 1.0},
            **extra,
        }
    )


def test_frames_are_sampled_at_the_configured_rate(moving_clip: Path) -> None:
    sampled: list[SampledFrame] = []
    decoder = FrameDecoder(1, 5.0, sampled.append, max_queue=1000)
    tap = AnalyticsTap(keep_keyframe=False)
    tap.attach(decoder)
    decoder.start()
    try:
        packets = feed(tap, moving_clip)
        wait_until(lambda: decoder.frames_decoded == packets, 20, "all frames decoded")
    finally:
        decoder.stop()
    assert packets == 225  # 9 s at 25 fps
    times = [s.t for s in sampled]
    assert len(times) == 45, times  # 9 s at 5 fps
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(times)}
    assert gaps == {0.2}
    assert sampled[0].frame.width == 640 and sampled[0].wall.tzinfo is not None


def test_a_static_scene_costs_no_detector_calls(
    static_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    published = Published()
    pipeline = run_pipeline(static_clip, motion_config(), context(tmp_path, pool, published))
    assert pipeline.decoder.frames_sampled == 30
    # The first frame is looked at (nothing is known of a new view), then nothing moves.
    assert pipeline.detector_calls == 1
    assert pipeline.latest is not None and pipeline.snapshot_jpeg() is not None
    status = pipeline.report()
    assert status.state == "running" and status.motion_ratio == round(1 / 30, 3)


def test_a_moving_object_is_detected_tracked_and_raises_events_with_snapshots(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    published = Published()
    config = motion_config(
        zones=[{"name": "right", "points": [[0.5, 0.3], [1, 0.3], [1, 1], [0.5, 1]]}],
        lines=[{"name": "middle", "start": [0.45, 1], "end": [0.45, 0]}],
        # The motion detector's blobs are of class "object".
        behaviours=[
            {"type": "intrusion", "zone": "right", "classes": ["object"]},
            {"type": "line_crossing", "line": "middle", "classes": ["object"]},
        ],
    )
    ctx = context(tmp_path, pool, published)
    pipeline = run_pipeline(moving_clip, config, ctx)

    # The box moves for 5 s of 9: the gate lets those frames through, not the still ones.
    assert 10 <= pipeline.detector_calls < 40
    frames = published.of(AnalyticsFrame)
    tracked = [o for f in frames for o in f.objects if o.track_id is not None]
    assert tracked, "the box got a track"
    events = {e.type: e for e in published.of(Event)}
    assert set(events) == {"intrusion", "line_crossing"}, events
    intrusion = events["intrusion"]
    assert intrusion.zone == "right" and intrusion.camera_id == 1 and intrusion.source == "rec-1"
    assert intrusion.object is not None and intrusion.object.box is not None
    x1, y1, x2, y2 = intrusion.object.box
    assert (x1 + x2) / 2 >= 0.45 and 0.3 < y1 < y2 <= 0.8  # the box (y 140..260 of 360)
    assert intrusion.track and all(0 <= x <= 1 and 0 <= y <= 1 for _, x, y in intrusion.track)
    assert intrusion.snapshot is not None
    assert intrusion.snapshot.startswith("snapshots/1/")
    snapshot = ctx.data_dir / intrusion.snapshot
    assert snapshot.is_file() and snapshot.read_bytes()[:2] == b"\xff\xd8"
    assert events["line_crossing"].attributes["direction"] == "in"
    # The box vanished at 5 s: its track ended, with a path, its zones and a thumbnail.
    ended = published.of(TrackEnded)
    assert ended, "the track ended after the box vanished"
    track = ended[0]
    assert "right" in track.zones and 2 <= len(track.path) <= 200
    assert track.thumbnail is not None and (ctx.data_dir / track.thumbnail).is_file()
    assert track.last_at > track.first_at


class BrightBoxes:
    """A detector that looks at each frame on its own (like the ONNX models): the box around
    the bright pixels of the generated scene, class "object"."""

    key = "bright"
    stateless = True

    def detect(self, frame: np.ndarray[Any, Any]) -> Detections:
        ys, xs = np.nonzero(frame.min(axis=2) > 200)
        if len(xs) == 0:
            return empty_detections()
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return make_detections(np.array(box, dtype=np.float32), [0.9], [OBJECT_CLASS_ID])


def test_a_followed_object_is_detected_less_often_and_still_raises_its_events(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    def run(tracked_fps: float) -> tuple[int, set[str], set[int], list[AnalyticsFrame]]:
        published = Published()
        config = motion_config(
            motion={"tracked_fps": tracked_fps},
            zones=[{"name": "right", "points": [[0.5, 0.3], [1, 0.3], [1, 1], [0.5, 1]]}],
            lines=[{"name": "middle", "start": [0.45, 1], "end": [0.45, 0]}],
            behaviours=[
                {"type": "intrusion", "zone": "right", "classes": ["object"]},
                {"type": "line_crossing", "line": "middle", "classes": ["object"]},
            ],
        )
        ctx = context(tmp_path / str(tracked_fps), pool, published)
        pipeline = run_pipeline(moving_clip, config, ctx, lambda _: BrightBoxes())
        frames = published.of(AnalyticsFrame)
        ids = {o.track_id for f in frames for o in f.objects if o.track_id is not None}
        return pipeline.detector_calls, {e.type for e in published.of(Event)}, ids, frames

    full_calls, full_events, _, _ = run(5.0)  # at the analysis rate: every moving frame
    calls, events, ids, frames = run(1.5)
    # Once its track has settled, the box is detected 1.5 times a second instead of 5; the
    # tracker carries it in between: one track, and the same events.
    assert calls <= full_calls - 5, (calls, full_calls)
    assert events == full_events == {"intrusion", "line_crossing"}
    assert len(ids) == 1
    # The live view's box moves on between detections too, at the box's speed, instead of
    # standing where it was last detected.
    shown = [(f.at, f.objects[0].box) for f in frames if f.objects and f.objects[0].box]
    assert len(shown) >= calls + 5, (len(shown), calls)
    speeds = [
        ((b[0] + b[2]) - (a[0] + a[2])) / 2 * 640 / (tb - ta).total_seconds()
        for (ta, a), (tb, b) in itertools.pairwise(shown)
    ]
    assert all(60 <= v <= 140 for v in speeds[2:]), speeds  # BOX_SPEED_PX_S is 100


class FlickeringBoxes(BrightBoxes):
    """BrightBoxes, plus a confident box somewhere new along the still top edge on every
    call (a false detection that never becomes a track): detection never finds "nothing
    new", although nothing moves there."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(7)

    def detect(self, frame: np.ndarray[Any, Any]) -> Detections:
        x = float(self.rng.integers(0, 600))
        ghost = make_detections(np.array([[x, 5, x + 30, 40]], np.float32), [0.9], [0])
        return Detections.merge([super().detect(frame), ghost])


def test_motion_only_around_followed_objects_lowers_the_detection_rate(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    def run(tracked_fps: float, margin: float = 0.5) -> tuple[int, set[str]]:
        published = Published()
        config = motion_config(
            motion={"tracked_fps": tracked_fps, "follow_margin": margin},
            zones=[{"name": "right", "points": [[0.5, 0.3], [1, 0.3], [1, 1], [0.5, 1]]}],
            behaviours=[{"type": "intrusion", "zone": "right", "classes": ["object"]}],
        )
        ctx = context(tmp_path / f"{tracked_fps}-{margin}", pool, published)
        pipeline = run_pipeline(moving_clip, config, ctx, lambda _: FlickeringBoxes())
        return pipeline.detector_calls, {e.type for e in published.of(Event)}

    full_calls, full_events = run(5.0)
    calls, events = run(1.5)
    off_calls, _ = run(1.5, margin=0.0)  # the default: every moving frame here
    assert off_calls >= full_calls - 2, (off_calls, full_calls)
    # Detection never finds "nothing new" here, but the only motion is the followed box's:
    # the tracker carries it between detections at the lower rate.
    assert calls <= full_calls - 5, (calls, full_calls)
    assert events == full_events == {"intrusion"}


class Blind:
    """A detector that looks at each frame on its own and never finds anything (motion of
    no configured class: trees, rain, a screen)."""

    key = "blind"
    stateless = True

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame: np.ndarray[Any, Any]) -> Detections:
        self.calls += 1
        return empty_detections()


def test_motion_with_nothing_to_find_is_looked_at_less_often(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    def calls(tracked_fps: float) -> int:
        ctx = context(tmp_path / str(tracked_fps), pool, Published())
        config = motion_config(motion={"tracked_fps": tracked_fps})
        return run_pipeline(moving_clip, config, ctx, lambda _: Blind()).detector_calls

    full, lowered = calls(5.0), calls(1.5)
    # 5 s of motion: about 25 moving frames; after 3 empty looks, 1.5 a second.
    assert full >= 20
    assert lowered <= 3 + 1.5 * 5 + 2, (lowered, full)


def test_with_the_gate_off_every_sampled_frame_is_detected(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    def calls(**motion: Any) -> int:
        ctx = context(tmp_path / str(motion), pool, Published())
        config = motion_config(motion={"tracked_fps": 1.5, **motion})
        return run_pipeline(moving_clip, config, ctx, lambda _: Blind()).detector_calls

    gated, off = calls(), calls(enabled=False)
    # The lower rate is the gate's saving: switching the gate off switches it off too.
    assert off >= 25 and gated <= 3 + 1.5 * 5 + 2, (off, gated)


def test_followed_areas_grow_each_box_and_stay_in_the_frame() -> None:
    track = Track(track_id=1, first_seen=0.0)
    track.points.append(TrackPoint(t=0.0, xyxy=(100.0, 100.0, 140.0, 180.0), confidence=0.9))
    edge = Track(track_id=2, first_seen=0.0)
    edge.points.append(TrackPoint(t=0.0, xyxy=(600.0, 300.0, 640.0, 360.0), confidence=0.9))
    areas = followed_areas([track, edge, Track(track_id=3, first_seen=0.0)], (640, 360), 0.5)
    # Half the box's longer side on each side: 40 x 80 -> 120 x 160; 40 x 60 -> 100 x 120,
    # clipped at the frame's edge.
    np.testing.assert_allclose(
        areas, [[60 / 640, 60 / 360, 180 / 640, 220 / 360], [570 / 640, 270 / 360, 1, 1]]
    )
    assert followed_areas([], (640, 360), 0.5).shape == (0, 4)


def test_the_gate_tells_motion_beyond_given_areas() -> None:
    gate = MotionGate(min_changed=0.01)
    still = np.zeros((90, 160), np.uint8)
    moved = still.copy()
    moved[30:60, 60:100] = 200
    gate.update(still)
    assert not gate.moving_outside(np.empty((0, 4), np.float32))  # no motion yet
    gate.update(moved)
    assert gate.moving
    around = np.array([[0.3, 0.2, 0.7, 0.8]], np.float32)
    assert not gate.moving_outside(around)
    assert gate.moving_outside(np.array([[0.0, 0.0, 0.3, 0.3]], np.float32))
    assert gate.moving_outside(np.empty((0, 4), np.float32))
    # Half of the moving square outside: still more than min_changed of the frame.
    assert gate.moving_outside(np.array([[0.3, 0.2, 0.5, 0.8]], np.float32))


def test_a_full_queue_drops_packets_up_to_a_keyframe_and_never_blocks(moving_clip: Path) -> None:
    decoded: list[SampledFrame] = []
    decoder = FrameDecoder(1, 25.0, decoded.append, max_queue=30)  # not started yet: no reader
    tap = AnalyticsTap(keep_keyframe=True)
    tap.attach(decoder)
    with av.open(str(moving_clip)) as container:
        video = container.streams.video[0]
        base = datetime.now(UTC)
        tap.open(StreamInfo(1, video, None, base))
        packets = [p for p in container.demux(video) if p.pts is not None][:60]
        assert [i for i, p in enumerate(packets) if p.is_keyframe] == [0, 25, 50]
        done = threading.Event()

        def write(chosen: list[av.Packet]) -> None:
            for p in chosen:
                assert p.pts is not None
                tap.write(p, base + timedelta(seconds=float(p.pts * p.time_base)))
            done.set()

        threading.Thread(target=write, args=(packets[:40],), daemon=True).start()
        assert done.wait(10), "write() blocked on a full queue"
        assert decoder.queued == 30  # the opening, then 29 packets
        assert decoder.packets_dropped == 11
        decoder.start()
        try:
            wait_until(lambda: decoder.queued == 0, 10, "the queue drained")
            write(packets[40:50])  # room again, but no keyframe: still dropped
            assert decoder.packets_dropped == 21
            write(packets[50:])  # decoding resumes at the keyframe
            wait_until(lambda: decoder.frames_decoded == 29 + 10, 10, "decoded")
        finally:
            decoder.stop()
    assert tap.snapshot() is not None  # the latest keyframe, kept for snapshots


def test_a_slow_detector_drops_analysis_frames_not_the_camera(pool: WorkerPool) -> None:
    started, release = threading.Event(), threading.Event()
    handled: list[int] = []

    def slow(item: int) -> None:
        started.set()
        release.wait(10)
        handled.append(item)

    slot = pool.slot(slow, "camera 1", size=2)
    slot.offer(0)
    assert started.wait(10)
    dropped = [slot.offer(i) for i in range(1, 6)]
    release.set()
    wait_until(lambda: handled and handled[-1] == 5, 10, "the latest frame handled")
    slot.close()
    # The first went to the worker at once; of the others, the two latest waited.
    assert handled == [0, 4, 5]
    assert dropped == [False, False, True, True, True]


def test_a_missing_model_makes_analytics_unavailable_and_says_which_file(
    moving_clip: Path, tmp_path: Path, pool: WorkerPool
) -> None:
    published = Published()
    config = motion_config(detector={"type": "nanodet", "model": "absent.onnx"})
    ctx = context(tmp_path, pool, published)
    pipeline = run_pipeline(moving_clip, config, ctx)
    statuses = published.of(AnalyticsStatus)
    assert statuses and statuses[-1].state == "unavailable"
    assert str(ctx.models_dir / "absent.onnx") in (statuses[-1].error or "")
    assert "vigil models install" in (statuses[-1].error or "")
    assert pipeline.detector_calls == 0 and not published.of(Event)
    # Frames still arrive: the snapshot works for drawing zones meanwhile.
    assert pipeline.snapshot_jpeg() is not None


def test_paths_are_thinned_to_200_points() -> None:
    path = [(i / 5, 0.5, 0.5) for i in range(1000)]
    thinned = thin(path)
    assert len(thinned) == 200 and thinned[0] == path[0] and thinned[-1] == path[-1]

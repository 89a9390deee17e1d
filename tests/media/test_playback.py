"""Playback and export over real fragmented-MP4 segments cut from the generated clips."""

from __future__ import annotations

import itertools
import json
import math
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from av.stream import Stream

from vigil.media import playback
from vigil.media.playback import (
    FRAGMENTED_MOVFLAGS,
    NoFootageError,
    SegmentFile,
    export_mp4,
    plan_playback,
    stream_fmp4,
    stream_plan,
    wall_at,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
GAP_S = 60
FPS = 25
GOP_S = 1.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def frames_in(seconds: float) -> int:
    """Frames starting within ``seconds`` from a frame time."""
    return math.ceil(seconds * FPS - 1e-6)


def cut_segments(clip: Path, out_dir: Path, seconds: float = 2.0) -> list[Path]:
    """Cut ``clip`` at keyframes into ~``seconds`` fragmented MP4 files, as the recorder
    writes them: each starts at a keyframe, timestamps rebased to start at 0."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with av.open(str(clip)) as src:
        video = src.streams.video[0]
        audio = src.streams.audio[0] if src.streams.audio else None
        packets = [p for p in src.demux() if p.size and p.pts is not None and p.dts is not None]
        starts: list[Fraction] = []
        for p in packets:
            assert p.pts is not None
            t = p.pts * p.time_base
            is_key = p.stream_index == video.index and p.is_keyframe
            if is_key and (not starts or t - starts[-1] >= seconds):
                starts.append(t)
        for i, begin in enumerate(starts):
            stop = starts[i + 1] if i + 1 < len(starts) else math.inf
            path = out_dir / f"seg{i}.mp4"
            options = {"movflags": FRAGMENTED_MOVFLAGS}
            with av.open(str(path), "w", format="mp4", options=options) as out:
                streams: dict[int, Stream] = {video.index: out.add_stream_from_template(video)}
                if audio is not None:
                    streams[audio.index] = out.add_stream_from_template(audio)
                for p in packets:
                    assert p.pts is not None and p.dts is not None
                    if not begin <= p.pts * p.time_base < stop:
                        continue
                    shift = round(begin / p.time_base)
                    p.pts, p.dts = p.pts - shift, p.dts - shift
                    p.stream = streams[p.stream_index]
                    out.mux(p)
            paths.append(path)
    return paths


def with_walls(paths: list[Path]) -> list[SegmentFile]:
    """2 s segments from T0, with a GAP_S gap before the last one."""
    segments = []
    for i, path in enumerate(paths):
        begin = 2.0 * i + (GAP_S if i == len(paths) - 1 else 0)
        segments.append(SegmentFile(path, at(begin), at(begin + 2.0)))
    return segments


def probe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_frames", "-of", "json",
            "-show_entries", "format=duration:stream=codec_type,codec_name,nb_read_frames",
            "-show_chapters", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stderr == "", result.stderr
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def streams_by_type(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["codec_type"]: s for s in info["streams"] if s["codec_type"] in ("video", "audio")}


def mdat_boxes(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of each top-level mdat box."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"mdat":
            boxes.append((offset, size))
        offset += size
    return boxes


@pytest.fixture(scope="module")
def av_segments(h264_aac_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[SegmentFile]:
    return with_walls(cut_segments(h264_aac_clip, tmp_path_factory.mktemp("av-segments")))


@pytest.fixture(scope="module")
def video_segments(h264_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[SegmentFile]:
    return with_walls(cut_segments(h264_clip, tmp_path_factory.mktemp("v-segments")))


def test_segments_are_as_the_recorder_writes_them(av_segments: list[SegmentFile]) -> None:
    assert len(av_segments) == 3
    for seg in av_segments:
        with av.open(str(seg.path)) as c:
            first = next(c.demux(c.streams.video[0]))
            assert first.is_keyframe and first.pts == 0
            assert len(c.streams.audio) == 1


def test_export_all_has_both_streams_and_the_whole_duration(
    av_segments: list[SegmentFile], tmp_path: Path
) -> None:
    seen: list[float] = []
    result = export_mp4(av_segments, at(-5), at(100), tmp_path / "all.mp4", progress=seen.append)

    info = probe(result.path)
    streams = streams_by_type(info)
    assert streams["video"]["codec_name"] == "h264"
    assert streams["audio"]["codec_name"] == "aac"
    assert int(streams["video"]["nb_read_frames"]) == 6 * FPS
    assert float(info["format"]["duration"]) == pytest.approx(6.0, abs=GOP_S)
    assert result.duration_s == pytest.approx(6.0, abs=GOP_S)
    assert result.bytes == result.path.stat().st_size
    assert (result.start, result.end) == (at(0), at(GAP_S + 6))
    assert result.format_change_at is None
    # the gap is collapsed: two pieces, the second one starting where the first ends
    assert [p.wall for p in result.pieces] == [at(0), at(GAP_S + 4)]
    assert result.pieces[1].offset_s == pytest.approx(4.0, abs=0.001)
    assert wall_at(result.pieces, 5.0) == at(GAP_S + 5)
    # and the mapping travels with the file: creation time and one chapter per piece
    assert [c["tags"]["title"] for c in info["chapters"]] == [
        "2024-05-01T10:00:00.000000Z",
        "2024-05-01T10:01:04.000000Z",
    ]
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert not list(tmp_path.glob(".*partial"))


def test_export_sub_range_starts_at_a_keyframe_and_ends_near_end(
    av_segments: list[SegmentFile], tmp_path: Path
) -> None:
    start, end = at(1.5), at(3.3)
    result = export_mp4(av_segments, start, end, tmp_path / "sub.mp4")

    assert start - timedelta(seconds=GOP_S) <= result.start <= start
    assert result.start == at(1.0)
    assert end <= result.end <= end + timedelta(seconds=1 / FPS)
    assert result.duration_s == pytest.approx(2.3, abs=1 / FPS)
    assert len(result.pieces) == 1
    info = probe(result.path)
    assert int(streams_by_type(info)["video"]["nb_read_frames"]) == frames_in(2.3)
    with av.open(str(result.path)) as c:
        assert next(c.demux(c.streams.video[0])).is_keyframe
    with av.open(str(result.path)) as c:
        frame = next(c.decode(video=0))
        assert frame.key_frame and frame.pts == 0


def test_export_across_a_gap(av_segments: list[SegmentFile], tmp_path: Path) -> None:
    result = export_mp4(av_segments, at(3.0), at(GAP_S + 5.0), tmp_path / "gap.mp4")

    assert [p.wall for p in result.pieces] == [at(3.0), at(GAP_S + 4.0)]
    assert result.pieces[1].offset_s == pytest.approx(1.0, abs=0.001)
    assert result.duration_s == pytest.approx(2.0, abs=1 / FPS)
    info = probe(result.path)
    assert int(streams_by_type(info)["video"]["nb_read_frames"]) == 2 * FPS


def test_range_without_footage_raises(av_segments: list[SegmentFile], tmp_path: Path) -> None:
    with pytest.raises(NoFootageError):
        export_mp4(av_segments, at(10), at(20), tmp_path / "none.mp4")  # inside the gap
    with pytest.raises(NoFootageError):
        export_mp4(av_segments, at(-20), at(-10), tmp_path / "none.mp4")
    with pytest.raises(NoFootageError):
        stream_fmp4(av_segments, at(GAP_S + 100))
    with pytest.raises(NoFootageError):
        plan_playback([], at(0))
    assert not list(tmp_path.iterdir())


def test_truncated_open_segment_exports_up_to_its_last_complete_frame(
    av_segments: list[SegmentFile], tmp_path: Path
) -> None:
    last = av_segments[-1]
    mdat_offset, mdat_size = mdat_boxes(last.path)[-1]
    cut = mdat_offset + mdat_size // 3  # inside the video samples of the last fragment
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(last.path.read_bytes()[:cut])
    with av.open(str(last.path)) as c:  # frames of the intact file that lie wholly before the cut
        complete = sum(
            1
            for p in c.demux(c.streams.video[0])
            if p.size and p.pos is not None and p.pos + p.size <= cut
        )
    assert FPS <= complete < 2 * FPS
    segments = [*av_segments[:-1], SegmentFile(truncated, last.start, None)]  # still open

    result = export_mp4(segments, at(0), at(GAP_S + 100), tmp_path / "out.mp4")

    info = probe(result.path)
    assert int(streams_by_type(info)["video"]["nb_read_frames"]) == 4 * FPS + complete
    assert result.end == last.start + timedelta(seconds=complete / FPS)

    data = b"".join(stream_fmp4(segments, at(0)))
    with av.open(_write(tmp_path / "stream.mp4", data)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4 * FPS + complete


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _decoded_pts(path: str) -> tuple[list[float], int]:
    """Video frame times (s) and the number of audio frames decoded from ``path``."""
    with av.open(path) as c:
        video = [float(f.time) for f in c.decode(video=0) if f.time is not None]
    with av.open(path) as c:
        audio = sum(1 for _ in c.decode(audio=0)) if c.streams.audio else 0
    return video, audio


def test_stream_decodes_with_increasing_pts(av_segments: list[SegmentFile], tmp_path: Path) -> None:
    chunks = list(stream_fmp4(av_segments, at(0), chunk_size=16 * 1024))

    assert chunks[0][4:8] == b"ftyp"
    assert all(0 < len(c) <= 16 * 1024 for c in chunks)
    times, audio_frames = _decoded_pts(_write(tmp_path / "s.mp4", b"".join(chunks)))
    assert len(times) == 6 * FPS
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[0] == pytest.approx(0.0, abs=0.001)
    assert times[-1] == pytest.approx(6.0 - 1 / FPS, abs=0.001)  # the gap is collapsed
    assert audio_frames > 0


def test_stream_from_the_middle_with_an_end(av_segments: list[SegmentFile], tmp_path: Path) -> None:
    plan = plan_playback(av_segments, at(2.5), end=at(GAP_S + 4.5))
    assert plan.first_wall == at(2.0)
    assert [p.wall for p in plan.pieces] == [at(2.0), at(GAP_S + 4.0)]
    assert plan.pieces[1].offset_s == pytest.approx(2.0)

    times, _ = _decoded_pts(_write(tmp_path / "s.mp4", b"".join(stream_plan(plan))))
    assert len(times) == frames_in(2.0) + frames_in(0.5)
    assert all(b > a for a, b in itertools.pairwise(times))


def test_stream_is_generated_as_it_is_consumed(
    av_segments: list[SegmentFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Path] = []
    real_open = playback._open

    def spy(path: Path) -> Any:
        opened.append(path)
        return real_open(path)

    monkeypatch.setattr(playback, "_open", spy)
    chunks = stream_fmp4(av_segments, at(0))
    assert opened == [av_segments[0].path]  # planning reads the first segment only
    first = next(chunks)
    assert first[4:8] == b"ftyp"
    assert opened == [av_segments[0].path] * 2  # the header is out before the rest is read
    rest = b"".join(chunks)
    assert len(rest) > 10 * len(first)
    assert opened[2:] == [s.path for s in av_segments[1:]]


def test_video_only_segments(video_segments: list[SegmentFile], tmp_path: Path) -> None:
    result = export_mp4(video_segments, at(0), at(100), tmp_path / "v.mp4")
    info = probe(result.path)
    assert set(streams_by_type(info)) == {"video"}
    assert int(info["streams"][0]["nb_read_frames"]) == 6 * FPS

    times, audio_frames = _decoded_pts(
        _write(tmp_path / "s.mp4", b"".join(stream_fmp4(video_segments, at(1.2))))
    )
    assert len(times) == 5 * FPS and audio_frames == 0


@pytest.mark.parametrize(
    ("requested", "first_wall"),
    [
        (-10.0, 0.0),  # before the recording: its first keyframe
        (0.0, 0.0),
        (1.0, 1.0),  # on a keyframe
        (2.5, 2.0),
        (3.99, 3.0),
        (4.0 + GAP_S / 2, 4.0 + GAP_S),  # in the gap: the first keyframe after it
        (GAP_S + 5.5, GAP_S + 5.0),
    ],
)
def test_plan_starts_at_the_keyframe_at_or_before(
    av_segments: list[SegmentFile], requested: float, first_wall: float
) -> None:
    plan = plan_playback(av_segments, at(requested))
    assert plan.first_wall == at(first_wall)
    assert plan.segments[0].start <= plan.first_wall


def test_missing_segment_is_skipped(av_segments: list[SegmentFile], tmp_path: Path) -> None:
    gone = SegmentFile(tmp_path / "gone.mp4", av_segments[1].start, av_segments[1].end)
    segments = [av_segments[0], gone, av_segments[2]]
    result = export_mp4(segments, at(0), at(100), tmp_path / "out.mp4")
    assert int(streams_by_type(probe(result.path))["video"]["nb_read_frames"]) == 4 * FPS
    assert [p.wall for p in result.pieces] == [at(0), at(GAP_S + 4)]


def test_format_change_stops_the_export_there(
    av_segments: list[SegmentFile], tmp_path: Path
) -> None:
    small = tmp_path / "small.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
            "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
            "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", str(small),
        ],
        check=True,
    )  # fmt: skip
    changed = SegmentFile(cut_segments(small, tmp_path / "small")[0], at(4), at(6))
    segments = [*av_segments[:2], changed, av_segments[2]]

    result = export_mp4(segments, at(0), at(100), tmp_path / "out.mp4")

    assert result.format_change_at == at(4)
    assert result.end == at(4)
    assert int(streams_by_type(probe(result.path))["video"]["nb_read_frames"]) == 4 * FPS
    times, _ = _decoded_pts(_write(tmp_path / "s.mp4", b"".join(stream_fmp4(segments, at(0)))))
    assert len(times) == 4 * FPS

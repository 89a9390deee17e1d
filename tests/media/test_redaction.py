"""Redacted export: faces and plates blurred in every frame, the rest of the picture kept.

Without ../shared a generated clip (FFmpeg's testsrc2 with a drawn plate "AB 123 CD" moving
across it) is redacted; with it, photographs of faces and of a car become clips too.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.analytics.test_faces_plates import FACES, PLATES, draw_plate
from tests.media.test_recording import record_file, segments_of
from vigil.analytics.boxes import Box
from vigil.analytics.faces import find_faces
from vigil.cli import app as cli
from vigil.config import Settings
from vigil.privacy.redaction import (
    MAX_MISSES,
    RedactionError,
    RedactionReport,
    _between,
    _Tracker,
    load_object_detector,
    obscure,
    redact_clip,
)
from vigil.security.audit import AuditFilter, list_entries
from vigil.store.db import Database

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"
FPS = 25
PLATE_X0, PLATE_SPEED, PLATE_Y = 120, 60, 220
"""The plate's top-left corner in the generated clip: x = 120 + 60 t, y = 220."""

Frame = np.ndarray


def plate_clip(path: Path, *, seconds: float = 1.2) -> Path:
    """640 x 360 H.264 of testsrc2 with a 170 x 40 plate moving right at 60 px/s."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    png = path.with_suffix(".png")
    cv2.imwrite(str(png), draw_plate())
    overlay = f"[0][1]overlay=x='{PLATE_X0}+t*{PLATE_SPEED}':y={PLATE_Y}"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi"),
            *("-i", f"testsrc2=size=640x360:rate={FPS}:d={seconds}", "-i", str(png)),
            *("-filter_complex", overlay, "-c:v", "libx264", "-preset", "ultrafast"),
            *("-g", str(FPS), "-bf", "0", "-pix_fmt", "yuv420p", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path


def still_clip(image: Path, path: Path, *, frames: int = 20, pan_px_s: int = 40) -> Path:
    """A still photograph as a 25 fps clip, 640 px wide, the view panning right."""
    vf = f"scale=680:-2,crop=640:ih:x='min(t*{pan_px_s},40)':y=0,format=yuv420p"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-loop", "1", "-framerate", str(FPS)),
            *("-i", str(image), "-vf", vf, "-frames:v", str(frames)),
            *("-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path


def decoded(path: Path) -> list[Frame]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def sharpness(region: Frame) -> float:
    """Variance of the Laplacian: high for edges and text, ~0 for a blurred region."""
    grey = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def plate_at(index: int) -> Box:
    x = PLATE_X0 + round(PLATE_SPEED * index / FPS)
    return Box(x, PLATE_Y, x + 170, PLATE_Y + 40)


def crop(frame: Frame, box: Box) -> Frame:
    return frame[box.y1 : box.y2, box.x1 : box.x2]


def outside_difference(a: Frame, b: Frame, boxes: list[Box], margin: int = 40) -> float:
    """Mean absolute difference of two frames away from ``boxes`` (grown by ``margin``)."""
    keep = np.ones(a.shape[:2], dtype=bool)
    for box in boxes:
        keep[
            max(0, box.y1 - margin) : box.y2 + margin, max(0, box.x1 - margin) : box.x2 + margin
        ] = False
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16))[keep].mean())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plate_clip(tmp_path_factory.mktemp("redaction") / "plate.mp4")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plate_clip(tmp_path_factory.mktemp("redaction") / "short.mp4", seconds=0.6)


@pytest.fixture(scope="module")
def redacted(
    clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, RedactionReport, list[float]]]:
    out = tmp_path_factory.mktemp("redacted") / "out.mp4"
    steps: list[float] = []
    report = redact_clip(clip, out, progress=steps.append)
    yield out, report, steps


# The generated clip -------------------------------------------------------------------------
def test_a_moving_plate_is_blurred_in_every_frame(
    clip: Path, redacted: tuple[Path, RedactionReport, list[float]]
) -> None:
    out, report, _ = redacted
    before, after = decoded(clip), decoded(out)
    assert report.frames == len(before) == len(after) == 30
    assert report.plates_blurred == 1, "one plate, followed across the clip"
    # Every 5th frame (0.2 s at 25 fps) and the last one.
    assert report.faces_blurred == 0 and report.analyses == 7
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        plate = plate_at(i)
        inner = Box(plate.x1 + 4, plate.y1 + 4, plate.x2 - 4, plate.y2 - 4)
        ratio = sharpness(crop(b, inner)) / sharpness(crop(a, inner))
        assert ratio < 0.05, f"frame {i}: the plate is still sharp ({ratio:.3f})"
        assert outside_difference(a, b, [plate]) < 3.0, f"frame {i}: the rest changed"


def test_the_output_is_a_faststart_h264_mp4_with_the_same_timing(
    clip: Path, redacted: tuple[Path, RedactionReport, list[float]]
) -> None:
    out, _, steps = redacted
    with av.open(str(clip)) as src, av.open(str(out)) as dst:
        assert dst.streams.video[0].codec_context.name == "h264"
        assert (dst.streams.video[0].width, dst.streams.video[0].height) == (640, 360)
        assert dst.streams.video[0].average_rate == src.streams.video[0].average_rate
        assert "vigil redacted export: faces, plates" in dst.metadata.get("comment", "")
        assert abs(float(dst.duration or 0) - float(src.duration or 0)) < 0.1e6
    head = out.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)
    assert steps == sorted(steps) and steps[-1] == 1.0 and len(steps) > 5
    assert not list(out.parent.glob(".*partial")), "no partial file left"


def test_only_what_is_asked_for_is_blurred(clip: Path, tmp_path: Path) -> None:
    report = redact_clip(clip, tmp_path / "faces-only.mp4", plates=False)
    assert report.plates_blurred == 0
    before, after = decoded(clip)[20], decoded(tmp_path / "faces-only.mp4")[20]
    plate = plate_at(20)
    assert sharpness(crop(after, plate)) > 0.5 * sharpness(crop(before, plate))
    nothing = redact_clip(clip, tmp_path / "copy.mp4", faces=False, plates=False)
    assert nothing.analyses == 0 and nothing.frames == 30


def test_unreadable_input_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(RedactionError, match=r"cannot read .*missing\.mp4"):
        redact_clip(tmp_path / "missing.mp4", tmp_path / "out.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video\xff" * 100)
    with pytest.raises(RedactionError, match=r"garbage\.mp4"):
        redact_clip(garbage, tmp_path / "out.mp4")
    audio = tmp_path / "audio.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=0.5", str(audio)], check=True
    )
    with pytest.raises(RedactionError, match="no video stream"):
        redact_clip(audio, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert not list(tmp_path.glob(".*partial"))


# Following boxes between analyses ----------------------------------------------------------
def test_a_box_missed_by_an_analysis_is_held_and_moving_boxes_are_interpolated() -> None:
    tracker = _Tracker()
    face, plate = Box(100, 100, 140, 140), Box(300, 200, 400, 230)
    first = tracker.update([("face", face), ("plate", plate)])
    moved = Box(110, 100, 150, 140)
    second = tracker.update([("face", moved)])  # the plate is missed this time
    assert {(t.kind, t.box, t.misses) for t in second} == {
        ("face", moved, 0),
        ("plate", plate, 1),
    }
    halfway = dict(_between(first, second, 0.5, 640, 360))
    assert halfway["face"] == Box(105, 100, 145, 140) and halfway["plate"] == plate
    for _ in range(MAX_MISSES):
        assert "face" in [t.kind for t in tracker.update([])], "held while missed"
    assert tracker.update([]) == [], "dropped after MAX_MISSES misses in a row"
    new = Box(500, 10, 540, 50)
    assert dict(_between([], tracker.update([("face", new)]), 0.1, 640, 360)) == {"face": new}, (
        "a box first found at an analysis covers the frames before it too"
    )
    assert tracker.seen["face"] == {0, 2} and tracker.seen["plate"] == {1}


def test_obscuring_destroys_detail_inside_the_box_only() -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[::2, ::2] = 255  # the finest detail there is
    original = frame.copy()
    box = Box(40, 30, 120, 90)
    obscure(frame, box)
    assert sharpness(crop(frame, box)) < 0.01 * sharpness(crop(original, box))
    outside = np.ones(frame.shape[:2], dtype=bool)
    outside[box.y1 : box.y2, box.x1 : box.x2] = False
    assert np.array_equal(frame[outside], original[outside])


# Export route and command line ------------------------------------------------------------
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_redacted_export_is_blurred_named_and_audited(
    client: TestClient, db: Database, settings: Settings, short_clip: Path, tmp_path: Path
) -> None:
    camera_id, _ = record_file(db, settings, short_clip)
    segs = segments_of(db, camera_id)
    assert segs[-1].end is not None
    span = {"start": segs[0].start.isoformat(), "end": segs[-1].end.isoformat()}
    url = f"/api/cameras/{camera_id}/export"
    response = client.get(url, params={**span, "redact": ["plates"]})
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert "_redacted.mp4" in disposition
    out = tmp_path / "export.mp4"
    out.write_bytes(response.content)
    first, original = decoded(out)[0], decoded(short_clip)[0]
    plate = Box(PLATE_X0 + 4, PLATE_Y + 4, PLATE_X0 + 166, PLATE_Y + 36)
    assert sharpness(crop(first, plate)) < 0.05 * sharpness(crop(original, plate))
    entries, _ = list_entries(db, AuditFilter(action="camera.export", camera_id=camera_id))
    assert entries[0].details["redacted"] == ["plates"]
    assert entries[0].details["plates_blurred"] == 1
    assert not list((settings.data_dir / "exports").glob("*")), "nothing left behind"

    bogus = client.get(url, params={**span, "redact": ["tattoos"]})
    assert bogus.status_code == 422
    long = {"start": span["start"], "end": (segs[0].start + timedelta(hours=2)).isoformat()}
    too_long = client.get(url, params={**long, "redact": ["faces"]})
    assert too_long.status_code == 422 and "15 minutes" in too_long.text


def test_the_redact_command(short_clip: Path, tmp_path: Path) -> None:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "cli.mp4"
    done = CliRunner().invoke(cli, ["redact", str(short_clip), str(out), "--no-faces"], env=env)
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())  # rich wraps long lines at the terminal's width
    assert "15 frames" in said and "1 plates blurred" in said
    assert out.is_file()
    missing = CliRunner().invoke(cli, ["redact", str(tmp_path / "nope.mp4"), str(out)], env=env)
    assert missing.exit_code == 1 and "cannot read" in missing.output
    same = CliRunner().invoke(cli, ["redact", str(out), str(out)], env=env)
    assert same.exit_code == 2


# Real photographs (../shared) ----------------------------------------------------------------
@pytest.mark.skipif(not FACES.is_dir(), reason="needs ../shared/media")
def test_faces_in_a_clip_are_blurred_and_the_rest_kept(tmp_path: Path) -> None:
    src = still_clip(FACES / "two_people.jpg", tmp_path / "people.mp4", frames=10)
    report = redact_clip(src, tmp_path / "out.mp4", plates=False)
    assert report.faces_blurred == 2
    before, after = decoded(src), decoded(tmp_path / "out.mp4")
    for i, (a, b) in enumerate(zip(before, after, strict=True)):
        faces = find_faces(a, upsample=1)
        assert len(faces) == 2
        for face in faces:
            ratio = sharpness(crop(b, face)) / sharpness(crop(a, face))
            assert ratio < 0.1, f"frame {i}: face {face} still sharp ({ratio:.3f})"
        assert outside_difference(a, b, faces, margin=60) < 4.0
        assert find_faces(b, upsample=1) == [], f"frame {i}: a face can still be found"


@pytest.mark.skipif(
    not (FACES.is_dir() and (MODELS / "nanodet.onnx").is_file()),
    reason="needs ../shared/media and ../shared/models",
)
def test_the_object_detector_adds_the_heads_of_people(tmp_path: Path) -> None:
    detector = load_object_detector(MODELS)
    assert detector is not None
    src = still_clip(FACES / "two_people.jpg", tmp_path / "people.mp4", frames=6)
    report = redact_clip(src, tmp_path / "out.mp4", plates=False, detector=detector)
    assert report.object_detector == "nanodet"
    assert report.heads_blurred >= 2 and report.faces_blurred == 2
    assert load_object_detector(tmp_path) is None, "no model there: redaction goes on without"


@pytest.mark.skipif(not PLATES.is_dir(), reason="needs ../shared/media")
def test_a_real_plate_is_blurred(tmp_path: Path) -> None:
    parts = (PLATES / "eu1.txt").read_text().split()
    x, y, w, h = (int(v) for v in parts[1:5])
    # still_clip scales 1000 px to 680 and pans by up to 40 px.
    src = still_clip(PLATES / "eu1.jpg", tmp_path / "car.mp4", frames=6, pan_px_s=0)
    report = redact_clip(src, tmp_path / "out.mp4", faces=False)
    assert report.plates_blurred >= 1
    scale = 680 / 1000
    plate = Box.around(x * scale, y * scale, (x + w) * scale, (y + h) * scale, 640, 510)
    for a, b in zip(decoded(src), decoded(tmp_path / "out.mp4"), strict=True):
        assert sharpness(crop(b, plate)) < 0.1 * sharpness(crop(a, plate))

"""Tampering benchmark: scripted tampering found, and none over ordinary video.

With the shipped defaults of the ``tampering`` behaviour (hold 2 s, learn 5 s), through the
live pipeline's code path (``play_file``, 5 analysed frames a second):

- scripted clips made from the Intel sample videos of ../shared/media: 20 s of the clip as
  it is, then 20 s tampered (cover: a uniform grey board over the lens; turn: another clip's
  view from then on; blur: a strong box blur; dark: the picture darkened to a few grey
  levels);
  for each, the kind reported and its delay after the tampering began (bar: within 10 s, the
  right kind, nothing in the first 20 s);
- ordinary video: the Intel clips (a road, a table, an office), each looped to share
  ``--hours`` (default 1) between them: tamper events found (bar: none).

Also the real clips of camera-tampering-vas are tested in tests/analytics/test_tampering.py.

    nice .venv/bin/python bench/tampering.py [--hours 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from rich.console import Console
from rich.table import Table

from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.offline import play_file
from vigil.domain.events import Event

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
INTEL = MEDIA / "intel-sample-videos"
CLIPS = ["car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4"]
ORDINARY = [INTEL / c for c in CLIPS]
TAMPER_AT = 20.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SCRIPTS = {
    "covered": f"drawbox=x=0:y=0:w=iw:h=ih:color=0x8c8c8c@1:t=fill:enable='gte(t,{TAMPER_AT})'",
    "defocused": f"boxblur=12:enable='gte(t,{TAMPER_AT})'",
    "dark": f"eq=brightness=-0.6:contrast=0.3:enable='gte(t,{TAMPER_AT})'",
}


ENCODE = ("-an", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0",
          "-pix_fmt", "yuv420p")  # fmt: skip


def turned(source: Path, other: Path, out: Path, work: Path) -> None:
    """``source`` for TAMPER_AT seconds, then ``other``'s view at the same size (the camera
    turned to another scene), joined without re-encoding."""
    size = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0:s=x", str(source)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    first, second = work / f"a-{out.name}", work / f"b-{out.name}"
    ffmpeg("-stream_loop", "-1", "-i", str(source), "-t", str(TAMPER_AT), *ENCODE, str(first))
    ffmpeg("-stream_loop", "-1", "-i", str(other), "-t", str(TAMPER_AT),
           "-vf", f"scale={size.replace('x', ':')}", *ENCODE, str(second))  # fmt: skip
    listing = work / f"{out.name}.txt"
    listing.write_text(f"file '{first}'\nfile '{second}'\n")
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def events(clip: Path) -> list[tuple[float, str]]:
    found: list[tuple[float, str]] = []
    lock = threading.Lock()

    def publish(_subject: str, message: object) -> None:
        if isinstance(message, Event) and message.type == "camera.tampering":
            with lock:
                found.append(((message.at - T0).total_seconds(), message.attributes["kind"]))

    config = CameraAnalyticsConfig.model_validate(
        {"detector": {"type": "motion"}, "behaviours": [{"type": "tampering"}]}
    )
    with tempfile.TemporaryDirectory() as models:
        play_file(clip, config, Path(models), publish, start=T0)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=1.0, help="ordinary video in all")
    args = parser.parse_args()
    console = Console()
    present = [c for c in ORDINARY if c.is_file()]
    if not present:
        console.print("[yellow]../shared/media is missing: nothing to measure")
        return
    with tempfile.TemporaryDirectory(prefix="vigil-tamper-bench-") as tmp:
        work = Path(tmp)
        scripted = Table(title=f"Scripted tampering at {TAMPER_AT:.0f} s (shipped defaults)")
        for column in ("clip", "tampering", "reported", "delay s", "before it"):
            scripted.add_column(column)
        rows: list[tuple[str, str, Path]] = []
        for name in CLIPS:
            source = INTEL / name
            if not source.is_file():
                continue
            other = INTEL / CLIPS[(CLIPS.index(name) + 1) % len(CLIPS)]
            for kind, script in SCRIPTS.items():
                clip = work / f"{kind}-{name}"
                ffmpeg("-stream_loop", "-1", "-i", str(source), "-t", str(2 * TAMPER_AT),
                       "-vf", script, *ENCODE, str(clip))  # fmt: skip
                rows.append((name, kind, clip))
            clip = work / f"moved-{name}"
            turned(source, other, clip, work)
            rows.append((name, "moved", clip))
        for name, kind, clip in rows:
            found = events(clip)
            early = [k for t, k in found if t < TAMPER_AT]
            after = [(t, k) for t, k in found if t >= TAMPER_AT]
            reported = after[0][1] if after else "-"
            delay = f"{after[0][0] - TAMPER_AT:.1f}" if after else "-"
            scripted.add_row(name, kind, reported, delay, ", ".join(early) or "none")
        console.print(scripted)

        ordinary = Table(title=f"Ordinary video, {args.hours:g} h in all")
        for column in ("clip", "minutes", "tamper events", "analysed in s"):
            ordinary.add_column(column)
        share_s = args.hours * 3600 / len(present)
        for source in present:
            clip = work / f"ordinary-{source.name}"
            ffmpeg("-stream_loop", "-1", "-i", str(source), "-t", f"{share_s:.0f}", "-an",
                   "-c", "copy", str(clip))  # fmt: skip
            started = time.perf_counter()
            found = events(clip)
            ordinary.add_row(
                source.name,
                f"{share_s / 60:.0f}",
                ", ".join(f"{k} at {t:.0f} s" for t, k in found) or "0",
                f"{time.perf_counter() - started:.0f}",
            )
        console.print(ordinary)


if __name__ == "__main__":
    main()

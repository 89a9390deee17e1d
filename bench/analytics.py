"""Analytics benchmark: N simulated cameras serving the real clips of ../shared/media as
640x360 H.264 sub-streams, analysed live by one `vigil recorder` at 5 fps with motion gating.

Prints cameras per core of analytics CPU against the bar (at least 25), frames analysed and
dropped, the motion ratio, and the detector's time per frame in the pipeline against a bare
onnxruntime ``session.run`` loop on the same model and input, and the CPU model. Hosts differ
most in how fast they run the int8 model, so it also prints each camera's analytics CPU in bare
runs a second, which compares across machines. It is a benchmark: the exit code is 0 whatever
the figures (1 only when it could not run).

Then, for the same configuration (detector, its options, the motion gate), its accuracy on
the shared sequences with ground truth (`analytics_accuracy.py`: MOT15 TUD through the live
pipeline, MOTA/IDF1/recall/precision; NGSIM's distant vehicles at the detector's own
threshold), and one verdict for both bars at once: >= 25 cameras per core AND TUD MOTA >= 0.65
/ IDF1 >= 0.70. ``--only speed`` or ``--only accuracy`` measures one half.

    nice .venv/bin/python bench/analytics.py --cameras 8 --seconds 60

How analytics CPU is measured: the same recorder with the same cameras is measured twice over
equal windows from /proc/<pid>/stat (utime+stime): first recording only (analytics off), then
with analytics on for every camera. The difference is the analytics' CPU (decoding, motion
gate, detector, tracker, behaviours, events); cameras per core = N / that, in cores.
The machine's other processes are measured too (noise on a shared 2-core machine). The
recorder's CPU is also split by thread name from /proc/<pid>/task (ingest, decode, detect,
the event loop under the process's own name), in both windows: where analytics spends it.

Frames: each camera's AnalyticsStatus (GET /api/analytics/status, rates over its last report)
sampled through the window: frames decoded, analysed by the detector, dropped (busy),
motion ratio (also per clip, with its analysed frames a second), detector ms (wall time on
a worker, so it includes waiting for the GIL).
Bare onnxruntime: the model loaded here with the recorder's threading (1 intra-op thread),
its preprocessed input from a frame of the first clip, ``session.run`` timed in a loop: the
plugin's own session and input (NanoDet at the frame's aspect, e.g. 416 x 224), and a plain
session of the same file at the input size it declares (416 x 416); the plugin's whole
``detect`` (pre/post-processing) too.

Clips: every video of ../shared/media/intel-sample-videos and ../shared/media/mot15-tud,
transcoded once (libx264, 640x360, no B-frames, GOP 2 s, their own frame rate) into the work
directory; cameras take them in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import analytics_accuracy
import httpx
import numpy as np
from common import (
    admin_headers,
    cpu_model,
    free_port,
    http_ok,
    interruptible,
    thread_cpu,
    wait_for,
)
from recording import CpuWindow, Processes, all_process_cpu, other_cpu_seconds
from rich.console import Console
from rich.table import Table

from vigil.devices.simulator import Simulator, SimulatorError

MIN_CAMERAS_PER_CORE = 25.0
ANALYSIS_FPS = 5.0
WIDTH, HEIGHT = 640, 360
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CLIP_SOURCES = ("intel-sample-videos/*.mp4", "mot15-tud/*/*.mp4")

console = Console()


@dataclass
class Options:
    cameras: int
    seconds: float
    warmup: float
    detector: str
    models_dir: Path
    workdir: Path
    py_spy: Path | None
    detector_options: dict[str, Any]
    motion: dict[str, Any]
    speed: bool = True
    accuracy: bool = True


def transcode_clips(workdir: Path) -> list[Path]:
    """The shared clips at 640x360 H.264 (once; cached in the work directory)."""
    sources = sorted(p for pattern in CLIP_SOURCES for p in (SHARED / "media").glob(pattern))
    if not sources:
        raise RuntimeError(f"no clips under {SHARED / 'media'}: the benchmark needs them")
    out_dir = workdir / "clips"
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for source in sources:
        target = out_dir / f"{source.stem}-{WIDTH}x{HEIGHT}.mp4"
        if not target.exists():
            partial = target.with_suffix(".part.mp4")
            pad = f"pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2"
            cmd = [
                *("ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(source), "-an"),
                *("-vf", f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease,{pad}"),
                *("-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", "50"),
                *("-pix_fmt", "yuv420p", str(partial)),
            ]
            subprocess.run(cmd, check=True)
            partial.replace(target)
        clips.append(target)
    return clips


def bare_onnxruntime(
    config: dict[str, Any], models_dir: Path, clip: Path, runs: int
) -> dict[str, Any]:
    """ms per ``session.run`` of the model alone (the plugin's session and input; and the
    file as it declares itself, with a new session), and per plugin ``detect`` (same frame)."""
    import av
    import onnxruntime as ort

    from vigil.analytics.detectors import create_detector

    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    detector = config["type"]
    plugin: Any = create_detector(config, models_dir=models_dir, intra_op_threads=1)
    result: dict[str, Any] = {"model": Path(getattr(plugin, "loaded_path", detector)).name}

    def per_run(session: Any, declared: bool) -> float:
        feeds = {
            i.name: _model_input(plugin, frame, declared, i.shape) for i in session.get_inputs()
        }
        for _ in range(5):
            session.run(None, feeds)
        started = time.perf_counter()
        for _ in range(runs):
            session.run(None, feeds)
        return 1000 * (time.perf_counter() - started) / runs

    session = getattr(plugin, "session", None)
    if session is not None:
        result["session_run_ms"] = per_run(session, declared=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        plain = ort.InferenceSession(str(plugin.loaded_path), options)
        result["file_input"] = "x".join(str(d) for d in plain.get_inputs()[0].shape)
        result["file_run_ms"] = per_run(plain, declared=True)
    for _ in range(5):
        plugin.detect(frame)
    started = time.perf_counter()
    for _ in range(runs):
        plugin.detect(frame)
    result["detect_ms"] = 1000 * (time.perf_counter() - started) / runs
    return result


def _model_input(plugin: Any, frame: np.ndarray[Any, Any], declared: bool, shape: list[Any]) -> Any:
    """The model's input for a frame, as its plugin prepares it (layout and scaling); at the
    size the file declares, or at the plugin's own (NanoDet runs at the frame's aspect)."""
    import cv2

    from vigil.analytics.detectors import nanodet

    if plugin.key == "centernet":  # [1, 512, 512, 3] RGB 0-255
        size = int(shape[1])
        resized = cv2.resize(frame, (size, size))
        return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32)[None]
    height, width = frame.shape[:2]
    size = (
        (int(shape[3]), int(shape[2]))
        if declared
        else nanodet.input_shape(width, height, plugin.config.input_size)
    )
    return nanodet.preprocess(frame, size)


class Bench:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.run_dir = opts.workdir / f"run-{opts.cameras}"
        self.data_dir = self.run_dir / "vigil-data"
        self.procs = Processes()
        self.sim: Simulator | None = None
        self.api = ""
        self.auth: dict[str, str] = {}
        self.clip_of: dict[str, str] = {}

    def cleanup(self) -> None:
        self.procs.stop()
        if self.sim is not None:
            self.sim.stop()

    def start(self, clips: list[Path]) -> subprocess.Popen[bytes]:
        mounts = {f"cam-{i:03d}": clips[i % len(clips)] for i in range(self.o.cameras)}
        self.clip_of = {name: clip.stem for name, clip in mounts.items()}
        with console.status(f"Simulator: {len(mounts)} RTSP mounts..."):
            self.sim = Simulator(mounts, port=0, cache_dir=self.o.workdir / "sim-cache")
        db_url = f"sqlite:///{(self.data_dir / 'vigil.db').resolve()}"
        self.data_dir.mkdir(parents=True)
        server_port, recorder_port = free_port(), free_port()
        env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(self.data_dir.resolve()),
            "VIGIL_DATABASE_URL": db_url,
            "VIGIL_SERVER__PORT": str(server_port),
            "VIGIL_RECORDER__PORT": str(recorder_port),
            "VIGIL_STORAGE__MIN_FREE_BYTES": "0",
            "VIGIL_ANALYTICS__MODELS_DIR": str(self.o.models_dir),
        }
        python = sys.executable
        self.api = f"http://127.0.0.1:{server_port}"
        with console.status("Vigil: starting server and recorder..."):
            self.procs.spawn(
                "server", [python, "-m", "vigil", "server"], self.run_dir / "server.log", env
            )
            wait_for(lambda: http_ok(f"{self.api}/api/health"), 60, "server up")
            self.auth = admin_headers(db_url)
            recorder = self.procs.spawn(
                "recorder", [python, "-m", "vigil", "recorder"], self.run_dir / "recorder.log", env
            )
            wait_for(
                lambda: http_ok(f"http://127.0.0.1:{recorder_port}/media/health"), 60, "recorder"
            )
        for name in mounts:
            r = httpx.post(
                f"{self.api}/api/cameras",
                json={"name": name, "main_url": self.sim.url_for(name)},
                headers=self.auth,
            )
            r.raise_for_status()
        wait_for(lambda: self.online() == self.o.cameras, 60, "cameras online")
        console.print(f"Vigil: {self.o.cameras} cameras online (recorder pid {recorder.pid})")
        return recorder

    def online(self) -> int:
        cameras = httpx.get(f"{self.api}/api/cameras", headers=self.auth).json()
        return sum(1 for c in cameras if c["health"]["status"] == "online")

    def enable_analytics(self) -> None:
        config = {
            "enabled": True,
            "fps": ANALYSIS_FPS,
            "detector": {"type": self.o.detector, **self.o.detector_options},
            "motion": self.o.motion,
            "zones": [{"name": "all", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "behaviours": [{"type": "intrusion", "zone": "all"}],
        }
        for camera in httpx.get(f"{self.api}/api/cameras", headers=self.auth).json():
            url = f"{self.api}/api/cameras/{camera['id']}/analytics"
            r = httpx.put(url, json=config, headers=self.auth)
            r.raise_for_status()

    def window(
        self, recorder: int, label: str, statuses: list[list[dict[str, Any]]] | None = None
    ) -> tuple[float, float, float, dict[str, float]]:
        """(recorder CPU %, others' CPU %, wall s, the recorder's CPU % by thread name) over
        one measured window."""
        cpu = CpuWindow([recorder])
        before = all_process_cpu()
        threads_before = thread_cpu(recorder)
        cpu.begin()
        started = time.monotonic()
        with console.status(f"{label}: measuring {self.o.seconds:.0f} s..."):
            while (elapsed := time.monotonic() - started) < self.o.seconds:
                time.sleep(min(5.0, self.o.seconds - elapsed))
                if statuses is not None:
                    statuses.append(
                        httpx.get(f"{self.api}/api/analytics/status", headers=self.auth).json()
                    )
        cpu.finish()
        threads_after = thread_cpu(recorder)
        wall = time.monotonic() - started
        others = other_cpu_seconds(before, all_process_cpu(), {recorder, os.getpid()})
        by_thread = {
            name: 100 * (seconds - threads_before.get(name, 0.0)) / wall
            for name, seconds in threads_after.items()
        }
        return cpu.percent(wall), 100 * others / wall, wall, by_thread

    def profile(self, recorder: int) -> subprocess.Popen[bytes] | None:
        if self.o.py_spy is None:
            return None
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(self.o.py_spy.suffix, "raw")
        # The venv's own (pip install py-spy) also when the venv is not on PATH.
        venv = str(Path(sys.executable).parent)
        exe = shutil.which("py-spy") or shutil.which("py-spy", path=venv)
        if exe is None:
            raise RuntimeError("--py-spy needs py-spy: .venv/bin/pip install py-spy")
        cmd = [exe, "record", "-p", str(recorder), "-d", str(int(self.o.seconds))]
        # With C frames (--native), py-spy falls behind at its default rate on 2 cores.
        cmd += ["-f", fmt, "-o", str(self.o.py_spy), "--threads", "--native", "--rate", "20"]
        return self.procs.spawn("py-spy", cmd, self.run_dir / "py-spy.log")

    def run(self) -> dict[str, Any]:
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        with console.status("Clips: transcoding the shared clips to 640x360 (once)..."):
            clips = transcode_clips(self.o.workdir)
        console.print(f"Clips: {', '.join(c.name for c in clips)}")
        with console.status("Bare onnxruntime on the same model and input..."):
            bare = bare_onnxruntime(
                {"type": self.o.detector, **self.o.detector_options},
                self.o.models_dir,
                clips[0],
                runs=50,
            )
        recorder = self.start(clips)
        time.sleep(self.o.warmup / 2)
        record_cpu, record_others, _, record_threads = self.window(recorder.pid, "Recording only")
        self.enable_analytics()
        with console.status(f"Analytics on: warming up {self.o.warmup:.0f} s..."):
            time.sleep(self.o.warmup)
        statuses: list[list[dict[str, Any]]] = []
        spy = self.profile(recorder.pid)
        analytics_cpu, analytics_others, wall, analytics_threads = self.window(
            recorder.pid, "Recording + analytics", statuses
        )
        if spy is not None:
            spy.wait(120)
        rows = [s for sample in statuses for s in sample]
        running = [s for s in rows if s["state"] == "running"]

        def total(key: str) -> float:
            # Per sample, the sum over cameras; then the mean over samples.
            sums = [sum(s[key] for s in sample if s["state"] == "running") for sample in statuses]
            return statistics.fmean(sums) if sums else 0.0

        analysed = [s for s in running if s["frames_analysed"] > 0]
        cameras = httpx.get(f"{self.api}/api/cameras", headers=self.auth).json()
        clip_of = {c["id"]: self.clip_of[c["name"]] for c in cameras}
        return {
            "per_clip": per_clip(running, clip_of),
            "cameras": self.o.cameras,
            "wall": wall,
            "record_cpu": record_cpu,
            "analytics_total_cpu": analytics_cpu,
            "analytics_cpu": analytics_cpu - record_cpu,
            "others": max(record_others, analytics_others),
            "frames_in": total("frames_in"),
            "frames_analysed": total("frames_analysed"),
            "frames_dropped": total("frames_dropped"),
            "motion_ratio": statistics.fmean(s["motion_ratio"] for s in running)
            if running
            else float("nan"),
            "detector_ms": statistics.fmean(s["detector_ms"] for s in analysed)
            if analysed
            else float("nan"),
            "states": sorted({s["state"] for s in rows}),
            "threads": {
                name: (record_threads.get(name, 0.0), pct)
                for name, pct in sorted(analytics_threads.items(), key=lambda kv: -kv[1])
            },
            "bare": bare,
            "load": os.getloadavg(),
        }


def per_clip(running: list[dict[str, Any]], clip_of: dict[int, str]) -> dict[str, dict[str, float]]:
    """Per clip, the mean over its cameras' status samples: analysed frames a second and the
    motion ratio (which clips the detector's time goes to)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for s in running:
        rows.setdefault(clip_of.get(s["camera_id"], "?"), []).append(s)
    return {
        clip: {
            "analysed": statistics.fmean(s["frames_analysed"] for s in samples),
            "motion": statistics.fmean(s["motion_ratio"] for s in samples),
        }
        for clip, samples in sorted(rows.items())
    }


def report(o: Options, r: dict[str, Any]) -> float:
    n = r["cameras"]
    cores = r["analytics_cpu"] / 100
    per_core = n / cores if cores > 0 else float("inf")
    extra = {**o.detector_options, **o.motion}
    options = json.dumps(extra) if extra else ""
    title = f"Analytics: {n} cameras, {o.detector} {options}, {ANALYSIS_FPS:g} fps, motion gate"
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("recorder CPU, recording only", f"{r['record_cpu']:.1f} % of a core")
    table.add_row("recorder CPU, recording + analytics", f"{r['analytics_total_cpu']:.1f} %")
    table.add_row("analytics CPU (difference)", f"{r['analytics_cpu']:.1f} % of a core")
    table.add_row("analytics CPU per camera", f"{r['analytics_cpu'] / n:.2f} % of a core")
    table.add_row("[bold]cameras per core[/]", f"[bold]{per_core:.1f}[/]")
    table.add_row("frames decoded /s (all cameras)", f"{r['frames_in']:.1f}")
    table.add_row(
        "frames analysed /s (all cameras)",
        f"{r['frames_analysed']:.1f} of {n * ANALYSIS_FPS:.0f} sampled",
    )
    table.add_row("analysis frames dropped /s", f"{r['frames_dropped']:.2f}")
    table.add_row("motion ratio (mean)", f"{r['motion_ratio']:.2f}")
    table.add_row("detector ms per frame, in the pipeline", f"{r['detector_ms']:.1f}")
    bare = r["bare"]
    if "session_run_ms" in bare:
        table.add_row("bare onnxruntime session.run ms", f"{bare['session_run_ms']:.1f}")
        # Hosts differ most in how fast they run the int8 model: this ratio compares runs
        # taken on different machines, where cameras per core alone cannot.
        per_camera_ms = 10 * r["analytics_cpu"] / n
        table.add_row(
            "analytics CPU per camera, in bare runs a second",
            f"{per_camera_ms / bare['session_run_ms']:.1f}",
        )
        table.add_row(
            f"bare onnxruntime, the file as declared ({bare['file_input']}) ms",
            f"{bare['file_run_ms']:.1f}",
        )
    table.add_row("plugin detect() ms, alone", f"{bare['detect_ms']:.1f}")
    table.add_row("model file run", str(bare["model"]))
    table.add_row("other processes' CPU (noise)", f"{r['others']:.0f} % of a core")
    table.add_row("CPU", cpu_model())
    table.add_row("load average at the end", " ".join(f"{v:.2f}" for v in r["load"]))
    table.add_row("analytics states seen", ", ".join(r["states"]))
    console.print(table)
    threads = Table(title="Recorder CPU by thread (% of a core; Vigil names its threads)")
    for column in ("threads", "recording only", "with analytics", "per camera"):
        threads.add_column(column, justify="left" if column == "threads" else "right")
    for name, (before, after) in r["threads"].items():
        threads.add_row(name, f"{before:.1f}", f"{after:.1f}", f"{(after - before) / n:.2f}")
    console.print(threads)
    clips = Table(title="Per clip (mean of its cameras)")
    for column in ("clip", "analysed /s", "motion ratio"):
        clips.add_column(column, justify="left" if column == "clip" else "right")
    for clip, figures in r["per_clip"].items():
        clips.add_row(clip, f"{figures['analysed']:.2f}", f"{figures['motion']:.2f}")
    console.print(clips)
    ok = per_core >= MIN_CAMERAS_PER_CORE
    verdict = "[green]PASS[/]" if ok else "[red]FAIL[/]"
    console.print(
        f"{verdict}: {per_core:.1f} cameras per core (bar {MIN_CAMERAS_PER_CORE:g}"
        + ("" if ok else f", {per_core / MIN_CAMERAS_PER_CORE:.0%} of it")
        + ")"
    )
    return per_core


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60, help="each measured window")
    parser.add_argument("--warmup", type=float, default=15, help="seconds before measuring")
    parser.add_argument("--detector", default="nanodet", choices=["nanodet", "centernet", "motion"])
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "analytics")
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="FILE",
        help="profile the recorder over the analytics window (.svg, .json or raw .txt)",
    )  # fmt: skip
    parser.add_argument(
        "--detector-options", type=json.loads, default={}, metavar="JSON",
        help='more detector options, e.g. \'{"int8": false}\'',
    )  # fmt: skip
    parser.add_argument(
        "--motion", type=json.loads, default={}, metavar="JSON",
        help='motion gate options, e.g. \'{"tracked_fps": 5}\' (always the full rate)',
    )  # fmt: skip
    parser.add_argument(
        "--only", choices=["speed", "accuracy"], default=None,
        help="measure only one half (both by default: the bar is both at once)",
    )  # fmt: skip
    a = parser.parse_args(argv)
    if a.cameras < 1 or a.seconds <= 0 or a.warmup < 0:
        parser.error("--cameras must be >= 1, --seconds > 0, --warmup >= 0")
    return Options(
        a.cameras, a.seconds, a.warmup, a.detector, a.models_dir.resolve(),
        a.workdir.resolve(), a.py_spy, a.detector_options, a.motion,
        speed=a.only != "accuracy", accuracy=a.only != "speed",
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    opts.workdir.mkdir(parents=True, exist_ok=True)
    per_core = speed(opts) if opts.speed else None
    if per_core == -1.0:
        return 1
    found = None
    if opts.accuracy:
        detector = {"type": opts.detector, **opts.detector_options}
        with console.status("Accuracy: TUD through the live pipeline, NGSIM..."):
            found = analytics_accuracy.measure(SHARED, opts.models_dir, detector, opts.motion)
        motion = opts.motion or "default"
        title = f"Accuracy of the same configuration ({detector}, motion {motion})"
        console.print(analytics_accuracy.table(found, title))
        for path in found.missing:
            console.print(f"[yellow]not scored: {path} is missing[/]")
    verdicts = []
    if per_core is not None:
        verdicts.append(f"{per_core:.1f} cameras per core (bar {MIN_CAMERAS_PER_CORE:g})")
    if found is not None and found.mota is not None and found.idf1 is not None:
        verdicts.append(
            f"TUD MOTA {found.mota:.3f} / IDF1 {found.idf1:.3f} "
            f"(bar {analytics_accuracy.BAR_MOTA} / {analytics_accuracy.BAR_IDF1})"
        )
    if per_core is not None and found is not None and found.mota is not None:
        both = per_core >= MIN_CAMERAS_PER_CORE and found.passed
        mark = "[green]PASS[/]" if both else "[red]FAIL[/]"
        console.print(f"{mark} both bars at once: " + "; ".join(verdicts))
    return 0


def speed(opts: Options) -> float:
    """Measure and print the speed half; cameras per core (-1.0: it could not run)."""
    bench = Bench(opts)
    with interruptible():
        try:
            results = bench.run()
        except KeyboardInterrupt:
            console.print("[yellow]Interrupted: stopping everything.[/]")
            raise SystemExit(130) from None
        except (RuntimeError, OSError, subprocess.CalledProcessError, SimulatorError) as exc:
            console.print(f"[red]benchmark failed: {exc}[/]\nlogs in {bench.run_dir}")
            return -1.0
        except httpx.HTTPError as exc:
            console.print(f"[red]benchmark failed: {exc}[/]\nlogs in {bench.run_dir}")
            return -1.0
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            with console.status("Cleaning up..."):
                bench.cleanup()
    return report(opts, results)


if __name__ == "__main__":
    sys.exit(main())

"""Recording benchmark: N simulated 1080p25 cameras at ~4 Mbit/s recorded at once by one
`vigil recorder` process, side by side in the same run with a baseline of one
`ffmpeg -c copy -f segment` process per camera.

Prints, for both, CPU per camera (% of one core), cameras per core, memory per camera and
gaps, and PASS/FAIL against the bars: at least 200 cameras per core of recording CPU and at
most 8 MB of memory per camera, with no gap. It is a benchmark: the exit code is 0 whatever
the figures (1 only when it could not run).

    .venv/bin/python bench/recording.py --cameras 16 --seconds 60

What is measured, over one window after the warm-up, the same window for both sides:

* CPU: utime+stime (children included) of the recorder process and of every ffmpeg, from
  /proc/<pid>/stat, divided by the window's wall seconds. The simulator (one GStreamer
  process serving 2N mounts), the management server and the benchmark itself are measured
  too and printed apart: they are not counted.
* Memory: RSS and PSS (/proc/<pid>/smaps_rollup) at the end of the window and at their peak.
  For Vigil, per camera is (RSS now - RSS of the same recorder idle with no camera) / N,
  measured before the cameras are added; total / N is printed as well. For ffmpeg, sum / N;
  PSS counts shared libraries once, RSS once per process.
* Gaps: Vigil's segment index (each segment must start where the previous ended, within
  0.1 s; `gaps` rows; seconds recorded in the window), the segment files themselves
  (ffprobe), and the cameras' health (online, ~25 fps). Baseline: its segment files'
  durations and frames (ffprobe) against the wall time each ffmpeg ran (a camera missing
  more than 3 s, for connecting and the first keyframe, is a break), and whether it ran to
  the end.
* Noise: CPU of every other process on the machine over the window (a lower bound), since
  a 2-core machine shared with test runs moves the figures by +-15 %.

`--py-spy FILE` profiles the recorder over the window (py-spy must be installed; .svg
flame graph, .json speedscope, .txt collapsed stacks); it adds load of its own.

The clip: libx264 Main profile, no B-frames (what most IP cameras send), GOP 50 (a keyframe
every 2 s), CBR 4 Mbit/s with HRD filler, testsrc2 with temporal noise so that the bits are
really spent; 20 s, generated once and cached under the work directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from common import cpu_seconds, free_port, http_ok, interruptible, wait_for
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vigil.devices.simulator import Simulator, SimulatorError
from vigil.store import cameras as camera_store
from vigil.store import recordings
from vigil.store.db import Database, migrate

# Bars of the issue.
MIN_CAMERAS_PER_CORE = 200.0
MAX_MB_PER_CAMERA = 8.0
CONTIGUITY_TOLERANCE_S = 0.1
EXPECTED_FPS = 25.0
# An ffmpeg's files start when it has connected and seen a keyframe (GOP 2 s): what its
# files may lack against its wall time before that counts as a break.
BASELINE_START_ALLOWANCE_S = 3.0

# The clip.
CLIP_SECONDS = 20
CLIP_FPS = 25
CLIP_GOP = 50
CLIP_BITRATE = "4M"
CLIP_NOISE = 12

CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent

console = Console()


# ------------------------------------------------------------------------------ procfs
def memory_bytes(pid: int) -> tuple[int, int | None]:
    """(RSS, PSS) of a process in bytes; PSS is None where smaps_rollup is missing."""
    rss, pss = 0, None
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key == "Rss":
                rss = int(rest.split()[0]) * 1024
            elif key == "Pss":
                pss = int(rest.split()[0]) * 1024
        return rss, pss
    except OSError:
        pass
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def all_process_cpu() -> dict[int, float]:
    """CPU seconds of every process on the machine (its own, not its children's)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            seconds = cpu_seconds(int(entry.name), children=False)
            if seconds is not None:
                found[int(entry.name)] = seconds
    return found


def other_cpu_seconds(before: dict[int, float], after: dict[int, float], ours: set[int]) -> float:
    """CPU the machine's other processes used between two snapshots: a lower bound, as
    processes that ended within the window are missed."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items() if pid not in ours)


def child_pids(parent: int) -> dict[int, str]:
    """Direct children of a process: pid -> command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == parent:
                found[int(entry.name)] = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                )
        except (OSError, ValueError):
            continue
    return found


# ------------------------------------------------------------------------------ the clip
def make_clip(workdir: Path) -> Path:
    """The 1080p25 ~4 Mbit/s H.264 clip, generated once and kept in the work directory."""
    name = f"clip-1080p{CLIP_FPS}-{CLIP_BITRATE}-g{CLIP_GOP}-n{CLIP_NOISE}-{CLIP_SECONDS}s.mp4"
    path = workdir / "clips" / name
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    b = CLIP_BITRATE
    cmd = [
        *("ffmpeg", "-v", "error", "-nostdin", "-y"),
        *("-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={CLIP_FPS}"),
        *("-vf", f"noise=alls={CLIP_NOISE}:allf=t+u", "-t", str(CLIP_SECONDS)),
        *("-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0"),
        *("-g", str(CLIP_GOP), "-keyint_min", str(CLIP_GOP), "-sc_threshold", "0"),
        *("-b:v", b, "-minrate", b, "-maxrate", b, "-bufsize", b, "-x264-params", "nal-hrd=cbr"),
        *("-pix_fmt", "yuv420p", str(partial)),
    ]
    subprocess.run(cmd, check=True)
    partial.replace(path)
    return path


@dataclass
class Probe:
    duration: float
    packets: int
    bit_rate: float
    width: int
    height: int
    fps: str


def ffprobe(path: Path) -> Probe | None:
    """Duration, video packets, bitrate and size of a media file (None if unreadable)."""
    cmd = [
        *("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets"),
        *("-show_entries", "stream=nb_read_packets,width,height,avg_frame_rate"),
        *("-show_entries", "format=duration,bit_rate", "-of", "json", str(path)),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        data = json.loads(result.stdout)
        stream, fmt = data["streams"][0], data["format"]
        return Probe(
            duration=float(fmt.get("duration", 0.0)),
            packets=int(stream.get("nb_read_packets", 0)),
            bit_rate=float(fmt.get("bit_rate", 0.0)),
            width=int(stream.get("width", 0)),
            height=int(stream.get("height", 0)),
            fps=str(stream.get("avg_frame_rate", "")),
        )
    except (ValueError, KeyError, IndexError):
        return None


def probe_all(paths: list[Path]) -> dict[Path, Probe | None]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(paths, pool.map(ffprobe, paths), strict=True))


# ------------------------------------------------------------------------------ processes
class Processes:
    """The processes this run started, stopped (politely, then not) on the way out."""

    def __init__(self) -> None:
        self._procs: list[tuple[signal.Signals, subprocess.Popen[bytes], IO[bytes]]] = []

    def spawn(
        self,
        name: str,
        cmd: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
        # A session of its own: Ctrl-C reaches only the benchmark, which stops them in order.
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True
        )
        self._procs.append((stop_signal, proc, out))
        return proc

    def stop(self, procs: list[subprocess.Popen[bytes]] | None = None, timeout: float = 30) -> None:
        """SIGTERM (ffmpeg and uvicorn finish their files on it; unlike SIGINT it is not
        ignored by children of a shell's background job), then SIGKILL."""
        chosen = [p for p in self._procs if procs is None or p[1] in procs]
        for sig, proc, _ in chosen:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        for _, proc, out in chosen:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()
        self._procs = [p for p in self._procs if p not in chosen]


# ------------------------------------------------------------------------------ sampling
@dataclass
class MemorySeries:
    """RSS and PSS of a group of processes: the last sample and the peak."""

    rss: int = 0
    pss: int = 0
    peak_rss: int = 0
    peak_pss: int = 0

    def sample(self, pids: list[int]) -> None:
        rss = pss = 0
        for pid in pids:
            r, p = memory_bytes(pid)
            rss += r
            pss += p if p is not None else r
        self.rss, self.pss = rss, pss
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)


@dataclass
class CpuWindow:
    """CPU seconds of a group of processes between two instants."""

    pids: list[int]
    start: float = 0.0
    end: float = 0.0

    @staticmethod
    def _read(pids: list[int]) -> float:
        return sum(cpu_seconds(pid) or 0.0 for pid in pids)

    def begin(self) -> None:
        self.start = self._read(self.pids)

    def finish(self) -> None:
        self.end = self._read(self.pids)

    def percent(self, wall: float) -> float:
        return 100.0 * (self.end - self.start) / wall


# ------------------------------------------------------------------------------ results
@dataclass
class SideResult:
    """One side's figures (Vigil or the ffmpeg baseline)."""

    name: str
    processes: int
    cpu_percent: float  # of one core, all processes of the side
    rss_mb: float
    pss_mb: float
    peak_rss_mb: float
    mem_per_camera_mb: float  # the figure held against the bar
    mem_per_camera_label: str
    rss_per_camera_mb: float
    pss_per_camera_mb: float
    cameras_ok: int  # online / still running at the end
    fps_min: float
    fps_mean: float
    fps_max: float
    segments: int
    breaks: int  # holes between consecutive segments (or processes that died)
    gap_rows: int
    recorded_s: float
    expected_s: float
    min_coverage: float  # of recorded / expected, for "no gap"
    notes: list[str] = field(default_factory=list)

    def cpu_per_camera(self, n: int) -> float:
        return self.cpu_percent / n

    def cameras_per_core(self, n: int) -> float:
        per = self.cpu_per_camera(n)
        return 100.0 / per if per > 0 else float("inf")

    def coverage(self) -> float:
        return self.recorded_s / self.expected_s if self.expected_s else 0.0

    def no_gap(self, n: int) -> bool:
        return (
            self.breaks == 0
            and self.gap_rows == 0
            and self.cameras_ok == n
            and self.coverage() >= self.min_coverage
            and abs(self.fps_min - EXPECTED_FPS) <= 1.5
        )

    def verdict(self, n: int) -> tuple[bool, list[str]]:
        failed = []
        if self.cameras_per_core(n) < MIN_CAMERAS_PER_CORE:
            failed.append("cpu")
        if self.mem_per_camera_mb > MAX_MB_PER_CAMERA:
            failed.append("memory")
        if not self.no_gap(n):
            failed.append("gaps")
        return not failed, failed


# ------------------------------------------------------------------------------ the run
@dataclass
class Options:
    cameras: int
    seconds: float
    warmup: float
    baseline: bool
    workdir: Path
    segment_seconds: float
    keep: bool
    py_spy: Path | None


class Bench:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.n = opts.cameras
        self.run_dir = opts.workdir / f"run-{opts.cameras}"
        self.data_dir = self.run_dir / "vigil-data"
        self.base_dir = self.run_dir / "baseline"
        self.procs = Processes()
        self.db: Database | None = None
        self.sim: Simulator | None = None

    # -- set-up ------------------------------------------------------------------------
    def prepare_clip(self) -> Path:
        with console.status("Clip: generating 1080p25 ~4 Mbit/s H.264 (once, cached)..."):
            clip = make_clip(self.o.workdir)
        probe = ffprobe(clip)
        assert probe is not None, f"cannot read {clip}"
        console.print(
            f"Clip: {clip.relative_to(self.o.workdir)}: {probe.width}x{probe.height} "
            f"@ {probe.fps} fps, {probe.duration:.1f} s, [bold]{probe.bit_rate / 1e6:.2f} Mbit/s[/]"
            f" (ffprobe), GOP {CLIP_GOP}, no B-frames, Main profile"
        )
        return clip

    def start_simulator(self, clip: Path) -> tuple[list[str], list[str]]:
        mounts = {f"vigil-{i:03d}": clip for i in range(1, self.n + 1)}
        if self.o.baseline:
            mounts |= {f"base-{i:03d}": clip for i in range(1, self.n + 1)}
        with console.status(f"Simulator: starting {len(mounts)} RTSP mounts..."):
            self.sim = Simulator(mounts, port=0, cache_dir=self.o.workdir / "sim-cache")
        vigil = [self.sim.url_for(f"vigil-{i:03d}") for i in range(1, self.n + 1)]
        base = (
            [self.sim.url_for(f"base-{i:03d}") for i in range(1, self.n + 1)]
            if self.o.baseline
            else []
        )
        console.print(f"Simulator: {len(mounts)} mounts on port {self.sim.port}")
        return vigil, base

    def simulator_pids(self) -> list[int]:
        return [pid for pid, cmd in child_pids(os.getpid()).items() if "gst_server.py" in cmd]

    def start_vigil(self) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
        db_url = f"sqlite:///{(self.data_dir / 'vigil.db').resolve()}"
        self.data_dir.mkdir(parents=True)
        migrate(db_url)
        self.db = Database(db_url)
        server_port, recorder_port = free_port(), free_port()
        env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(self.data_dir.resolve()),
            "VIGIL_DATABASE_URL": db_url,
            "VIGIL_SERVER__PORT": str(server_port),
            "VIGIL_RECORDER__PORT": str(recorder_port),
            "VIGIL_STORAGE__SEGMENT_SECONDS": str(self.o.segment_seconds),
            "VIGIL_STORAGE__MIN_FREE_BYTES": "0",
        }
        python = sys.executable
        with console.status("Vigil: starting server and recorder..."):
            server = self.procs.spawn(
                "server", [python, "-m", "vigil", "server"], self.run_dir / "server.log", env
            )
            wait_for(lambda: http_ok(f"http://127.0.0.1:{server_port}/api/health"), 60, "server up")
            recorder = self.procs.spawn(
                "recorder", [python, "-m", "vigil", "recorder"], self.run_dir / "recorder.log", env
            )
            self.recorder_health = f"http://127.0.0.1:{recorder_port}/media/health"
            wait_for(lambda: http_ok(self.recorder_health), 60, "recorder up")
        console.print(
            f"Vigil: server :{server_port}, recorder :{recorder_port} (pid {recorder.pid})"
        )
        return server, recorder

    def add_cameras(self, urls: list[str]) -> None:
        assert self.db is not None
        for i, url in enumerate(urls, 1):
            camera_store.create_camera(self.db, name=f"bench-{i:03d}", main_url=url)

    def start_baseline(self, urls: list[str]) -> list[subprocess.Popen[bytes]]:
        procs = []
        for i, url in enumerate(urls, 1):
            out = self.base_dir / f"cam-{i:03d}"
            out.mkdir(parents=True)
            cmd = [
                *("ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp"),
                *("-i", url, "-c", "copy", "-map", "0", "-f", "segment"),
                *("-segment_time", f"{self.o.segment_seconds:g}", "-segment_format", "mp4"),
                *("-reset_timestamps", "1", "-segment_format_options"),
                *("movflags=frag_keyframe+empty_moov+default_base_moof", str(out / "%05d.mp4")),
            ]
            procs.append(self.procs.spawn(f"ffmpeg-{i}", cmd, out / "ffmpeg.log"))
        return procs

    # -- helpers -----------------------------------------------------------------------
    def countdown(self, what: str, seconds: float, tick: Callable[[], None] | None = None) -> None:
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(what, total=seconds)
            start = time.monotonic()
            next_tick = start
            while (elapsed := time.monotonic() - start) < seconds:
                progress.update(task, completed=elapsed)
                if tick and time.monotonic() >= next_tick:
                    tick()
                    next_tick += 2.0
                time.sleep(min(0.25, max(0.0, seconds - elapsed)))
            progress.update(task, completed=seconds)
        console.print(f"{what}: done ({seconds:.0f} s)")

    def online_count(self) -> int:
        assert self.db is not None
        health = camera_store.health_of(self.db)
        return sum(1 for h in health.values() if h.status == "online")

    # -- the run -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        o, n = self.o, self.n
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        clip = self.prepare_clip()
        vigil_urls, base_urls = self.start_simulator(clip)
        server, recorder = self.start_vigil()

        # The recorder idle, with no camera: its fixed cost.
        idle_cpu = CpuWindow([recorder.pid])
        self.countdown("Recorder idle (no camera): settling", 3)
        idle_cpu.begin()
        idle_t0 = time.monotonic()
        self.countdown("Recorder idle (no camera): measuring", 5)
        idle_cpu.finish()
        idle_wall = time.monotonic() - idle_t0
        idle_rss, idle_pss_opt = memory_bytes(recorder.pid)
        idle_pss = idle_pss_opt if idle_pss_opt is not None else idle_rss
        console.print(
            f"Recorder idle: RSS {idle_rss / MB:.1f} MB, PSS {idle_pss / MB:.1f} MB, "
            f"CPU {idle_cpu.percent(idle_wall):.2f} % of a core"
        )

        # Cameras on both sides at once; the recorder picks new cameras up on its next round.
        self.add_cameras(vigil_urls)
        ffmpegs = self.start_baseline(base_urls) if o.baseline else []
        ffmpeg_started = time.monotonic()
        with console.status(f"Waiting for {n} cameras to come online in Vigil..."):
            try:
                wait_for(lambda: self.online_count() == n, 60, f"{n} cameras online")
            except RuntimeError as exc:
                console.print(f"[yellow]{exc}: {self.online_count()} online; going on[/]")
        self.countdown("Warm-up", o.warmup)

        # The measured window.
        sim_pids = self.simulator_pids()
        ffmpeg_pids = [p.pid for p in ffmpegs]
        windows = {
            "vigil": CpuWindow([recorder.pid]),
            "baseline": CpuWindow(ffmpeg_pids),
            "simulator": CpuWindow(sim_pids),
            "server": CpuWindow([server.pid]),
        }
        mem = {"vigil": MemorySeries(), "baseline": MemorySeries()}

        def sample_memory() -> None:
            mem["vigil"].sample([recorder.pid])
            if ffmpeg_pids:
                mem["baseline"].sample(ffmpeg_pids)

        profiler = self.start_py_spy(recorder.pid)
        for w in windows.values():
            w.begin()
        everyone0 = all_process_cpu()
        self_t0 = os.times()
        wall0 = time.monotonic()
        window_start = datetime.now(UTC)
        self.countdown(f"Measuring {n} cameras on each side", o.seconds, tick=sample_memory)
        window_end = datetime.now(UTC)
        wall = time.monotonic() - wall0
        for w in windows.values():
            w.finish()
        everyone1 = all_process_cpu()
        self_t1 = os.times()
        our_pids = {os.getpid(), *child_pids(os.getpid())}
        sample_memory()
        if profiler is not None:
            self.procs.stop([profiler], timeout=60)

        # Health before stopping (stopping marks every camera disabled).
        assert self.db is not None
        health = camera_store.health_of(self.db)
        ffmpeg_alive = sum(1 for p in ffmpegs if p.poll() is None)
        with console.status("Stopping recorder, server and ffmpeg..."):
            ffmpeg_ran = time.monotonic() - ffmpeg_started
            self.procs.stop([recorder, *ffmpegs])
            self.procs.stop([server])

        with console.status("Checking recordings (database, ffprobe)..."):
            vigil = self.vigil_result(
                window_start,
                window_end,
                windows["vigil"].percent(wall),
                mem["vigil"],
                idle_rss,
                idle_pss,
                health,
            )
            baseline = (
                self.baseline_result(
                    windows["baseline"].percent(wall),
                    mem["baseline"],
                    ffmpeg_alive,
                    ffmpeg_ran,
                )
                if o.baseline
                else None
            )

        cores = os.cpu_count() or 1
        self_pct = (
            100.0 * ((self_t1.user + self_t1.system) - (self_t0.user + self_t0.system)) / wall
        )
        other_pct = 100.0 * other_cpu_seconds(everyone0, everyone1, our_pids) / wall
        others = {
            "simulator_cpu_percent": windows["simulator"].percent(wall),
            "simulator_mounts": len(vigil_urls) + len(base_urls),
            "server_cpu_percent": windows["server"].percent(wall),
            "bench_cpu_percent": self_pct,
            "machine_cores": cores,
            "other_load_percent": other_pct,
            "window_s": wall,
            "idle_recorder_cpu_percent": idle_cpu.percent(idle_wall),
            "idle_recorder_rss_mb": idle_rss / MB,
            "idle_recorder_pss_mb": idle_pss / MB,
        }
        return {"vigil": vigil, "baseline": baseline, "others": others}

    def start_py_spy(self, pid: int) -> subprocess.Popen[bytes] | None:
        if self.o.py_spy is None:
            return None
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            console.print("[yellow]py-spy not found: pip install py-spy; profiling skipped[/]")
            return None
        out = self.o.py_spy.resolve()
        fmt = (
            "speedscope"
            if out.suffix == ".json"
            else "raw"
            if out.suffix == ".txt"
            else "flamegraph"
        )
        cmd = [exe, "record", "-p", str(pid), "-d", str(int(self.o.seconds)), "-r", "100"]
        cmd += ["--threads", "--nonblocking", "-f", fmt, "-o", str(out)]
        console.print(f"py-spy: profiling the recorder into {out} (adds its own load)")
        # py-spy writes its profile on SIGINT.
        return self.procs.spawn("py-spy", cmd, self.run_dir / "py-spy.log", None, signal.SIGINT)

    # -- analysis ------------------------------------------------------------------------
    def vigil_result(
        self,
        start: datetime,
        end: datetime,
        cpu: float,
        mem: MemorySeries,
        idle_rss: int,
        idle_pss: int,
        health: dict[int, Any],
    ) -> SideResult:
        assert self.db is not None
        n = self.n
        window = (end - start).total_seconds()
        segments = breaks = gap_rows = 0
        recorded = 0.0
        notes: list[str] = []
        files: list[Path] = []
        db_seconds = 0.0
        root = self.data_dir / "recordings"
        for camera in camera_store.list_cameras(self.db):
            segs = recordings.segments_between(self.db, camera.id, start, end)
            gap_rows += len(recordings.gaps_between(self.db, camera.id, start, end))
            segments += len(segs)
            previous: datetime | None = None
            for seg in segs:
                seg_end = seg.end or end
                if previous is not None:
                    jump = (seg.start - previous).total_seconds()
                    if abs(jump) > CONTIGUITY_TOLERANCE_S:
                        breaks += 1
                        notes.append(f"camera {camera.id}: {jump:+.3f} s between segments")
                previous = seg_end
                overlap = (min(seg_end, end) - max(seg.start, start)).total_seconds()
                recorded += max(0.0, overlap)
                db_seconds += (seg_end - seg.start).total_seconds()
                files.append(root / seg.path)
        probes = probe_all(files)
        file_seconds = sum(p.duration for p in probes.values() if p)
        file_frames = sum(p.packets for p in probes.values() if p)
        unreadable = sum(1 for p in probes.values() if p is None)
        if unreadable:
            notes.append(f"{unreadable} segment files unreadable")
        notes.append(
            f"segment files (ffprobe): {file_seconds:.1f} s, {file_frames} frames "
            f"({file_frames / file_seconds if file_seconds else 0:.2f} fps) for {db_seconds:.1f} s "
            f"in the index"
        )
        fps = [h.fps for h in health.values()] or [0.0]
        online = sum(1 for h in health.values() if h.status == "online")
        rss_marginal = (mem.rss - idle_rss) / n / MB
        pss_marginal = (mem.pss - idle_pss) / n / MB
        notes.append(f"marginal PSS per camera {pss_marginal:.2f} MB")
        return SideResult(
            name="Vigil recorder",
            processes=1,
            cpu_percent=cpu,
            rss_mb=mem.rss / MB,
            pss_mb=mem.pss / MB,
            peak_rss_mb=mem.peak_rss / MB,
            mem_per_camera_mb=rss_marginal,
            mem_per_camera_label="(RSS - idle RSS) / N",
            rss_per_camera_mb=mem.rss / n / MB,
            pss_per_camera_mb=mem.pss / n / MB,
            cameras_ok=online,
            fps_min=min(fps),
            fps_mean=statistics.fmean(fps),
            fps_max=max(fps),
            segments=segments,
            breaks=breaks,
            gap_rows=gap_rows,
            recorded_s=recorded,
            expected_s=window * n,
            min_coverage=0.995,
            notes=notes,
        )

    def baseline_result(
        self, cpu: float, mem: MemorySeries, alive: int, ran_s: float
    ) -> SideResult:
        n = self.n
        files = sorted(self.base_dir.glob("cam-*/*.mp4"))
        probes = probe_all(files)
        per_camera_fps: list[float] = []
        missing: list[float] = []
        notes: list[str] = []
        recorded = 0.0
        for cam in sorted(self.base_dir.glob("cam-*")):
            mine = [probes[f] for f in files if f.parent == cam]
            seconds = sum(p.duration for p in mine if p)
            frames = sum(p.packets for p in mine if p)
            recorded += seconds
            missing.append(ran_s - seconds)
            per_camera_fps.append(frames / seconds if seconds else 0.0)
            errors = (cam / "ffmpeg.log").read_text(errors="replace").strip()
            if errors:
                notes.append(f"{cam.name}: {errors.splitlines()[-1][:120]}")
        unreadable = sum(1 for p in probes.values() if p is None)
        if unreadable:
            notes.append(f"{unreadable} segment files unreadable")
        notes.append(
            f"recorded = sum of file durations; expected = {ran_s:.1f} s from spawn to stop "
            f"per camera, which includes connecting and waiting for the first keyframe; "
            f"most missing from one camera {max(missing, default=0):.2f} s (a break if over "
            f"{BASELINE_START_ALLOWANCE_S:.1f} s)"
        )
        fps = per_camera_fps or [0.0]
        return SideResult(
            name="ffmpeg per camera",
            processes=n,
            cpu_percent=cpu,
            rss_mb=mem.rss / MB,
            pss_mb=mem.pss / MB,
            peak_rss_mb=mem.peak_rss / MB,
            mem_per_camera_mb=mem.pss / n / MB,
            mem_per_camera_label="PSS / N",
            rss_per_camera_mb=mem.rss / n / MB,
            pss_per_camera_mb=mem.pss / n / MB,
            cameras_ok=alive,
            fps_min=min(fps),
            fps_mean=statistics.fmean(fps),
            fps_max=max(fps),
            segments=len(files),
            breaks=(n - alive) + sum(1 for m in missing if m > BASELINE_START_ALLOWANCE_S),
            gap_rows=0,
            recorded_s=recorded,
            expected_s=ran_s * n,
            min_coverage=0.0,  # judged per camera: see breaks
            notes=notes,
        )

    def cleanup(self) -> None:
        self.procs.stop(timeout=20)
        if self.sim is not None:
            self.sim.stop()
            self.sim = None
        if self.db is not None:
            self.db.dispose()
        if not self.o.keep and self.run_dir.exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)


# ------------------------------------------------------------------------------ report
def report(opts: Options, results: dict[str, Any]) -> None:
    n = opts.cameras
    sides: list[SideResult] = [s for s in (results["vigil"], results["baseline"]) if s]
    others = results["others"]

    table = Table(title=f"Recording {n} cameras x 1080p25 ~4 Mbit/s, {others['window_s']:.0f} s")
    table.add_column("")
    for side in sides:
        table.add_column(side.name, justify="right")
    table.add_column("bar", justify="right")

    def row(label: str, values: list[str], bar: str = "") -> None:
        table.add_row(label, *values, bar)

    row("processes", [str(s.processes) for s in sides])
    row("CPU, all cameras (% of a core)", [f"{s.cpu_percent:.1f}" for s in sides])
    row("CPU per camera (% of a core)", [f"{s.cpu_per_camera(n):.3f}" for s in sides], "<= 0.5")
    row(
        "cameras per core",
        [f"{s.cameras_per_core(n):.0f}" for s in sides],
        f">= {MIN_CAMERAS_PER_CORE:.0f}",
    )
    row("RSS total (MB)", [f"{s.rss_mb:.1f}" for s in sides])
    row("PSS total (MB)", [f"{s.pss_mb:.1f}" for s in sides])
    row("peak RSS total (MB)", [f"{s.peak_rss_mb:.1f}" for s in sides])
    row(
        "memory per camera (MB)",
        [f"{s.mem_per_camera_mb:.2f} {s.mem_per_camera_label}" for s in sides],
        f"<= {MAX_MB_PER_CAMERA:.0f}",
    )
    row("RSS / N (MB)", [f"{s.rss_per_camera_mb:.2f}" for s in sides])
    row("PSS / N (MB)", [f"{s.pss_per_camera_mb:.2f}" for s in sides])
    row("cameras online / running", [f"{s.cameras_ok}/{n}" for s in sides], f"{n}/{n}")
    row(
        "fps min / mean / max",
        [f"{s.fps_min:.1f} / {s.fps_mean:.1f} / {s.fps_max:.1f}" for s in sides],
        "~25",
    )
    row("segments", [str(s.segments) for s in sides])
    row("breaks between segments", [str(s.breaks) for s in sides], "0")
    row("gap rows", [str(s.gap_rows) for s in sides], "0")
    row(
        "recorded / expected (s)",
        [f"{s.recorded_s:.1f} / {s.expected_s:.1f} ({100 * s.coverage():.2f} %)" for s in sides],
    )
    verdicts = [s.verdict(n) for s in sides]
    row(
        "verdict",
        [
            "[green]PASS[/]" if ok else f"[red]FAIL[/] ({', '.join(failed)})"
            for ok, failed in verdicts
        ],
    )
    console.print(table)

    extra = Table(title="Not counted (same window)", show_header=False)
    extra.add_row(
        f"simulator ({others['simulator_mounts']} mounts)",
        f"{others['simulator_cpu_percent']:.1f} % of a core",
    )
    extra.add_row("vigil server", f"{others['server_cpu_percent']:.1f} % of a core")
    extra.add_row("this benchmark", f"{others['bench_cpu_percent']:.1f} % of a core")
    extra.add_row("other processes (noise)", f"{others['other_load_percent']:.1f} % of a core")
    extra.add_row(
        "recorder idle, no camera",
        f"RSS {others['idle_recorder_rss_mb']:.1f} MB, PSS {others['idle_recorder_pss_mb']:.1f}"
        f" MB, CPU {others['idle_recorder_cpu_percent']:.2f} %",
    )
    console.print(extra)
    for side in sides:
        for note in side.notes[:12]:
            console.print(f"[dim]{side.name}: {note}[/]")

    # Plain summary, one line per side, for logs and diffs.
    print(f"recording cameras={n} seconds={others['window_s']:.1f} cores={others['machine_cores']}")
    for side, (ok, failed) in zip(sides, verdicts, strict=True):
        print(
            f"  {side.name}: cpu_total={side.cpu_percent:.1f}% "
            f"cpu_per_camera={side.cpu_per_camera(n):.3f}% "
            f"cameras_per_core={side.cameras_per_core(n):.0f} "
            f"mem_per_camera={side.mem_per_camera_mb:.2f}MB[{side.mem_per_camera_label}] "
            f"rss_total={side.rss_mb:.1f}MB pss_total={side.pss_mb:.1f}MB "
            f"rss_per_camera={side.rss_per_camera_mb:.2f}MB "
            f"pss_per_camera={side.pss_per_camera_mb:.2f}MB "
            f"online={side.cameras_ok}/{n} fps={side.fps_min:.1f}/{side.fps_mean:.1f}"
            f"/{side.fps_max:.1f} segments={side.segments} breaks={side.breaks} "
            f"gap_rows={side.gap_rows} coverage={100 * side.coverage():.2f}% "
            f"-> {'PASS' if ok else 'FAIL (' + ', '.join(failed) + ')'}"
        )
    print(
        f"  not counted: simulator={others['simulator_cpu_percent']:.1f}% "
        f"server={others['server_cpu_percent']:.1f}% bench={others['bench_cpu_percent']:.1f}% "
        f"other_load={others['other_load_percent']:.1f}%"
    )

    out = opts.workdir / f"results-{n}.json"
    out.write_text(
        json.dumps(
            {
                "options": {**asdict(opts), "workdir": str(opts.workdir), "py_spy": None},
                "vigil": asdict(results["vigil"]),
                "baseline": asdict(results["baseline"]) if results["baseline"] else None,
                "others": others,
            },
            indent=2,
            default=str,
        )
    )
    print(f"  results: {out}")


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="Recording benchmark: N simulated 1080p25 ~4 Mbit/s cameras recorded by "
        "one vigil recorder, side by side with one ffmpeg -f segment per camera."
    )
    parser.add_argument("--cameras", type=int, default=16, help="cameras on each side")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10, help="seconds before measuring")
    parser.add_argument("--no-baseline", action="store_true", help="Vigil only, no ffmpeg")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO / ".bench" / "recording",
        help="clip cache, recordings and results (default: .bench/recording)",
    )
    parser.add_argument("--segment-seconds", type=float, default=10.0, help="on both sides")
    parser.add_argument("--keep", action="store_true", help="keep the recordings afterwards")
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="profile the recorder over the window with py-spy (.svg, .json speedscope, .txt)",
    )
    a = parser.parse_args(argv)
    if a.cameras < 1 or a.seconds <= 0 or a.warmup < 0:
        parser.error("--cameras must be >= 1, --seconds > 0, --warmup >= 0")
    return Options(
        cameras=a.cameras,
        seconds=a.seconds,
        warmup=a.warmup,
        baseline=not a.no_baseline,
        workdir=a.workdir.resolve(),
        segment_seconds=a.segment_seconds,
        keep=a.keep,
        py_spy=a.py_spy,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    opts.workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(opts)
    with interruptible():
        try:
            results = bench.run()
        except KeyboardInterrupt:
            console.print("[yellow]Interrupted: stopping everything.[/]")
            return 130
        except (RuntimeError, OSError, subprocess.CalledProcessError, SimulatorError) as exc:
            console.print(f"[red]benchmark failed: {exc}[/]")
            bench.o.keep = True  # keep the logs to look at
            console.print(f"logs kept in {bench.run_dir}")
            return 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut it short
            with console.status("Cleaning up..."):
                bench.cleanup()
    report(opts, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

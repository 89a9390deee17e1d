"""Soak benchmark: the demo's cameras plus N simulated ones with analytics on, recorded for
hours by one `vigil server` and one `vigil recorder`, while camera faults are injected.

Prints at intervals and at the end: memory (RSS and PSS from /proc/<pid>/smaps_rollup) and
CPU of each process (server, recorder, simulator, and this benchmark with its fault proxy),
gaps from the timeline API with their reasons, error and warning counts of each process's
log, reconnects, events and alarms (the samples also go to `samples.csv` in the run's log
folder: seconds, process, RSS, PSS, CPU seconds); then a verdict line per bar: memory flat
for the server and the recorder (growth under 5 % after the first 10 minutes; the
simulator's, test equipment, is shown), no error logs, no gaps other than the injected
faults', and each fault ended in a recorded gap with its reason and a clean resume. It is
a benchmark: the exit code is 0 whatever the figures (1 only when it could not run).

Memory is judged on RSS (the median of three samples at the settled mark against the last
three); PSS is printed too, but it moves with whatever else maps the same libraries (other
Python processes of the same virtual environment), so it is not held against the bar.

    .venv/bin/python bench/soak.py --hours 8
    .venv/bin/python bench/soak.py --hours 0.15 --cameras 4     # a short trial

The stack runs as `vigil demo` runs it (simulator, server and recorder as processes, the
demo's rules), on SQLite in a temporary data directory (deleted at the end unless
`--keep-data`; recordings within `--disk-budget-gb`), logs in the work directory. Every
camera is read through a fault-injecting RTSP proxy (`vigil.devices.simulator.faults`)
between the recorder and the simulator; `soak_faults.py` picks the faults and checks them.
The demo's cameras get no faults (a control group); the N others (`soak-01`...) serve the
demo's clips in turn, with the analytics the demo gives the clip they show
(`vigil.demo.DEMO_ANALYTICS`), and take the faults in turn:

* cut: the connection is reset and the camera stays unreachable for 5 s;
* garbage: random bytes between two interleaved RTP frames;
* stall: nothing is forwarded for longer than the recorder's read timeout;
* resolution: in the same RTSP session the video switches, at a keyframe, to another
  resolution (new SPS/PPS in-band), as when an operator changes it on the camera;
* restart: the connection is reset and the camera comes back with another stream at the
  same URL (a new SPS).

Per fault, the camera's timeline must show a gap that starts at the fault, with a reason,
followed by recording again: the first segment after it (indexed at the size the camera
now sends, and all its frames decoded by FFmpeg at that size without an error) and the
camera's status (online). A fault without its
gap and resume within 90 s counts as failed, with what the recorder did instead (the
camera's status and last frame, and the segment across the fault: its length in the index
against the video in its file); the camera is then cut once to bring it back for the rest
of the soak (that cut's gap counts as the fault's). Faults come in turn, at most every 10
minutes and never two at once on one camera, each kind at least once when the run is long
enough; the first after a minute. The spare streams they switch cameras to are played from
the start, so that their simulator pipelines do not start in the middle of the soak. Once a
resolution or restart fault is checked, its camera is switched back to its own stream (a
"back" fault, a resolution change checked like the others), so that the workload at the
end, against which memory is judged, is the one at the start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import LogWatch, admin_headers, cpu_seconds, free_port, http_ok, interruptible
from common import wait_for as wait_until
from recording import Processes, ffprobe, memory_bytes
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from soak_faults import (
    ALT_SIZES,
    FAULTS,
    RESUME_TIMEOUT_S,
    Fault,
    FaultDrill,
    SpareViewer,
    cameras,
    parse_time,
    span_s,
    timeline,
)
from sqlalchemy import func, select

from vigil.demo import (
    DEMO_ANALYTICS,
    configure_analytics,
    demo_clips,
    register_cameras,
    seed_rules,
)
from vigil.devices.simulator import Simulator, SimulatorError, generate_test_clip
from vigil.devices.simulator.faults import FaultProxy
from vigil.store.db import Database
from vigil.store.models import Alarm, EventRecord

# Bars of the issue.
MAX_MEMORY_GROWTH = 0.05
SETTLE_S = 600.0  # memory is compared from here on
# When faults come (what they are: soak_faults.py).
FIRST_FAULT_S = 60.0
MAX_FAULT_EVERY_S = 600.0
# The stack. A soak camera showing a clip the demo has no analytics for gets this.
ANALYTICS_ELSE = {
    "enabled": True,
    "detector": {"type": "motion"},
    "zones": [{"name": "all", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
    "behaviours": [{"type": "intrusion", "zone": "all"}],
}
ONLINE_TIMEOUT_S = 90.0
MB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
# Vigil's own processes are held to the memory bar. The simulator is test equipment
# (GStreamer's RTSP server, whose buffer pools grow with the clients it has served): its
# figure is printed beside the verdict, not judged.
JUDGED = ("server", "recorder")
SHOWN = ("simulator",)

# Reports are wide: keep them whole when the output goes to a file.
console = Console(width=None if sys.stdout.isatty() else 132)


@dataclass
class Options:
    hours: float
    cameras: int
    faults: list[str]
    fault_every_s: float | None
    report_every_s: float | None
    models_dir: Path
    workdir: Path
    keep_data: bool
    disk_budget_gb: float


@dataclass
class Series:
    """Samples of one process: (seconds into the soak, RSS, PSS, CPU seconds so far)."""

    pid: int
    samples: list[tuple[float, int, int, float]] = field(default_factory=list)

    def sample(self, t: float) -> None:
        rss, pss = memory_bytes(self.pid)
        self.samples.append((t, rss, pss if pss is not None else rss, cpu_seconds(self.pid) or 0))

    def cpu_percent(self, since: float = 0.0) -> float:
        """Mean CPU (% of one core) from the first sample at or after ``since``."""
        first = next((s for s in self.samples if s[0] >= since), self.samples[0])
        last = self.samples[-1]
        return 100 * (last[3] - first[3]) / (last[0] - first[0]) if last[0] > first[0] else 0.0

    def growth(self, settle: float) -> tuple[float, float] | None:
        """(RSS, PSS) growth from the settled level to the end: each the median of three
        samples (noise of GOP buffers and allocator), as a fraction; None before there are
        samples to compare (a run stopped before the settled mark)."""
        after = [s for s in self.samples if s[0] >= settle]
        if len(after) < 4:
            return None
        head, tail = after[:3], after[-3:]

        def change(i: int) -> float:
            return statistics.median(s[i] for s in tail) / statistics.median(s[i] for s in head) - 1

        return change(1), change(2)


class Soak:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.duration = opts.hours * 3600
        self.run_dir = opts.workdir / "run"
        self.data_dir = Path(tempfile.mkdtemp(prefix="vigil-soak-"))
        self.procs = Processes()
        self.sim: Simulator | None = None
        self.proxy: FaultProxy | None = None
        self.viewers: list[SpareViewer] = []
        self.db: Database | None = None
        self.http = httpx.Client()  # the server's API as an administrator, once it runs
        self.ids: dict[str, int] = {}  # camera name -> id
        self.series: dict[str, Series] = {}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, LogWatch] = {}
        self.drill: FaultDrill | None = None
        self.gaps: dict[tuple[str, str], dict[str, Any]] = {}  # (camera, start) -> gap
        self.started = datetime.now(UTC)
        self.t0 = time.monotonic()
        self.settle = min(SETTLE_S, self.duration / 3)
        self.fault_every = opts.fault_every_s or self._fault_spacing()
        self.report_every = opts.report_every_s or min(600.0, max(60.0, self.duration / 4))

    def _fault_spacing(self) -> float:
        if not self.o.faults:
            return self.duration
        usable = self.duration - FIRST_FAULT_S - RESUME_TIMEOUT_S - 30
        return max(RESUME_TIMEOUT_S / 2, min(MAX_FAULT_EVERY_S, usable / len(self.o.faults)))

    # -- set-up ------------------------------------------------------------------------
    def start(self) -> None:
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        clips = demo_clips(self.o.workdir)
        alts, spares = {}, {}
        for w, h in ALT_SIZES:
            path = self.o.workdir / "clips" / f"alt-{w}x{h}.mp4"
            if not path.exists():
                generate_test_clip(path, seconds=10, width=w, height=h, gop=25)
            alts[f"alt-{w}x{h}"], spares[f"alt-{w}x{h}"] = path, (w, h)
        mounts = {c.stem: c for c in clips}
        extra = [f"soak-{i:02d}" for i in range(1, self.o.cameras + 1)]
        mounts |= {name: clips[i % len(clips)] for i, name in enumerate(extra)}
        sizes = {}
        for name, clip in mounts.items():
            probe = ffprobe(clip)
            sizes[name] = (probe.width, probe.height) if probe else (0, 0)
        with console.status(f"Simulator: {len(mounts)} cameras and {len(alts)} spare streams"):
            # Started with SIGINT blocked (inherited), so that a Ctrl-C stops the soak, not
            # the cameras under its final report; cleanup() stops the simulator.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                self.sim = Simulator(
                    mounts | alts,
                    cache_dir=self.o.workdir / "sim-cache",
                    log=self.run_dir / "simulator.log",
                )
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.viewers = [SpareViewer(self.sim.url_for(m)) for m in alts]
        self.proxy = FaultProxy(self.sim.port)
        console.print(
            f"Simulator :{self.sim.port} behind the fault proxy :{self.proxy.port}; "
            f"data in {self.data_dir}, logs in {self.run_dir}"
        )
        self._start_vigil()
        # As the demo sets itself up, through the API; the soak's cameras get the demo's
        # analytics of the clip they show.
        seed_rules(self.http)
        register_cameras(self.http, {name: self.proxy.url_for(name) for name in mounts})
        self.ids = {c["name"]: c["id"] for c in cameras(self.http)}
        self.started = datetime.now(UTC)
        configure_analytics(self.http)
        for name in extra:
            config = DEMO_ANALYTICS.get(mounts[name].stem, ANALYTICS_ELSE)
            url = f"/api/cameras/{self.ids[name]}/analytics"
            self.http.put(url, json=config).raise_for_status()
        assert self.db is not None
        self.drill = FaultDrill(
            self.proxy,
            self.http,
            self.db,
            self.data_dir / "recordings",
            kinds=self.o.faults,
            cameras={name: self.ids[name] for name in extra},
            sizes=sizes,
            spares=spares,
        )
        with console.status(f"Waiting for {len(mounts)} cameras to come online..."):
            try:
                wait_until(lambda: self.online() == len(mounts), ONLINE_TIMEOUT_S, "cameras")
            except RuntimeError as exc:
                console.print(f"[yellow]{exc}: {self.online()} online; going on[/]")
        console.print(
            f"{len(clips)} demo cameras and {len(extra)} more, with the demo's analytics;"
            f" clips: {', '.join(c.name for c in clips)}"
        )

    def _start_vigil(self) -> None:
        db_url = f"sqlite:///{self.data_dir / 'vigil.db'}"
        server_port, recorder_port = free_port(), free_port()
        env = {
            **os.environ,
            "VIGIL_DATA_DIR": str(self.data_dir),
            "VIGIL_DATABASE_URL": db_url,
            "VIGIL_SERVER__PORT": str(server_port),
            "VIGIL_RECORDER__PORT": str(recorder_port),
            "VIGIL_STORAGE__MIN_FREE_BYTES": str(1024**3),  # as the demo
            # A long soak reaches it and then deletes the oldest footage as it records.
            "VIGIL_STORAGE__DISK_BUDGET_BYTES": str(int(self.o.disk_budget_gb * 1024**3)),
            "VIGIL_ANALYTICS__MODELS_DIR": str(self.o.models_dir),
        }
        python = sys.executable
        api = f"http://127.0.0.1:{server_port}"
        with console.status("Vigil: starting server and recorder..."):
            server = self.procs.spawn(
                "server", [python, "-m", "vigil", "server"], self.run_dir / "server.log", env
            )
            wait_until(lambda: http_ok(f"{api}/api/health"), 60, "server up")
            self.http = httpx.Client(base_url=api, headers=admin_headers(db_url), timeout=30)
            recorder = self.procs.spawn(
                "recorder", [python, "-m", "vigil", "recorder"], self.run_dir / "recorder.log", env
            )
            health = f"http://127.0.0.1:{recorder_port}/media/health"
            wait_until(lambda: http_ok(health), 60, "recorder up")
        self.db = Database(db_url)
        assert self.sim is not None
        pids = {
            "server": server.pid,
            "recorder": recorder.pid,
            "simulator": self.sim.pid,
            "bench+proxy": os.getpid(),
        }
        self.series = {name: Series(pid) for name, pid in pids.items()}
        self.logs = {
            name: LogWatch(self.run_dir / f"{name}.log") for name in ("server", "recorder")
        }
        self.logs["simulator"] = LogWatch(self.run_dir / "simulator.log")
        self.children = {"server": server, "recorder": recorder}

    def cleanup(self) -> None:
        self.procs.stop()
        if self.proxy is not None:
            self.proxy.stop()
        for viewer in self.viewers:
            viewer.stop()
        if self.sim is not None:
            self.sim.stop()
        if self.db is not None:
            self.db.dispose()
        self.http.close()
        if not self.o.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- what the API says -----------------------------------------------------------------
    def online(self) -> int:
        return sum(1 for c in cameras(self.http) if c["health"]["status"] == "online")

    def collect_gaps(self) -> None:
        """Every camera's gaps since the cameras were added (kept: retention may delete
        the footage around old ones)."""
        for name, camera_id in self.ids.items():
            for gap in timeline(self.http, camera_id, self.started)["gaps"]:
                self.gaps[(name, gap["start"])] = gap

    # -- the soak ----------------------------------------------------------------------------
    def run(self) -> None:
        self.start()
        drill = self.drill
        assert drill is not None
        self.t0 = time.monotonic()
        sample_every = min(30.0, max(5.0, self.duration / 100))
        next_sample, next_report = 0.0, self.report_every
        next_fault, fault_index = FIRST_FAULT_S, 0
        last_fault = self.duration - RESUME_TIMEOUT_S - 30
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("of {task.fields[total_s]}"),
        )
        total_s = str(timedelta(seconds=round(self.duration)))
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("soak", total=self.duration, total_s=total_s)
            while (t := time.monotonic() - self.t0) < self.duration or drill.pending():
                self.check_alive()
                if t >= next_sample:
                    self.sample(t)
                    next_sample += sample_every
                if self.o.faults and next_fault <= t < last_fault:
                    fault = drill.inject(fault_index)
                    if fault is not None:
                        progress.console.print(f"fault: {fault.kind} on {fault.camera}")
                        fault_index += 1
                    next_fault += self.fault_every
                for fault in drill.pending():
                    if drill.check(fault):
                        fault.done = True
                        mark = "[green]ok[/]" if fault.failure is None else "[red]FAILED[/]"
                        progress.console.print(f"{mark} {fault.line()}", highlight=False)
                        if (back := drill.bring_back(fault)) is not None:
                            progress.console.print(f"fault: {back.kind} on {back.camera}")
                if t >= next_report:
                    self.report_interval(progress.console, t, next_report - self.report_every)
                    next_report += self.report_every
                soon = self.o.faults and next_fault < last_fault
                upcoming = f", next fault at {next_fault:.0f} s" if soon else ""
                progress.update(
                    task, completed=min(t, self.duration), description=f"soak{upcoming}"
                )
                time.sleep(2.0)

    @property
    def faults(self) -> list[Fault]:
        return self.drill.faults if self.drill is not None else []

    def fault_of(self, camera: str, gap: dict[str, Any]) -> Fault | None:
        return self.drill.fault_of(camera, gap) if self.drill is not None else None

    def check_alive(self) -> None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} exited with code {proc.returncode}")

    def sample(self, t: float) -> None:
        """Memory and CPU of each process, into the series and ``samples.csv`` (to plot a
        long soak); the logs' new lines counted."""
        with (self.run_dir / "samples.csv").open("a") as csv:
            for name, series in self.series.items():
                series.sample(t)
                _, rss, pss, cpu = series.samples[-1]
                csv.write(f"{t:.0f},{name},{rss},{pss},{cpu:.2f}\n")
        for log in self.logs.values():
            log.update()

    # -- reports -----------------------------------------------------------------------------
    def process_table(self, title: str, *, since: float, final: bool) -> Table:
        """Memory and CPU of each process, CPU as the mean over the soak and since ``since``."""
        table = Table(title=title)
        columns = ["process", "RSS MB", "PSS MB", "peak RSS MB", "CPU % mean", "CPU % since"]
        if final:
            columns += ["RSS growth", "PSS growth"]
        columns += ["errors", "warnings"]
        for column in columns:
            table.add_column(column, justify="left" if column == "process" else "right")
        for name, series in self.series.items():
            _, rss, pss, _ = series.samples[-1]
            peak = max(s[1] for s in series.samples)
            row = [name, f"{rss / MB:.1f}", f"{pss / MB:.1f}", f"{peak / MB:.1f}"]
            row += [f"{series.cpu_percent():.1f}", f"{series.cpu_percent(since):.1f}"]
            if final:
                growth = series.growth(self.settle)
                row += [f"{g:+.1%}" for g in growth] if growth else ["-", "-"]
            log = self.logs.get(name)
            row += [str(log.errors), str(log.warnings)] if log else ["", ""]
            table.add_row(*row)
        return table

    def counts(self) -> dict[str, Any]:
        assert self.db is not None and self.proxy is not None
        self.collect_gaps()
        from_faults = sum(1 for (cam, _), g in self.gaps.items() if self.fault_of(cam, g))
        with self.db.session() as s:
            events = dict(
                s.execute(
                    select(EventRecord.type, func.count())
                    .where(EventRecord.at >= self.started)
                    .group_by(EventRecord.type)
                ).all()
            )
            alarms = s.scalar(select(func.count()).select_from(Alarm)) or 0
        reconnects = {n: max(0, self.proxy.accepted(n) - 1) for n in self.ids}
        return {
            "online": self.online(),
            "gaps": len(self.gaps),
            "fault_gaps": from_faults,
            "reconnects": reconnects,
            "events": events,
            "alarms": alarms,
        }

    def summary_line(self, c: dict[str, Any]) -> str:
        events = ", ".join(f"{k} {v}" for k, v in sorted(c["events"].items())) or "none"
        passed = sum(1 for f in self.faults if f.done and f.failure is None)
        failed = sum(1 for f in self.faults if f.done and f.failure is not None)
        return (
            f"cameras online {c['online']}/{len(self.ids)}; gaps {c['gaps']} "
            f"({c['fault_gaps']} from faults, {c['gaps'] - c['fault_gaps']} other); "
            f"reconnects {sum(c['reconnects'].values())}; events {sum(c['events'].values())} "
            f"({events}); alarms {c['alarms']}; faults {passed} passed, {failed} failed, "
            f"{sum(1 for f in self.faults if not f.done)} pending"
        )

    def report_interval(self, out: Console, t: float, since: float) -> None:
        title = f"{timedelta(seconds=round(t))} into the soak (CPU % since {since / 60:.0f} min)"
        out.print(self.process_table(title, since=since, final=False))
        out.print(self.summary_line(self.counts()), highlight=False)

    def report(self) -> None:
        t = self.series["recorder"].samples[-1][0]
        console.rule(f"Soak: {timedelta(seconds=round(t))}, {len(self.ids)} cameras")
        title = f"Processes (CPU % since the settled mark at {self.settle / 60:.0f} min)"
        console.print(self.process_table(title, since=self.settle, final=True))
        c = self.counts()
        console.print(self.summary_line(c), highlight=False)
        faults = Table(title="Faults")
        for column in ("at", "fault", "camera", "gap s", "reason", "result"):
            faults.add_column(column)
        for f in self.faults:
            faults.add_row(
                f"{f.at:%H:%M:%S}",
                f.kind,
                f.camera,
                f"{span_s(f.gap):.1f}" if f.gap else "",
                str(f.gap.get("reason")) if f.gap else "",
                f"FAIL: {f.failure}" if f.failure else f"ok: {f.segment}",
            )
        if self.faults:
            console.print(faults)
        gaps = Table(title="Gaps (timeline API)")
        for column in ("camera", "start", "s", "reason", "fault"):
            gaps.add_column(column)
        for (camera, start), gap in sorted(self.gaps.items(), key=lambda kv: kv[0][1]):
            fault = self.fault_of(camera, gap)
            gaps.add_row(
                camera,
                f"{parse_time(start):%H:%M:%S}",
                f"{span_s(gap):.1f}",
                str(gap.get("reason")),
                fault.kind if fault else "[red]none[/]",
            )
        console.print(gaps if self.gaps else "gaps (timeline API): none")
        reconnects = {n: k for n, k in c["reconnects"].items() if k}
        console.print(f"reconnects per camera (proxy): {reconnects or 'none'}")
        for name, log in self.logs.items():
            for line in log.first_errors:
                console.print(f"[red]{name} error:[/] {line}", highlight=False, markup=False)
        self.verdicts(c)
        console.print(f"logs in {self.run_dir}")

    def verdicts(self, c: dict[str, Any]) -> None:
        def say(ok: bool, text: str) -> None:
            mark = "[green]PASS[/]" if ok else "[red]FAIL[/]"
            console.print(f"{mark} {text}", highlight=False)

        growth = {n: g for n in JUDGED if (g := self.series[n].growth(self.settle))}
        if len(growth) < len(JUDGED):
            console.print(f"[yellow]SKIP[/] memory flat: the run ended before {self.settle:.0f} s")
        else:
            worst = max(rss for rss, _ in growth.values())
            figures = ", ".join(f"{n} RSS {r:+.1%} PSS {p:+.1%}" for n, (r, p) in growth.items())
            shown = {n: g for n in SHOWN if (g := self.series[n].growth(self.settle))}
            unjudged = ", ".join(f"{n} RSS {r:+.1%}" for n, (r, _) in shown.items())
            say(
                worst < MAX_MEMORY_GROWTH,
                f"memory flat after {self.settle / 60:.0f} min: {figures} "
                f"(bar: RSS < {MAX_MEMORY_GROWTH:.0%})"
                + (f"; not judged: {unjudged}" if unjudged else "")
                + (" [indicative only: a short run]" if self.settle < SETTLE_S else ""),
            )
        errors = {n: log.errors for n, log in self.logs.items()}
        say(sum(errors.values()) == 0, f"no error logs: {errors}")
        others = [
            f"{cam} {span_s(g):.1f} s {g.get('reason')!r}"
            for (cam, _), g in self.gaps.items()
            if self.fault_of(cam, g) is None
        ]
        say(not others, "no gaps other than the faults': " + ("; ".join(others) or "none"))
        for fault in self.faults:
            say(fault.failure is None, f"fault {fault.line()}")
        if not self.faults:
            why = "none asked for (--faults '')" if not self.o.faults else "the run was too short"
            console.print(f"[yellow]no fault was injected: {why}[/]")


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=8.0, help="how long (0.1 = 6 min)")
    parser.add_argument("--cameras", type=int, default=16, help="cameras besides the demo's")
    parser.add_argument(
        "--faults", default=",".join(FAULTS),
        help=f"kinds to inject in turn, comma-separated (of {', '.join(FAULTS)}; '' for none)",
    )  # fmt: skip
    parser.add_argument(
        "--fault-every", type=float, default=None, metavar="MIN",
        help="minutes between faults (default: spread over the run, at most 10)",
    )  # fmt: skip
    parser.add_argument(
        "--report-every", type=float, default=None, metavar="MIN",
        help="minutes between reports (default: a quarter of the run, at most 10)",
    )  # fmt: skip
    parser.add_argument(
        "--models-dir", type=Path, default=REPO.parent / "shared" / "models",
        help="the detector models (default: ../shared/models)",
    )  # fmt: skip
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".bench" / "soak",
        help="clips, simulator cache and the run's logs (default: .bench/soak)",
    )  # fmt: skip
    parser.add_argument("--keep-data", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--disk-budget-gb", type=float, default=20.0,
        help="the recordings' disk budget (default 20 GB: ~5 h of the default cameras)",
    )  # fmt: skip
    a = parser.parse_args(argv)
    faults = [f for f in a.faults.split(",") if f]
    if unknown := set(faults) - set(FAULTS):
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    if a.hours <= 0 or a.cameras < 1:
        parser.error("--hours must be > 0 and --cameras >= 1")
    return Options(
        a.hours, a.cameras, faults,
        a.fault_every * 60 if a.fault_every else None,
        a.report_every * 60 if a.report_every else None,
        a.models_dir.resolve(), a.workdir.resolve(), a.keep_data, a.disk_budget_gb,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    opts.workdir.mkdir(parents=True, exist_ok=True)
    soak = Soak(opts)
    code = 0
    with interruptible():
        try:
            soak.run()
        except KeyboardInterrupt:
            console.print("[yellow]Interrupted: reporting what was measured.[/]")
            code = 130
        except (RuntimeError, OSError, subprocess.CalledProcessError, SimulatorError) as exc:
            console.print(f"[red]soak failed: {exc}[/]\nlogs in {soak.run_dir}")
            code = 1
        except httpx.HTTPError as exc:
            console.print(f"[red]soak failed: {exc}[/]\nlogs in {soak.run_dir}")
            code = 1
        try:
            if soak.series and soak.series["recorder"].samples:
                soak.sample(time.monotonic() - soak.t0)
                soak.report()
        except (httpx.HTTPError, OSError) as exc:
            console.print(f"[red]final report incomplete: {exc}[/]")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            with console.status("Stopping..."):
                soak.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The soak benchmark's camera faults (`bench/soak.py`): which fault goes to which camera, and
whether each ended as it must, in a gap with its reason and a clean resume.

The faults themselves are `vigil.devices.simulator.faults.FaultProxy`'s; this module picks
them, the spare streams that the resolution change and the restart switch a camera to, and
checks the outcome through the server's API (timeline, camera health), the segment index
and FFmpeg (what the segments after and across a fault hold).
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from recording import ffprobe

from vigil.devices.rtsp import RtspSession
from vigil.devices.simulator.faults import FaultProxy
from vigil.media.ingest import READ_TIMEOUT_S
from vigil.store import recordings
from vigil.store.db import Database

FAULTS = ("cut", "garbage", "stall", "resolution", "restart")
DOWN_S = 5.0  # a cut camera is unreachable this long
STALL_S = READ_TIMEOUT_S + 5.0
GARBAGE_BYTES = 4096
RESUME_TIMEOUT_S = 90.0  # a fault's gap and the recording after it, by then
GAP_EARLY_S = 5.0  # a fault's gap starts at most this long before it (the last frame read)
ALT_SIZES = ((640, 360), (1280, 720))  # the spare streams faults switch cameras to


def cameras(http: httpx.Client) -> list[dict[str, Any]]:
    """The cameras, as the API lists them (with their health)."""
    r = http.get("/api/cameras")
    r.raise_for_status()
    found: list[dict[str, Any]] = r.json()
    return found


def health(http: httpx.Client, camera_id: int) -> dict[str, Any]:
    """A camera's health as its recorder last reported it."""
    r = http.get(f"/api/cameras/{camera_id}")
    r.raise_for_status()
    found: dict[str, Any] = r.json()["health"]
    return found


def timeline(http: httpx.Client, camera_id: int, start: datetime) -> dict[str, Any]:
    """A camera's recorded ranges and gaps (with reasons) from ``start`` until now."""
    r = http.get(f"/api/cameras/{camera_id}/timeline", params={"start": start.isoformat()})
    r.raise_for_status()
    found: dict[str, Any] = r.json()
    return found


@dataclass
class Fault:
    """One injected fault and what became of it."""

    kind: str
    camera: str
    camera_id: int
    at: datetime
    ends: datetime  # when the fault itself is over (a stall's end, a cut camera back up)
    expected_size: tuple[int, int]
    deadline: float  # monotonic
    gap: dict[str, Any] | None = None
    segment: str = ""
    failure: str | None = None
    healed_at: datetime | None = None
    done: bool = False

    def window(self) -> tuple[datetime, datetime]:
        """Gaps of the camera starting in this window are this fault's."""
        last = max(self.ends, self.healed_at or self.ends)
        return self.at - timedelta(seconds=GAP_EARLY_S), last + timedelta(seconds=60)

    def line(self) -> str:
        head = f"{self.kind} on {self.camera} at {self.at:%H:%M:%S}"
        if self.failure is not None:
            return f"{head}: {self.failure}"
        assert self.gap is not None
        return (
            f"{head}: gap {span_s(self.gap):.1f} s, reason {self.gap['reason']!r}; "
            f"recording again, {self.segment}"
        )


class SpareViewer:
    """Plays a spare stream from the start and drops what it reads, so that its simulator
    pipeline runs for the whole soak: one started by the first fault that uses it would
    show as growth of the simulator's memory."""

    def __init__(self, url: str) -> None:
        self._session = RtspSession(url)
        self._session.start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="spare-viewer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            for _ in self._session.rtp():
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._session.close()


@dataclass
class Decoded:
    """A segment's video as FFmpeg decodes it: its frame sizes in order (each once per
    run of frames), and what the decoder reported."""

    sizes: list[tuple[int, int]]
    errors: list[str]

    @staticmethod
    def of(path: Path) -> Decoded:
        cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0"]
        cmd += ["-show_entries", "frame=width,height", "-of", "csv=p=0", str(path)]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        sizes: list[tuple[int, int]] = []
        for line in run.stdout.split():
            fields = line.split(",")
            if len(fields) < 2 or not (fields[0].isdigit() and fields[1].isdigit()):
                continue  # side data of a frame, not its size
            size = (int(fields[0]), int(fields[1]))
            if not sizes or sizes[-1] != size:
                sizes.append(size)
        errors = [line for line in run.stderr.splitlines() if line.strip()]
        if run.returncode and not errors:
            errors.append(f"ffprobe exit code {run.returncode}")
        return Decoded(sizes, errors)

    def describe(self) -> str:
        sizes = " then ".join(f"{w}x{h}" for w, h in self.sizes) or "no frame"
        errors = f"{len(self.errors)} decoding errors" if self.errors else "no decoding error"
        return f"frames {sizes}, {errors}"


def span_s(gap: dict[str, Any]) -> float:
    return (parse_time(gap["end"]) - parse_time(gap["start"])).total_seconds()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FaultDrill:
    """Injects the faults in turn on the cameras that take them, and checks each."""

    def __init__(
        self,
        proxy: FaultProxy,
        http: httpx.Client,
        db: Database,
        recordings_dir: Path,
        *,
        kinds: list[str],
        cameras: dict[str, int],
        sizes: dict[str, tuple[int, int]],
        spares: dict[str, tuple[int, int]],
    ) -> None:
        """``cameras``: name -> id of those that take faults (their mount has the name);
        ``sizes``: what each sends now; ``spares``: mount -> size of the spare streams."""
        self.proxy = proxy
        self.http = http
        self.db = db
        self.recordings = recordings_dir
        self.kinds = kinds
        self.ids = cameras
        self.extra = list(cameras)
        self.size = sizes
        self.own_size = dict(sizes)
        self.alts = spares
        self.faults: list[Fault] = []

    def pending(self) -> list[Fault]:
        return [f for f in self.faults if not f.done]

    def fault_of(self, camera: str, gap: dict[str, Any]) -> Fault | None:
        """The fault a gap of a camera came from, if any."""
        start = parse_time(gap["start"])
        for fault in self.faults:
            low, high = fault.window()
            if fault.camera == camera and low <= start <= high:
                return fault
        return None

    def inject(self, index: int) -> Fault | None:
        """The index-th fault: its kind in turn, on the next camera without one pending."""
        kind = self.kinds[index % len(self.kinds)]
        busy = {f.camera for f in self.faults if not f.done}
        free = [c for c in self.extra[index % len(self.extra) :] + self.extra if c not in busy]
        if not free:
            return None
        camera = free[0]
        now = datetime.now(UTC)
        ends = now
        size = self.size[camera]
        if kind == "cut":
            self.proxy.cut(camera, down_s=DOWN_S)
            ends = now + timedelta(seconds=DOWN_S)
        elif kind == "stall":
            self.proxy.stall(camera, STALL_S)
            ends = now + timedelta(seconds=STALL_S)
        elif kind == "garbage":
            self.proxy.garbage(camera, GARBAGE_BYTES)
        else:
            route = self.proxy.route_of(camera)
            others = [m for m, s in self.alts.items() if m != route and s != size]
            spare = others[0] if others else next(m for m in self.alts if m != route)
            size = self.size[camera] = self.alts[spare]
            if kind == "resolution":
                self.proxy.splice(camera, spare)
            else:
                self.proxy.reroute(camera, spare, cut=True)
        deadline = time.monotonic() + (ends - now).total_seconds() + RESUME_TIMEOUT_S
        fault = Fault(kind, camera, self.ids[camera], now, ends, size, deadline)
        self.faults.append(fault)
        return fault

    def bring_back(self, fault: Fault) -> Fault | None:
        """After a fault that left a camera on a spare stream, switch it back to its own
        (a resolution change, checked as one): the soak's workload at its end is then the
        one at its start, and memory measured over the run compares like with like."""
        camera = fault.camera
        if self.proxy.route_of(camera) == camera:
            return None
        self.proxy.splice(camera, camera)
        size = self.size[camera] = self.own_size[camera]
        now = datetime.now(UTC)
        deadline = time.monotonic() + RESUME_TIMEOUT_S
        back = Fault("back", camera, self.ids[camera], now, now, size, deadline)
        self.faults.append(back)
        return back

    def check(self, fault: Fault) -> bool:
        """Whether the fault is concluded (passed or failed) now."""
        if fault.gap is None:
            low, high = fault.window()
            for gap in timeline(self.http, fault.camera_id, low - timedelta(minutes=1))["gaps"]:
                if low <= parse_time(gap["start"]) <= high:
                    fault.gap = gap
                    break
            else:
                fault.gap = self._recorded_gap(fault)
        if fault.gap is not None and self._resumed(fault):
            return True
        if time.monotonic() < fault.deadline:
            return False
        fault.failure = self._why_not(fault)
        self.proxy.cut(fault.camera)  # bring the camera back for the rest of the soak
        fault.healed_at = datetime.now(UTC)
        fault.failure += "; the camera was cut once to bring it back"
        return True

    def _recorded_gap(self, fault: Fault) -> dict[str, Any] | None:
        """The fault's closed gap as the index has it, for one the timeline does not show:
        a stream change at a keyframe can lose less than the timeline's continuity tolerance
        (a frame's worth), and the timeline then joins the segments on both sides."""
        low, high = fault.window()
        for row in recordings.gaps_between(self.db, fault.camera_id, low, high):
            if row.end is not None and low <= row.start <= high:
                return {
                    "start": row.start.isoformat(),
                    "end": row.end.isoformat(),
                    "reason": row.reason,
                }
        return None

    def _resumed(self, fault: Fault) -> bool:
        """Whether recording resumed cleanly after the fault's gap: its first segment is
        closed, indexed at the expected size and decodes without an error, and the camera
        is online. Sets the fault's failure when not clean."""
        assert fault.gap is not None
        resume = parse_time(fault.gap["end"])
        segments = recordings.segments_between(
            self.db, fault.camera_id, resume, resume + timedelta(minutes=10)
        )
        first = next((s for s in segments if s.start >= resume - timedelta(seconds=0.05)), None)
        if first is None or first.end is None:
            return False
        size = (first.width or 0, first.height or 0)
        status = health(self.http, fault.camera_id)
        decoded = Decoded.of(self.recordings / first.path)
        fault.segment = f"first segment indexed {size[0]}x{size[1]}, {decoded.describe()}"
        problems = []
        if not fault.gap.get("reason"):
            problems.append("the gap has no reason")
        if size != fault.expected_size:
            problems.append(f"indexed {size[0]}x{size[1]}, the camera sends {fault.expected_size}")
        if decoded.errors or decoded.sizes != [fault.expected_size]:
            problems.append("the first segment is not the new stream, decoded cleanly")
        if status["status"] != "online":
            problems.append(f"camera {status['status']} ({status['last_error']})")
        if problems:
            fault.failure = f"gap {span_s(fault.gap):.1f} s {fault.gap.get('reason')!r}, but " + (
                "; ".join(problems)
            )
        return True

    def _why_not(self, fault: Fault) -> str:
        """What the recorder did instead of a gap and a resume."""
        if fault.gap is not None:
            return (
                f"gap {fault.gap['reason']!r} but no clean segment after it within "
                f"{RESUME_TIMEOUT_S:.0f} s"
            )
        low, high = fault.window()
        rows = recordings.gaps_between(self.db, fault.camera_id, low, high)
        state = health(self.http, fault.camera_id)
        last = state["last_frame_at"]
        ago = f"{(datetime.now(UTC) - parse_time(last)).total_seconds():.0f} s ago" if last else "-"
        seen = (
            f"camera {state['status']}, last frame {ago}, "
            f"last error {state['last_error']!r}; {self._across(fault)}"
        )
        if rows:
            return f"gap {rows[0].reason!r} recorded, but not recording again ({seen})"
        return f"no gap within {RESUME_TIMEOUT_S:.0f} s ({seen})"

    def _across(self, fault: Fault) -> str:
        """The segment that spans the fault: how long the index says it is, and how much
        video its file holds (a stream that paused without a gap shows here)."""
        after = fault.at + timedelta(seconds=1)
        segments = recordings.segments_between(self.db, fault.camera_id, fault.at, after)
        if not segments:
            return "no segment across it"
        seg = segments[0]
        indexed = ((seg.end or datetime.now(UTC)) - seg.start).total_seconds()
        path = self.recordings / seg.path
        probe = ffprobe(path)
        video = f"{probe.duration:.1f} s of video" if probe else "no readable video"
        still = ", still open" if seg.end is None else ""
        return (
            f"the segment across it: {indexed:.1f} s at {seg.width}x{seg.height} in the index"
            f"{still}, {video} in its file, {Decoded.of(path).describe()}"
        )

"""Camera simulator: serve video files as looping RTSP cameras (`vigil simulate`).

Each file is converted once, by stream copy, to an MPEG-TS file (H.264, and AAC audio if it has
any) in a cache directory. A GStreamer RTSP server (gst_server.py, run by Debian's python3 because
the `gi` bindings live there) serves every file at rtsp://HOST:PORT/<file stem>, looping forever
in real time with increasing timestamps, all mounts in one process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

__all__ = [
    "PreparedMount",
    "Simulator",
    "SimulatorError",
    "default_cache_dir",
    "generate_test_clip",
    "prepare_media",
    "run_simulator",
]

# Debian's interpreter, which has python3-gi; the project's venv usually does not.
GST_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("gst_server.py")
INSTALL_HINT = (
    "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
)
# Part of the cache key: bump it when the conversion below changes.
_PREPARE_VERSION = "1"

Files = Sequence[str | Path] | Mapping[str, str | Path]


def gstreamer_missing() -> str | None:
    """Why the simulator cannot run here (Debian's GStreamer RTSP server is missing), or None."""
    check = "import gi; gi.require_version('GstRtspServer', '1.0')"
    try:
        result = subprocess.run([str(GST_PYTHON), "-c", check], capture_output=True, text=True)
    except OSError as exc:
        return f"{exc}: {INSTALL_HINT}"
    return f"{result.stderr.strip()}: {INSTALL_HINT}" if result.returncode else None


class SimulatorError(RuntimeError):
    """The simulator could not prepare media or start serving."""


@dataclass(frozen=True)
class PreparedMount:
    """A video file made ready to serve: `path` is the MPEG-TS the RTSP server loops."""

    name: str
    source: Path
    path: Path
    has_audio: bool
    transcoded: bool


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vigil" / "simulator"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SimulatorError(f"{name} not found on PATH: apt-get install ffmpeg")
    return found


def _run(cmd: list[str], what: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SimulatorError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _probe(path: Path) -> tuple[str | None, str | None]:
    """Codec names of the first video and first audio stream (None where absent)."""
    entries = "stream=codec_type,codec_name:stream_disposition=attached_pic"
    cmd = [_tool("ffprobe"), "-v", "error", "-show_entries", entries, "-of", "json", str(path)]
    out = _run(cmd, f"reading {path} with ffprobe")
    video = audio = None
    for stream in json.loads(out).get("streams", []):
        kind, codec = stream.get("codec_type"), stream.get("codec_name")
        cover_art = stream.get("disposition", {}).get("attached_pic")
        if kind == "video" and video is None and not cover_art:
            video = codec
        elif kind == "audio" and audio is None:
            audio = codec
    return video, audio


def _mount_names(files: Files) -> list[tuple[str, Path]]:
    """(mount name, path) pairs: names are file stems made URL-safe, numbered if repeated."""
    pairs = files.items() if isinstance(files, Mapping) else ((Path(f).stem, f) for f in files)
    result: list[tuple[str, Path]] = []
    used: set[str] = set()
    for raw, file in pairs:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.") or "camera"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        result.append((name, Path(file)))
    return result


def prepare_media(files: Files, cache_dir: Path) -> list[PreparedMount]:
    """Convert each file to what the RTSP server loops: MPEG-TS with H.264 (and AAC) inside.

    Video is stream-copied when it is H.264 and transcoded once (libx264) otherwise; AAC audio
    is copied, other audio transcoded to AAC. Results are cached in `cache_dir`, keyed by the
    file's path, size and modification time. `files` is a list of paths (mounted under their
    stems) or a mapping of mount name to path (to serve one file under several names).
    """
    pairs = _mount_names(files)
    for _, file in pairs:
        if not file.is_file():
            raise FileNotFoundError(f"video file not found: {file}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    done: dict[Path, PreparedMount] = {}
    mounts = []
    for name, file in pairs:
        source = file.resolve()
        if source not in done:
            done[source] = _prepare_one(source, cache_dir)
        prepared = done[source]
        mounts.append(
            PreparedMount(name, source, prepared.path, prepared.has_audio, prepared.transcoded)
        )
    return mounts


def _prepare_one(source: Path, cache_dir: Path) -> PreparedMount:
    video, audio = _probe(source)
    if video is None:
        raise ValueError(f"no video stream in {source}")
    stat = source.stat()
    key = f"{source}\0{stat.st_size}\0{stat.st_mtime_ns}\0{_PREPARE_VERSION}"
    target = cache_dir / f"{source.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.ts"
    transcoded = video != "h264"
    if not target.exists():
        cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-i", str(source), "-map", "0:V:0"]
        if audio is not None:
            cmd += ["-map", "0:a:0"]
        if transcoded:
            print(
                f"vigil simulate: {source} is {video}, not H.264: transcoding it once "
                f"(libx264, cached in {cache_dir})",
                file=sys.stderr,
            )
            # Keyframe every 2 s, so a viewer joining the loop starts soon; yuv420p for browsers.
            cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
            cmd += ["-force_key_frames", "expr:gte(t,n_forced*2)"]
        else:
            cmd += ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb"]
        if audio is not None:
            if audio != "aac":
                print(
                    f"vigil simulate: {source}: transcoding {audio} audio to AAC", file=sys.stderr
                )
            cmd += ["-c:a", "copy"] if audio == "aac" else ["-c:a", "aac", "-b:a", "96k"]
        # The TS muxer's default 1.4 s start offset makes ffmpeg-based clients (PyAV) jump
        # back in time at the first RTCP report; starting at 0 avoids that.
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        cmd += ["-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", str(partial)]
        try:
            _run(cmd, f"converting {source}")
            partial.replace(target)  # atomic: concurrent runs never see half a file
        finally:
            partial.unlink(missing_ok=True)
    return PreparedMount(source.stem, source, target, audio is not None, transcoded)


class Simulator:
    """RTSP cameras from video files, served by one GStreamer process until `stop()`.

    >>> with Simulator([Path("cam1.mp4"), Path("cam2.mkv")]) as sim:
    ...     sim.url_for("cam1")  # 'rtsp://127.0.0.1:40123/cam1'

    `port=0` picks a free port (see `.port`). Clients should use RTSP over TCP
    (`rtsp_transport=tcp`); several clients may watch one mount at once. The server's
    stderr goes to `log` when given (else to a temporary file), and `.stderr()` shows it.
    """

    def __init__(
        self,
        files: Files,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        cache_dir: Path | None = None,
        start_timeout: float = 30.0,
        log: Path | None = None,
    ) -> None:
        self.mounts = prepare_media(files, cache_dir or default_cache_dir())
        self.port = port
        self.urls: dict[str, str] = {}
        # The server's stderr, kept for error messages; closed by stop(). In ``log`` when
        # given, so that all of it can be read (a benchmark counts its warnings).
        self._log: IO[bytes] = (
            log.open("w+b") if log is not None else tempfile.TemporaryFile()  # noqa: SIM115
        )
        try:
            self._proc = self._start(host, port, start_timeout)
        except BaseException:
            self._log.close()
            raise

    def _start(self, host: str, port: int, timeout: float) -> subprocess.Popen[bytes]:
        if not GST_PYTHON.exists():
            raise SimulatorError(
                f"{GST_PYTHON} not found: the simulator needs Debian's python3 with "
                f"GStreamer: {INSTALL_HINT}"
            )
        cmd = [
            str(GST_PYTHON),
            "-I",
            str(SERVER_SCRIPT),
            "--host",
            host,
            "--port",
            str(port),
            "--watch-stdin",
        ]
        cmd += [f"{m.name}={m.path}" for m in self.mounts]
        # stdin stays open and unused: when this process dies, the server sees EOF and exits.
        # stderr goes to a file, so a chatty server never blocks on a full pipe. Its own
        # process group: a Ctrl-C meant for its owner must not end the cameras before the
        # owner has stopped recording them (the owner stops it, last).
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            process_group=0,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._stop(proc)
                    raise SimulatorError(
                        f"RTSP simulator not ready after {timeout:.0f} s; "
                        f"its stderr:\n{self._stderr()}"
                    )
                if selector.select(remaining):
                    line = proc.stdout.readline().decode(errors="replace").strip()
                    if line.startswith("READY "):
                        break
                    if not line:  # EOF: the server exited
                        code = proc.wait()
                        raise SimulatorError(
                            f"RTSP simulator exited with code {code}:\n{self._stderr()}"
                        )
        base = line.removeprefix("READY ")
        self.port = int(base.rstrip("/").rsplit(":", 1)[1])
        self.urls = {m.name: base + m.name for m in self.mounts}
        return proc

    def _stderr(self) -> str:
        if self._log.closed:
            return "(stopped)"
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip()
        return text[-4000:] or "(nothing)"

    @property
    def pid(self) -> int:
        """The process id of the RTSP server (for measuring its CPU and memory)."""
        return self._proc.pid

    def url_for(self, name: str) -> str:
        """The RTSP URL of a mount (a file's stem, or a name given in a mapping)."""
        try:
            return self.urls[name]
        except KeyError:
            raise KeyError(f"no mount {name!r}; mounts: {', '.join(self.urls)}") from None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the server to exit; its exit code, or None on timeout."""
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr(self) -> str:
        """What the server wrote on stderr so far (its last 4000 characters)."""
        return self._stderr()

    def stop(self) -> None:
        self._stop(self._proc)
        self._log.close()

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_simulator(
    files: Files, port: int = 8554, *, host: str = "127.0.0.1", cache_dir: Path | None = None
) -> None:
    """Serve `files` as RTSP cameras, print their URLs, and block until Ctrl-C or SIGTERM."""
    from rich.console import Console
    from rich.markup import escape

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    console = Console()
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with Simulator(files, port, host=host, cache_dir=cache_dir) as sim:
            # One line per camera, never wrapped, so the URLs stay whole for copying.
            for mount in sim.mounts:
                audio = "video and audio" if mount.has_audio else "video"
                console.print(
                    f"[bold]{escape(sim.url_for(mount.name))}[/bold]  "
                    f"[dim]{escape(str(mount.source))} ({audio})[/dim]",
                    soft_wrap=True,
                )
            console.print(f"Serving {len(sim.mounts)} camera(s); Ctrl-C to stop.")
            code = sim.wait()
            raise SimulatorError(f"RTSP simulator exited with code {code}:\n{sim.stderr()}")
    except KeyboardInterrupt:
        console.print("Stopped.")
    except (SimulatorError, OSError, ValueError) as exc:
        Console(stderr=True).print(f"vigil simulate: {exc}", style="red", markup=False)
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def generate_test_clip(
    path: Path,
    *,
    seconds: float = 6,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    gop: int = 25,
    bitrate: str = "1M",
    audio: bool = False,
) -> Path:
    """Write a synthetic H.264 clip (ffmpeg's testsrc2, plus a 440 Hz AAC tone if `audio`).

    Fixed GOP (a keyframe every `gop` frames), no B-frames, constant frame rate: what a
    typical IP camera sends. The container follows the suffix of `path` (.mp4, .mkv...).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y"]
    cmd += ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    cmd += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"]
    # A fixed GOP (no scene-cut keyframes) and no B-frames, at a capped bitrate.
    cmd += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", "0"]
    cmd += ["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    _run([*cmd, str(path)], f"generating test clip {path}")
    return path

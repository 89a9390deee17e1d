"""``vigil demo``: simulator, server and recorder on one machine, with embedded defaults."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console

from vigil import demo_map
from vigil.analytics.config import CameraAnalyticsConfig
from vigil.analytics.models_install import missing_models
from vigil.config import Settings
from vigil.devices.simulator import Simulator, generate_test_clip
from vigil.security.bootstrap import create_admin
from vigil.security.tokens import create_token, revoke_token
from vigil.store import users as user_store
from vigil.store.db import Database, migrate
from vigil.store.types import utcnow

console = Console(emoji=False)  # ":AB:" in a fingerprint is no emoji

DEMO_CLIP_FOLDERS = ("intel-sample-videos", "intel-sample-videos/third-party-copy")
PATTERNS = ("street", "square", "station", "park")
# The generated pattern with something the motion detector can follow (the others are
# ffmpeg's testsrc2, on which no detector finds anything).
MOVING_PATTERN = "street"
# How long a role may take to answer while its process runs: imports, migrations and the
# first models load in seconds on an idle machine, but a busy one can take minutes (a CI
# run beside other work gave up at 60 s while the recorder was still starting). A role
# that exits is reported at once; one that keeps starting is waited for, with a word.
READY_TIMEOUT_S = 300
READY_NOTICE_S = 30
# How long the recorder, then the server, may take to stop before they are killed: the
# recorder joins its cameras' ingests (up to 10 s each, in parallel), then uvicorn waits up
# to 5 s for open connections.
STOP_TIMEOUT_S = 30
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The detector the demo cameras use (analytics/detectors/nanodet.py): its model is checked
# at start, so that a demo without it says so before its cameras show "unavailable".
DEMO_DETECTOR = "nanodet"
DEMO_ADMIN = "admin"
CREDENTIALS_FILE = "demo-admin.txt"


def find_demo_media() -> list[Path]:
    """Real clips from ``VIGIL_DEMO_MEDIA`` if set, else from ``../shared/media`` if present."""
    if env := os.environ.get("VIGIL_DEMO_MEDIA"):
        candidates = [Path(env)]
    else:
        repo = Path(__file__).resolve().parents[2]
        candidates = [repo.parent / "shared" / "media", Path.cwd().parent / "shared" / "media"]
    for root in candidates:
        clips = [c for folder in DEMO_CLIP_FOLDERS for c in sorted((root / folder).glob("*.mp4"))]
        if clips:
            return clips
    return []


def demo_clips(data_dir: Path) -> list[Path]:
    """The clips the demo cameras show: real ones if available, else generated patterns."""
    clips = find_demo_media()
    if clips:
        return clips
    folder = data_dir / "demo-clips"
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name in PATTERNS:
        path = folder / f"{name}.mp4"
        if not path.exists():
            console.print(f"generating test-pattern clip {path.name}")
            if name == MOVING_PATTERN:
                generate_street_clip(path)
            else:
                generate_test_clip(path, seconds=10, width=1280, height=720)
        made.append(path)
    return made


def generate_street_clip(path: Path) -> Path:
    """A 10 s, 1280x720 H.264 + AAC clip of a grey street that a white "walker" (an 80x200
    box) crosses from left to right in its first 8 s, with a 440 Hz tone: looped by the
    simulator, it gives the motion detector a track, a line crossing and a zone entry every
    10 s. Encoded as a camera sends (fixed 1 s GOP, no B-frames), like `generate_test_clip`.
    """
    scene = "color=c=0x505050:s=1280x720:r=25:d=10"
    walker = "color=c=white:s=80x200:r=25:d=10"
    graph = f"{scene}[street];{walker}[walker];[street][walker]overlay=x='-80+170*t':y=400"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", graph),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "10"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"),
            *("-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-bf", "0"),
            *("-b:v", "1M", "-maxrate", "1M", "-bufsize", "1M", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "64k", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path


def ensure_demo_admin(db: Database, data_dir: Path) -> None:
    """The demo's administrator: on first run, ``admin`` with a random password, printed and
    kept (mode 0600) in the data directory; never a default password."""
    credentials = data_dir / CREDENTIALS_FILE
    if user_store.count_users(db) == 0:
        password = secrets.token_urlsafe(12)
        create_admin(db, username=DEMO_ADMIN, password=password, first_only=True)
        credentials.touch(mode=0o600)
        credentials.write_text(f"{DEMO_ADMIN}\n{password}\n")
    if credentials.exists():
        name, password = credentials.read_text().split()[:2]
        console.print(f"sign in as [bold]{name}[/bold] with password [bold]{password}[/bold]")
        console.print(f"(kept in {credentials}; change it in the web client)")


@contextmanager
def setup_token(db: Database) -> Iterator[dict[str, str]]:
    """A short-lived API token of the demo's administrator, for registering cameras and
    rules through the API like any client; revoked once done."""
    admin = next(u for u in user_store.list_users(db) if u.username == DEMO_ADMIN)
    expires = utcnow() + timedelta(minutes=10)
    token, info = create_token(db, user_id=admin.id, name="demo set-up", expires_at=expires)
    try:
        yield {"Authorization": f"Bearer {token}"}
    finally:
        revoke_token(db, info.id)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    started = time.monotonic()
    deadline, notice = started + READY_TIMEOUT_S, started + READY_NOTICE_S
    while time.monotonic() < deadline:
        if time.monotonic() > notice:
            console.print(f"still waiting for the {what} to start (the machine is busy)")
            notice += READY_NOTICE_S
        if proc.poll() is not None:
            raise SystemExit(f"the {what} exited with code {proc.returncode}; see the log above")
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the {what} did not answer at {url} within {READY_TIMEOUT_S}s")


def run_demo(*, port: int, data_dir: Path, rtsp_port: int = 8554) -> None:
    """Start everything, register the demo cameras, and run until Ctrl-C or SIGTERM; then
    stop the recorder, the server and the simulated cameras, in that order, and return.

    Raises:
        SystemExit: A role failed to start or exited on its own (exit code 1).
    """
    with _stopped_by_signals():
        try:
            _run_demo(port=port, data_dir=data_dir.resolve(), rtsp_port=rtsp_port)
        except KeyboardInterrupt:
            console.print("demo stopped")


def _run_demo(*, port: int, data_dir: Path, rtsp_port: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir)
    warn_if_no_models(settings.models_dir)
    clips = demo_clips(data_dir)
    migrate(settings.db_url)
    db = Database(settings.db_url)
    roles: dict[str, subprocess.Popen[bytes]] = {}
    # Undone in reverse: the roles stop first, then the cameras, then the database.
    with ExitStack() as stack:
        stack.callback(db.dispose)
        ensure_demo_admin(db, data_dir)
        sim = stack.enter_context(
            Simulator(clips, port=rtsp_port, cache_dir=data_dir / "simulator-cache")
        )
        stack.callback(_stop_roles, roles)
        base = _start_roles(roles, _role_env(data_dir, port), port)
        with setup_token(db) as auth, httpx.Client(base_url=base, headers=auth, timeout=10) as api:
            seed_rules(api)
            register_cameras(api, sim.urls)
            configure_analytics(api)
            seed_map(api)
        console.print(f"\n[bold green]Vigil demo is running:[/bold green] {base}/")
        console.print(f"data in {data_dir}; press Ctrl-C to stop\n")
        role, code = _wait_for_exit(roles)
        console.print(f"[red]the {role} exited with code {code}; stopping the demo[/red]")
        raise SystemExit(1)


def warn_if_no_models(models_dir: Path) -> None:
    """Say at start when the demo's detector model is not installed: its cameras record all
    the same, and their analytics show "unavailable" with the reason."""
    if reason := missing_models(models_dir, [DEMO_DETECTOR]).get(DEMO_DETECTOR):
        console.print(
            f"[yellow]no detector model: {reason}[/yellow]\n"
            'the cameras record, but their analytics show "unavailable" until the models '
            "are installed: run `.venv/bin/vigil models install` (scripts/setup.sh does)"
        )


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM both stop the demo (as KeyboardInterrupt), whatever their handlers
    were before: a shell without job control starts background commands with SIGINT ignored."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _role_env(data_dir: Path, port: int) -> dict[str, str]:
    """The environment of the demo's server and recorder."""
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_SERVER__PORT": str(port),
        "VIGIL_RECORDER__PORT": str(port + 1),
    }
    # The demo is for a developer's machine: keep room for other things on the disk.
    env.setdefault("VIGIL_STORAGE__MIN_FREE_BYTES", str(1024**3))
    return env


def _start_roles(roles: dict[str, subprocess.Popen[bytes]], env: dict[str, str], port: int) -> str:
    """Start the server, then the recorder, each once the one before answers; the server's
    URL. Each role is added to ``roles`` as soon as it runs, so that it is stopped."""
    base = f"http://127.0.0.1:{port}"
    roles["server"] = _start_role("server", env)
    _wait_ready(f"{base}/api/health", roles["server"], "server")
    roles["recorder"] = _start_role("recorder", env)
    _wait_ready(f"http://127.0.0.1:{port + 1}/media/health", roles["recorder"], "recorder")
    return base


def _start_role(role: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``vigil ROLE`` in its own process group: a Ctrl-C in the terminal reaches the demo
    alone, which stops each role once, in order (a second signal makes uvicorn skip the
    application's shutdown, and with it the recorder's closing of its segments)."""
    return subprocess.Popen([sys.executable, "-m", "vigil", role], env=env, process_group=0)


def _wait_for_exit(roles: dict[str, subprocess.Popen[bytes]]) -> tuple[str, int]:
    """Block until a role exits on its own (Ctrl-C and SIGTERM interrupt this); which role,
    with its exit code."""
    while True:
        for role, proc in roles.items():
            if (code := proc.poll()) is not None:
                return role, code
        time.sleep(1)


def _stop_roles(roles: dict[str, subprocess.Popen[bytes]]) -> None:
    """Stop the roles in the reverse order of their start, each with one SIGTERM: the
    recorder closes its segments (a gap "recording stopped") while the cameras still stream
    and the server still hears it. A second Ctrl-C cannot cut this short; a role that does
    not stop in time is killed."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if any(proc.poll() is None for proc in roles.values()):
        console.print("stopping the demo: recorder, server, cameras")
    for role, proc in reversed(roles.items()):
        if proc.poll() is not None:
            continue
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            console.print(f"[red]the {role} did not stop within {STOP_TIMEOUT_S} s: killed[/red]")
            proc.kill()
            proc.wait()


def register_cameras(api: httpx.Client, urls: dict[str, str]) -> None:
    """Add one camera per simulated stream; a camera of that name is pointed at it."""
    existing = {c["name"]: c for c in api.get("/api/cameras").json()}
    for name, url in urls.items():
        if name in existing:
            cam = existing[name]
            if cam["main_url"] != url:  # the simulator moved to another port
                api.patch(f"/api/cameras/{cam['id']}", json={"main_url": url}).raise_for_status()
            continue
        body = {"name": name, "main_url": url, "location": "demo", "notes": "simulated camera"}
        api.post("/api/cameras", json=body).raise_for_status()
        console.print(f"camera {name}: {url}")


def seed_map(api: httpx.Client) -> None:
    """Give a demo without plans its floor plan, and place each camera that is nowhere on it."""
    if api.get("/api/map").json()["plans"]:
        return
    plan = api.post(
        "/api/plans",
        params={"name": demo_map.PLAN_NAME},
        content=demo_map.draw_plan(),
        headers={"Content-Type": "image/png"},
    )
    plan.raise_for_status()
    plan_id = plan.json()["id"]
    unplaced = [c for c in api.get("/api/cameras").json() if c.get("position") is None]
    for camera, spot in zip(unplaced, demo_map.SPOTS, strict=False):
        position = {"plan_id": plan_id, **spot}
        api.put(f"/api/cameras/{camera['id']}/position", json=position).raise_for_status()
    console.print(
        f"map: {demo_map.PLAN_NAME}, {min(len(unplaced), len(demo_map.SPOTS))} cameras placed"
    )


# What a control room starts with: a lost camera, a panic button, an intrusion.
DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Camera offline",
        "trigger": {"kind": "camera_status", "statuses": ["offline", "storage_full"]},
        "actions": [
            {
                "type": "raise_alarm",
                "priority": 2,
                "category": "technical",
                "title": "Camera {camera} {status}",
                "sop": ["Check the camera's power and network", "Inform maintenance"],
                "escalate_after_min": 10,
            }
        ],
    },
    {
        "name": "Panic button",
        "trigger": {"kind": "manual", "label": "Panic"},
        "actions": [
            {
                "type": "raise_alarm",
                "priority": 1,
                "category": "emergency",
                "title": "Panic button pressed ({camera})",
                "sop": ["Look at the camera", "Call the police if confirmed", "Write a report"],
            },
            {"type": "bookmark", "label": "panic button"},
        ],
    },
    {
        "name": "Restricted area",
        # "object": what the motion detector reports (the generated street scene).
        "trigger": {
            "kind": "event",
            "event_types": ["intrusion"],
            "classes": ["person", "object"],
        },
        # One alarm per camera in two minutes: the demo's clips loop, and bring someone into
        # a zone every 20 s or so.
        "conditions": {"cooldown_s": 120},
        "actions": [
            {"type": "raise_alarm", "priority": 2, "category": "security"},
            {"type": "record", "pre_s": 10, "post_s": 30, "keep_days": 90},
        ],
    },
]


def seed_rules(api: httpx.Client) -> None:
    """Give a fresh demo a few rules, so the alarm queue has something to show."""
    if api.get("/api/rules").json():
        return
    for rule in DEMO_RULES:
        api.post("/api/rules", json=rule).raise_for_status()
        console.print(f"rule: {rule['name']}")


# Analytics per demo camera (named after its clip), chosen so that each clip gives events in
# its first minute: zones, lines and behaviours in image fractions (0..1, y down), as the
# web client's editor saves them. "intrusion" events raise the "Restricted area" alarm.
PEOPLE_AND_VEHICLES = ["person", "bicycle", "car"]
DEMO_ANALYTICS: dict[str, dict[str, Any]] = {
    # People walk in from the bottom edge one by one, stop at the table, and leave: each is
    # counted coming in, reported at the table (an alarm) and again after 8 s there.
    "one-by-one-person-detection": {
        "enabled": True,
        "detector": {"type": DEMO_DETECTOR},
        "zones": [{"name": "table", "points": [[0.4, 0.7], [0.8, 0.7], [0.8, 0.95], [0.4, 0.95]]}],
        "lines": [{"name": "entrance", "start": [0.8, 0.95], "end": [0.2, 0.95]}],
        "behaviours": [
            {"type": "line_crossing", "line": "entrance", "classes": ["person"]},
            {"type": "intrusion", "zone": "table", "classes": ["person"], "min_s": 1},
            {"type": "loitering", "zone": "table", "classes": ["person"], "dwell_s": 8},
        ],
    },
    # A car park seen from high up: cars drive through the lane, a cyclist and a walker
    # cross the marked bays (an alarm for the walker).
    "person-bicycle-car-detection": {
        "enabled": True,
        "detector": {"type": DEMO_DETECTOR},
        "zones": [{"name": "bays", "points": [[0.25, 0.05], [1, 0.05], [1, 0.45], [0.25, 0.45]]}],
        "lines": [{"name": "lane", "start": [0, 0.7], "end": [0.6, 0.7]}],
        "behaviours": [
            {"type": "line_crossing", "line": "lane", "classes": PEOPLE_AND_VEHICLES},
            {"type": "intrusion", "zone": "bays", "classes": PEOPLE_AND_VEHICLES},
        ],
    },
    # Bottles on a belt, taken away and put back: "crowding" when three stand there. Bottles
    # are not among the classes detected by default.
    "bottle-detection": {
        "enabled": True,
        "detector": {"type": DEMO_DETECTOR, "classes": ["bottle", "person"]},
        "zones": [{"name": "belt", "points": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}],
        "behaviours": [
            {
                "type": "crowding",
                "name": "belt full",
                "zone": "belt",
                "classes": ["bottle"],
                "min_count": 3,
                "min_s": 2,
            },
        ],
    },
    # Cars from straight above: NanoDet (trained on COCO's side views) finds none in this
    # clip, so this camera uses the motion detector; its moving blobs are class "object".
    "car-detection": {
        "enabled": True,
        "detector": {"type": "motion"},
        "lines": [{"name": "road", "start": [0, 0.5], "end": [1, 0.5]}],
        "behaviours": [{"type": "line_crossing", "line": "road", "classes": ["object"]}],
    },
    # The generated street (no ../shared/media): a walker the motion detector follows across
    # the middle and into the right half.
    MOVING_PATTERN: {
        "enabled": True,
        "detector": {"type": "motion"},
        "zones": [{"name": "kerb", "points": [[0.6, 0.3], [1, 0.3], [1, 1], [0.6, 1]]}],
        "lines": [{"name": "crossing", "start": [0.4, 1], "end": [0.4, 0]}],
        "behaviours": [
            {"type": "line_crossing", "line": "crossing", "classes": ["object"]},
            {"type": "intrusion", "zone": "kerb", "classes": ["object"]},
        ],
    },
}


def configure_analytics(api: httpx.Client) -> None:
    """Switch on the analytics of each demo camera named in `DEMO_ANALYTICS`, through the
    API like any client; only where they are still the defaults (never configured), so that
    what the user changed stays as it is."""
    for camera in api.get("/api/cameras").json():
        config = DEMO_ANALYTICS.get(camera["name"])
        path = f"/api/cameras/{camera['id']}/analytics"
        if config is None or not _untouched(api.get(path)):
            continue
        api.put(path, json=config).raise_for_status()
        console.print(f"analytics on {camera['name']}: {config['detector']['type']}")


def _untouched(analytics: httpx.Response) -> bool:
    """Whether a camera's analytics (a GET's answer) are still the defaults."""
    analytics.raise_for_status()
    return CameraAnalyticsConfig.model_validate(analytics.json()) == CameraAnalyticsConfig()

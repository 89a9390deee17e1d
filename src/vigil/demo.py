"""``vigil demo``: simulator, server and recorder on one machine, with embedded defaults."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from vigil.config import Settings
from vigil.devices.simulator import Simulator, generate_test_clip
from vigil.security.bootstrap import create_admin
from vigil.security.tokens import create_token, revoke_token
from vigil.store import users as user_store
from vigil.store.db import Database, migrate
from vigil.store.types import utcnow

console = Console()

DEMO_CLIP_FOLDERS = ("intel-sample-videos", "intel-sample-videos/third-party-copy")
PATTERNS = ("street", "square", "station", "park")
READY_TIMEOUT_S = 60
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
            generate_test_clip(path, seconds=10, width=1280, height=720, audio=name == "street")
        made.append(path)
    return made


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
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
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
    """Start everything, register the demo cameras, and wait for Ctrl-C."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    clips = demo_clips(data_dir)
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_SERVER__PORT": str(port),
        "VIGIL_RECORDER__PORT": str(port + 1),
    }
    # The demo is for a developer's machine: keep room for other things on the disk.
    env.setdefault("VIGIL_STORAGE__MIN_FREE_BYTES", str(1024**3))
    procs: list[subprocess.Popen[bytes]] = []
    settings = Settings(data_dir=data_dir)
    migrate(settings.db_url)
    db = Database(settings.db_url)
    ensure_demo_admin(db, data_dir)
    with Simulator(clips, port=rtsp_port, cache_dir=data_dir / "simulator-cache") as sim:
        try:
            server = subprocess.Popen([sys.executable, "-m", "vigil", "server"], env=env)
            procs.append(server)
            base = f"http://127.0.0.1:{port}"
            _wait_ready(f"{base}/api/health", server, "server")
            recorder = subprocess.Popen([sys.executable, "-m", "vigil", "recorder"], env=env)
            procs.append(recorder)
            _wait_ready(f"http://127.0.0.1:{port + 1}/media/health", recorder, "recorder")
            with setup_token(db) as auth:
                seed_rules(base, auth)
                register_cameras(base, sim.urls, auth)
            console.print(f"\n[bold green]Vigil demo is running:[/bold green] {base}/")
            console.print(f"data in {data_dir}; press Ctrl-C to stop\n")
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            while all(p.poll() is None for p in procs):
                time.sleep(1)
            console.print("[red]a Vigil process exited; stopping the demo[/red]")
        except KeyboardInterrupt:
            pass
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            db.dispose()


def register_cameras(base: str, urls: dict[str, str], auth: dict[str, str]) -> None:
    """Add one camera per simulated stream; a camera of that name is pointed at it."""
    existing = {c["name"]: c for c in httpx.get(f"{base}/api/cameras", headers=auth).json()}
    for name, url in urls.items():
        if name in existing:
            cam = existing[name]
            if cam["main_url"] != url:  # the simulator moved to another port
                httpx.patch(
                    f"{base}/api/cameras/{cam['id']}", json={"main_url": url}, headers=auth
                ).raise_for_status()
            continue
        body = {"name": name, "main_url": url, "location": "demo", "notes": "simulated camera"}
        httpx.post(f"{base}/api/cameras", json=body, timeout=10, headers=auth).raise_for_status()
        console.print(f"camera {name}: {url}")


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
                "title": "{camera} is {type}",
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
        "trigger": {"kind": "event", "event_types": ["intrusion"], "classes": ["person"]},
        "actions": [
            {"type": "raise_alarm", "priority": 2, "category": "security"},
            {"type": "record", "pre_s": 10, "post_s": 30, "keep_days": 90},
        ],
    },
]


def seed_rules(base: str, auth: dict[str, str]) -> None:
    """Give a fresh demo a few rules, so the alarm queue has something to show."""
    if httpx.get(f"{base}/api/rules", timeout=10, headers=auth).json():
        return
    for rule in DEMO_RULES:
        httpx.post(f"{base}/api/rules", json=rule, timeout=10, headers=auth).raise_for_status()
        console.print(f"rule: {rule['name']}")

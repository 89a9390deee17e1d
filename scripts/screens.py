"""Screenshots of the web client for the README: `vigil demo` as a new user starts it, each
screen at a desktop (1600x1000) and a phone (390x844) size, into docs/screens/.

    .venv/bin/python scripts/screens.py [--out docs/screens] [--warm-up 60]

Starts the demo in a temporary data directory on free ports (its clips, models and rules as
on a first run), waits for its analytics to raise events and an alarm, signs in as the
demo's administrator and photographs each screen with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VIGIL_TEST_CHROMIUM", "/usr/bin/chromium")
SIZES = {"desktop": (1600, 1000), "phone": (390, 844)}
# Screen name -> the page's hash route and what shows it has loaded.
SCREENS = {
    "grid": ("#/grid", '[data-testid="tile"]'),
    "map": ("#/map", '[data-testid="map-pin"]'),
    "alarms": ("#/alarms", '[data-testid="alarm-row"]'),
    "cameras": ("#/cameras", '[data-testid="camera-row"]'),
    "search": ("#/search", ".search-view"),
    "rules": ("#/rules", "main"),
}
console = Console(emoji=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"timed out after {seconds:.0f} s waiting for {what}")


def shoot(page: Page, base: str, out: Path, size: str) -> None:
    for name, (route, ready) in SCREENS.items():
        page.goto(f"{base}/{route}")
        try:
            page.wait_for_selector(ready, timeout=20_000)
        except Exception:  # a screen without its content still shows what a user sees
            console.print(f"[yellow]{name}: {ready} did not show within 20 s[/yellow]")
        page.wait_for_timeout(2500)  # live video and charts settle
        path = out / f"{name}-{size}.png"
        page.screenshot(path=str(path))
        console.print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screens")
    parser.add_argument("--warm-up", type=float, default=60.0, help="seconds of events first")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port, rtsp = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="vigil-screens-") as tmp:
        data = Path(tmp) / "data"
        command = [sys.executable, "-m", "vigil", "demo", "--port", str(port)]
        command += ["--rtsp-port", str(rtsp), "--data-dir", str(data)]
        log = (Path(tmp) / "demo.log").open("w")
        # The models set-up installed (in the repository's data directory), not the
        # temporary one's: without them the demo's detectors raise nothing.
        models = REPO / "vigil-data" / "models"
        env = {**os.environ, "VIGIL_ANALYTICS__MODELS_DIR": str(models)}
        demo = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: (data / "demo-admin.txt").exists(), 180, "the demo's administrator")
            wait_for(lambda: httpx.get(f"{base}/api/health").is_success, 180, "the demo's server")
            name, password = (data / "demo-admin.txt").read_text().split()[:2]
            console.print(f"demo up at {base}; {args.warm_up:.0f} s of events before the photos")
            time.sleep(args.warm_up)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    headless=True,
                    args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
                )
                for size, (width, height) in SIZES.items():
                    context = browser.new_context(
                        base_url=base, viewport={"width": width, "height": height}
                    )
                    r = context.request.post(
                        "/api/auth/login", data={"username": name, "password": password}
                    )
                    if not r.ok:
                        raise SystemExit(f"signing in failed: {r.status} {r.text()}")
                    shoot(context.new_page(), base, args.out, size)
                    context.close()
                browser.close()
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()
            log.close()


if __name__ == "__main__":
    main()

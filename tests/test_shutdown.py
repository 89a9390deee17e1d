"""``vigil recorder`` and ``vigil server`` stop cleanly on Ctrl-C (SIGINT) and SIGTERM while a
viewer watches live: exit code 0, no traceback, no "stream broke off", and the camera's last
segment closed with a gap "recording stopped". (The demo's own stop: tests/test_demo.py.)"""

from __future__ import annotations

import signal
import subprocess

import pytest
from sqlalchemy import select
from websockets.sync.client import connect

from tests.conftest import Stack, wait_until
from vigil.devices.simulator import Simulator
from vigil.store.db import Database
from vigil.store.models import Gap, Segment

pytestmark = pytest.mark.slow

# The recorder joins its ingests (up to 10 s), uvicorn waits up to 5 s for open connections.
STOP_TIMEOUT_S = 30
STOPPED_GAP = "recording stopped"


def assert_stopped_cleanly(output: str, db_url: str) -> None:
    """What a clean stop leaves: no traceback or broken stream in the processes' output, no
    segment left open, and each camera's open gap (the absence since the stop) saying why."""
    assert "Traceback" not in output, output
    assert "broke off" not in output, output
    db = Database(db_url)
    try:
        with db.session() as s:
            open_segments = s.scalars(select(Segment.path).where(Segment.end.is_(None))).all()
            recorded = set(s.scalars(select(Segment.camera_id)).all())
            gaps = s.execute(select(Gap.camera_id, Gap.reason).where(Gap.end.is_(None)))
            open_gaps = {camera: reason for camera, reason in gaps}
    finally:
        db.dispose()
    assert not open_segments, f"segments left open: {open_segments}"
    assert recorded, "something was recorded"
    assert open_gaps == dict.fromkeys(recorded, STOPPED_GAP)


def stop(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> int:
    """Send one signal and wait for the exit code."""
    assert proc is not None
    proc.send_signal(sig)
    return proc.wait(STOP_TIMEOUT_S)


def full_logs(stack: Stack) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(stack.data_dir.glob("*.log")))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_recorder_and_server_stop_cleanly_while_watched(
    stack: Stack, simulator: Simulator, sig: signal.Signals
) -> None:
    cam = stack.add_camera("gate", simulator.url_for("pattern"))
    stack.wait_status(cam["id"], "online")
    wait_until(lambda: bool(stack.timeline(cam["id"])["ranges"]), 30, "a recorded range")
    live = stack.url.replace("http", "ws") + f"/api/cameras/{cam['id']}/live"
    # An open live view is what kept uvicorn waiting at a stop (and a second signal then
    # skipped the recorder's shutdown).
    with connect(live, open_timeout=10, max_size=None, additional_headers=stack.auth_headers) as ws:
        ws.recv(timeout=20)
        assert stop(stack.recorder, sig) == 0, full_logs(stack)
        assert stop(stack.server, sig) == 0, full_logs(stack)
    assert_stopped_cleanly(full_logs(stack), stack.db_url)

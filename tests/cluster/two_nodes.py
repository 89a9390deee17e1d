"""A running Vigil with two recorder nodes: the stack's own recorder and a second
``vigil recorder --node NAME`` process on the same database, so that cameras have
somewhere to move."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import STARTUP_S, Stack, free_port, wait_until

FIRST = "recorder-1"  # the stack's recorder (the default node name)
SECOND = "recorder-2"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).is_success
    except httpx.HTTPError:
        return False


@contextmanager
def two_node_stack(data: Path) -> Iterator[Stack]:
    """Server and recorder ``FIRST`` (the stack's), and recorder ``SECOND``, on SQLite."""
    stack = Stack(data, f"sqlite:///{data / 'vigil.db'}")
    data.mkdir(parents=True)
    second: subprocess.Popen[bytes] | None = None
    try:
        stack.start_server()
        stack.start_recorder()
        port = free_port()
        with (data / f"{SECOND}.log").open("ab") as log:
            second = subprocess.Popen(
                [sys.executable, "-m", "vigil", "recorder", "--node", SECOND, "--port", str(port)],
                env=stack.env,
                stdout=log,
                stderr=log,
            )
        health = f"http://127.0.0.1:{port}/media/health"
        wait_until(lambda: _answers(health), STARTUP_S, f"{SECOND} up", stack.logs)
        yield stack
    finally:
        if second is not None and second.poll() is None:
            second.send_signal(signal.SIGINT)
            try:
                second.wait(20)
            except subprocess.TimeoutExpired:
                second.kill()
        stack.stop()

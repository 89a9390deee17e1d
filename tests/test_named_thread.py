"""Threads named for the operating system (top -H, /proc) as well as for Python."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from vigil.named_thread import OS_NAME_LIMIT, NamedThread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def os_name_of(name: str) -> str:
    """Start a NamedThread and read the name the kernel keeps for it."""
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        tid = threading.get_native_id()
        seen.append(Path(f"/proc/self/task/{tid}/comm").read_text().strip())
        done.set()

    thread = NamedThread(target=read, name=name, daemon=True)
    thread.start()
    assert done.wait(5)
    thread.join(5)
    return seen[0]


def test_the_kernel_knows_the_thread_by_its_name() -> None:
    assert os_name_of("decode-12") == "decode-12"
    assert threading.main_thread().name == "MainThread", "other threads keep their names"


def test_a_long_name_is_cut_to_what_linux_keeps() -> None:
    name = "subject-request-1234-erase"
    assert os_name_of(name) == name[:OS_NAME_LIMIT]

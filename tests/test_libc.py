"""Giving a fragmented heap's free pages back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vigil.libc import LIBC, release_free_heap


def _resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(LIBC, "malloc_trim"), reason="glibc only"
)
def test_release_free_heap_returns_the_holes_a_changed_frame_size_leaves() -> None:
    # 64 KiB blocks come from the heap (below glibc's mmap threshold); keeping every eighth
    # alive leaves holes that free() cannot give back, as frames of an old size do.
    blocks = [bytearray(64 * 1024) for _ in range(2048)]
    kept = blocks[::8]
    del blocks
    before = _resident_kib()
    assert release_free_heap() is True
    after = _resident_kib()
    assert before - after > 50 * 1024, f"only {before - after} KiB given back"
    assert all(len(block) == 64 * 1024 for block in kept)  # what was kept stays usable


# Run in a new interpreter, as a service starts: in this long-lived worker, earlier tests
# leave free heap that would serve the blocks before any new mapping is made.
TUNED_HEAP_CHECK = """
import sys
from vigil.libc import FRAME_MMAP_THRESHOLD, tune_heap_for_frames

def resident_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4

if sys.argv[1] == "tuned":
    assert tune_heap_for_frames() is True
warm = [bytearray(FRAME_MMAP_THRESHOLD * 2) for _ in range(8)]
del warm
before = resident_kib()
size = FRAME_MMAP_THRESHOLD + 4096
frames = [bytearray(size) for _ in range(256)]
kept = frames[::8]
del frames
print(resident_kib() - before, len(kept) * size // 1024)
"""


def _stays_resident(mode: str) -> tuple[int, int]:
    """KiB still resident after frame-sized blocks were freed between live ones, and the
    KiB of those kept alive."""
    done = subprocess.run(
        [sys.executable, "-c", TUNED_HEAP_CHECK, mode], capture_output=True, text=True, check=True
    )
    stayed, kept = done.stdout.split()
    return int(stayed), int(kept)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(LIBC, "mallopt"), reason="glibc only"
)
def test_tuned_heap_returns_frames_at_once() -> None:
    # glibc's default raises its mmap threshold when a mapped block is freed, so the next
    # frames come from the heap and what is freed between live ones stays resident ...
    stayed, kept = _stays_resident("default")
    assert stayed > kept + 32 * 1024, (stayed, kept)
    # ... tuned, each frame has its own mapping, given back when it is freed, with no trim.
    stayed, kept = _stays_resident("tuned")
    assert stayed < kept + 4 * 1024, (stayed, kept)

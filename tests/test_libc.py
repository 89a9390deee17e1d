"""Giving a fragmented heap's free pages back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import sys

import pytest

from vigil.libc import FRAME_MMAP_THRESHOLD, LIBC, release_free_heap, tune_heap_for_frames


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


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(LIBC, "mallopt"), reason="glibc only"
)
def test_tuned_heap_returns_frames_at_once() -> None:
    assert tune_heap_for_frames() is True
    # Freed mapped blocks no longer raise the threshold (glibc's default would, and put the
    # next frames in the heap): frame-sized blocks freed between ones still alive go back
    # to the system at once, with no trim.
    warm = [bytearray(FRAME_MMAP_THRESHOLD * 2) for _ in range(8)]
    del warm
    before = _resident_kib()
    size = FRAME_MMAP_THRESHOLD + 4096
    frames = [bytearray(size) for _ in range(256)]
    kept = frames[::8]
    del frames
    stayed = _resident_kib() - before
    assert stayed < len(kept) * size // 1024 + 4 * 1024, f"{stayed} KiB stayed resident"
    assert all(len(frame) == size for frame in kept)

"""The C library, for the few Linux calls Python does not wrap (thread names, heap tuning).

``LIBC`` is None off Linux or where no C library can be found; callers then do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


def _load() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:  # no C library to be found
        return None


LIBC = _load()

# mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Decoded frames and model inputs (a 640 x 360 frame is 675 KiB) are above this: each gets
# its own mapping, returned to the system the moment it is freed.
FRAME_MMAP_THRESHOLD = 256 * 1024
HEAP_ARENAS = 2


def tune_heap_for_frames() -> bool:
    """Set glibc's allocator up for a long-running process that handles video frames.

    By default glibc raises its mmap threshold each time a large mapped block is freed (up
    to 32 MiB), so after the first few frames every frame comes from the heap arenas, one
    per thread up to 8 per core; frames of many sizes from many threads then leave holes
    that no trim gives back and the process grows for hours. A fixed threshold keeps frames
    in their own mappings, and two arenas keep the heap the small objects share compact.
    Call it first thing in the process, before threads start.

    Returns:
        Whether both settings were taken (False off glibc).
    """
    mallopt = getattr(LIBC, "mallopt", None)
    if mallopt is None:  # not glibc (musl, macOS): its allocator, its own behaviour
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, FRAME_MMAP_THRESHOLD)) and bool(
        mallopt(_M_ARENA_MAX, HEAP_ARENAS)
    )


def release_free_heap() -> bool:
    """Give the heap's free pages back to the system (glibc's ``malloc_trim``).

    A recorder's threads decode frames whose size changes when a camera changes resolution
    or reconnects; glibc keeps the freed buffers of the old size in its per-thread arenas,
    where no new allocation fits them, and the process's memory grows step by step. Trimming
    returns those pages (the allocations stay valid); it costs a walk over the arenas, a few
    milliseconds, so the recorder calls it once a minute.

    Returns:
        Whether any memory was given back (False also off glibc).
    """
    trim = getattr(LIBC, "malloc_trim", None)
    if trim is None:  # not glibc (musl, macOS): nothing to do
        return False
    return bool(trim(0))

"""The C library, for the few Linux calls Python does not wrap (thread names, heap trimming).

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

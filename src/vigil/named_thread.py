"""Threads that carry their name into the operating system.

Python 3.11 names only its own ``Thread`` objects: ``top -H``, ``ps -L`` and ``/proc`` show
every thread of a recorder as "python". A :class:`NamedThread` also names its OS thread, so
that an administrator (and ``bench/analytics.py``) sees which camera's ingest, decoder or
which detector worker uses the CPU.

Example:
    >>> thread = NamedThread(target=lambda: None, name="decode-7")
    >>> thread.start(); thread.join()
"""

from __future__ import annotations

import ctypes
import logging
import threading

from vigil.libc import LIBC

log = logging.getLogger(__name__)

OS_NAME_LIMIT = 15
"""Linux keeps at most 15 bytes of a thread's name; longer names are cut."""
_PR_SET_NAME = 15


def set_os_thread_name(name: str) -> None:
    """Name the calling thread for the operating system (Linux; elsewhere nothing)."""
    if LIBC is None:
        return
    raw = name.encode("utf-8", "replace")[:OS_NAME_LIMIT]
    if LIBC.prctl(_PR_SET_NAME, ctypes.c_char_p(raw), 0, 0, 0) != 0:
        log.debug("could not name thread %s (errno %s)", name, ctypes.get_errno())


class NamedThread(threading.Thread):
    """A ``threading.Thread`` whose OS thread carries its name (cut to 15 bytes)."""

    def run(self) -> None:
        set_os_thread_name(self.name)
        super().run()

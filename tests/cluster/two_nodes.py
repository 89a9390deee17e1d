"""A running Vigil with two recorder nodes: the stack's own recorder and a second
``vigil recorder --node NAME`` process on the same database, so that cameras have
somewhere to move."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import Stack

FIRST = "recorder-1"  # the stack's recorder (the default node name)
SECOND = "recorder-2"


@contextmanager
def two_node_stack(data: Path) -> Iterator[Stack]:
    """Server and recorder ``FIRST`` (the stack's), and recorder ``SECOND``, on SQLite."""
    stack = Stack(data, f"sqlite:///{data / 'vigil.db'}")
    data.mkdir(parents=True)
    try:
        stack.start_server()
        stack.start_recorder()
        stack.start_node(SECOND)
        yield stack
    finally:
        stack.stop()

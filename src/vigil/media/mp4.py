"""MP4 boxes: walking them in bytes, and an in-memory file for PyAV's muxer to write into."""

from __future__ import annotations

import struct
from collections.abc import Iterator


def iter_boxes(
    data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, box_end)`` of the complete boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield bytes(kind), pos + header, pos + size
        pos += size


def find_box(
    data: bytes, path: list[bytes], start: int = 0, end: int | None = None
) -> tuple[int, int] | None:
    """Payload range of the first box at ``path`` (e.g. ``[b"trak", b"mdia"]``) or None."""
    for kind, payload, box_end in iter_boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return payload, box_end
            found = find_box(data, path[1:], payload, box_end)
            if found is not None:
                return found
    return None


class MemoryFile:
    """A write-only, non-seekable file for PyAV's muxer: hands on what it wrote, either as
    chunks of bytes or as complete top-level boxes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        """Called by the muxer."""
        self._buffer += data
        return len(data)

    def drain(self, chunk_size: int) -> Iterator[bytes]:
        """Everything written so far, in chunks of at most ``chunk_size`` bytes."""
        while self._buffer:
            chunk = bytes(self._buffer[:chunk_size])
            del self._buffer[:chunk_size]
            yield chunk

    def boxes(self) -> list[tuple[bytes, bytes]]:
        """Complete top-level boxes written so far, as ``(type, whole box)``."""
        buffer = self._buffer
        out: list[tuple[bytes, bytes]] = []
        consumed = 0
        for kind, _payload, end in iter_boxes(buffer):
            out.append((kind, bytes(buffer[consumed:end])))
            consumed = end
        if consumed:
            del buffer[:consumed]
        return out

"""Camera faults on demand: an RTSP proxy that cuts, stalls, corrupts and switches streams.

The proxy sits between an RTSP client (the recorder) and an RTSP server (the simulator):
one upstream TCP connection per client connection, forwarded both ways at message
boundaries (interleaved ``$`` frames, RTSP requests and answers). A connection belongs to
the mount its first request names (``rtsp://PROXY/<mount>``); a fault acts on every live
connection of that mount, and on those made while it lasts:

* ``cut``: both sides of the connection reset; new ones closed for ``down_s`` (camera off).
* ``stall``: nothing forwarded either way for a while (a frozen camera or network).
* ``garbage``: random bytes between two interleaved frames (a corrupted stream).
* ``splice``: in the same RTSP session, the video switches at the other mount's next
  keyframe to that mount's RTP, renumbered and retimed to continue the stream: new
  parameter sets in-band, as when an operator changes a camera's resolution.
* ``reroute``: new connections are served another mount (requests rewritten); with
  ``cut`` a camera that restarts with another encoder configuration (a new SPS).

The proxy runs its own asyncio loop in a thread; its methods may be called from any
thread. It assumes what Vigil's client and FFmpeg do: the video is the first track set
up, on interleaved channels 0 (RTP) and 1 (RTCP).

    >>> with Simulator({"cam": clip, "alt": other}) as sim, FaultProxy(sim.port) as proxy:
    ...     url = proxy.url_for("cam")  # hand this to the recorder
    ...     proxy.stall("cam", 8)       # the recorder's read times out
    ...     proxy.splice("cam", "alt")  # the resolution changes mid-stream
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from vigil.devices.rtsp import parse_sdp

__all__ = ["FaultProxy", "ProxyError", "is_keyframe_start", "message_end", "restamp"]

log = logging.getLogger(__name__)

READ_BYTES = 64 * 1024
MAX_HEAD_BYTES = 64 * 1024  # an RTSP head longer than this is not RTSP
CALL_TIMEOUT_S = 10.0
DEFAULT_FRAME_TICKS = 3600  # 25 fps on the 90 kHz clock, until the stream shows its own
VIDEO_RTP, VIDEO_RTCP = 0, 1
NAL_SPS, STAP_A = 7, 24
RTP_HEADER = 12
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")
_SESSION = re.compile(rb"(?im)^session:\s*([^;\r\n]+)")
_CONTENT_BASE = re.compile(rb"(?im)^content-base:\s*(\S+)")

T = TypeVar("T")


class ProxyError(ConnectionError):
    """A peer sent something that is not RTSP, or an upstream session failed."""


# ---------------------------------------------------------------------------- framing
def message_end(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Where the message starting at ``pos`` ends: an interleaved frame (``$``, channel,
    16-bit length, payload) or an RTSP message (head, blank line, Content-Length body).
    None while it is incomplete.

    >>> message_end(b"$\\x00\\x00\\x02ab$\\x01")
    6
    >>> message_end(b"RTSP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi")
    40
    """
    if len(buf) - pos < 4:
        return None
    if buf[pos] == 0x24:
        end = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
        return end if end <= len(buf) else None
    head_end = buf.find(b"\r\n\r\n", pos, pos + MAX_HEAD_BYTES)
    if head_end < 0:
        if len(buf) - pos > MAX_HEAD_BYTES:
            raise ProxyError("not RTSP: no end of a message head")
        return None
    length = _CONTENT_LENGTH.search(buf, pos, head_end)
    end = head_end + 4 + (int(length.group(1)) if length else 0)
    return end if end <= len(buf) else None


def _complete_messages(buf: bytearray) -> list[tuple[int, int]]:
    """(start, end) of each whole message at the front of ``buf``."""
    spans, pos = [], 0
    while (end := message_end(buf, pos)) is not None:
        spans.append((pos, end))
        pos = end
    return spans


async def _read_message(reader: asyncio.StreamReader, buf: bytearray) -> bytes:
    """The next whole message from a peer (what follows it stays in ``buf``)."""
    while (end := message_end(buf)) is None:
        data = await reader.read(READ_BYTES)
        if not data:
            raise ProxyError("the peer closed the connection")
        buf += data
    message = bytes(buf[:end])
    del buf[:end]
    return message


def _request_mount(request: bytes) -> str | None:
    """The mount (first path segment) a request's URL names."""
    parts = request.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"RTSP/"):
        return None
    path = urlsplit(parts[1].decode("latin-1")).path
    return path.strip("/").split("/", 1)[0] or None


def _rewrite_request(request: bytes, mount: str, target: str) -> bytes:
    """A request with its URL's first path segment ``mount`` replaced by ``target``."""
    line, sep, rest = request.partition(b"\r\n")
    method, url, version = line.split(b" ")
    parts = urlsplit(url.decode("latin-1"))
    segments = parts.path.split("/")
    if len(segments) > 1 and segments[1] == mount:
        segments[1] = target
        url = urlunsplit(parts._replace(path="/".join(segments))).encode("latin-1")
    return b" ".join((method, url, version)) + sep + rest


# ---------------------------------------------------------------------------- RTP
def is_keyframe_start(frame: bytes | bytearray | memoryview) -> bool:
    """Whether an interleaved RTP frame starts a keyframe: its payload is an SPS (what a
    camera sends first of each IDR frame), alone or first in a STAP-A aggregate."""
    if len(frame) < 4 + RTP_HEADER + 1:
        return False
    start = 4 + RTP_HEADER + 4 * (frame[4] & 0x0F)
    if start >= len(frame):
        return False
    kind = frame[start] & 0x1F
    if kind == STAP_A:
        return start + 3 < len(frame) and frame[start + 3] & 0x1F == NAL_SPS
    return kind == NAL_SPS


def restamp(
    frame: bytes | bytearray | memoryview, *, seq: int, timestamp: int, ssrc: int, pt: int
) -> bytes:
    """An interleaved RTP frame with another sequence number, timestamp, SSRC and payload
    type (the marker bit and payload stay)."""
    out = bytearray(frame)
    out[5] = (out[5] & 0x80) | (pt & 0x7F)
    out[6:8] = (seq & 0xFFFF).to_bytes(2, "big")
    out[8:12] = (timestamp & 0xFFFFFFFF).to_bytes(4, "big")
    out[12:16] = (ssrc & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(out)


def _channel(frame: bytes | bytearray) -> int | None:
    return frame[1] if frame[0] == 0x24 else None


def _garbage(size: int) -> bytes:
    """Random bytes that do not start like an interleaved frame."""
    data = bytearray(os.urandom(size))
    if data and data[0] == 0x24:
        data[0] = 0x25
    return bytes(data)


# ---------------------------------------------------------------------------- state
@dataclass(eq=False)
class _Mount:
    """One camera, as faults see it."""

    name: str
    route: str  # the upstream mount its new connections are served
    flowing: asyncio.Event
    down_until: float = 0.0
    stall_timer: asyncio.TimerHandle | None = None
    live: set[_Connection] = field(default_factory=set)
    accepted: int = 0


class _VideoSwitch:
    """What a connection's client sees of its video: the upstream's own, then, after each
    splice, another mount's, continuing the sequence numbers, timestamps and SSRC.

    A source (None: the connection's own upstream; else a mount the proxy plays) stays on
    until it ends a frame (marker bit) after the next source has sent a keyframe's start;
    then the next one's frames follow from that keyframe, renumbered and retimed. A spliced
    connection's own video and video RTCP are dropped (its audio stays)."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.next: str | None = None
        self._pending: list[bytes] = []  # the next source's frames from its latest keyframe
        self._ssrc = self._seq = self._ts = self._pt = 0
        self._step = DEFAULT_FRAME_TICKS
        self._seen = False
        self._base_ts = self._source_ts = 0

    def switch_to(self, source: str) -> None:
        """Switch to ``source`` at its next keyframe."""
        self.next, self._pending = source, []

    def wants(self, source: str) -> bool:
        """Whether frames of ``source`` may still be sent (it is on, or coming)."""
        return source in (self.current, self.next)

    def frame(self, source: str | None, frame: bytes) -> bytes:
        """What to send the client for a video frame of ``source``."""
        if source == self.next and source != self.current:
            if is_keyframe_start(frame):
                self._pending = [frame]
            elif self._pending:
                self._pending.append(frame)
            return b""
        if source != self.current or len(frame) < 4 + RTP_HEADER:
            return b""
        if source is None:
            self._note(frame)
        out = frame if source is None else self._restamp(frame)
        if not (out[5] & 0x80 and self._pending):
            return out
        # The frame ends here: the next source takes over from its keyframe.
        assert self.next is not None
        self.current, pending, self._pending = self.next, self._pending, []
        self._base_ts = self._ts + self._step
        self._source_ts = int.from_bytes(pending[0][8:12], "big")
        return out + b"".join(self._restamp(f) for f in pending)

    def _restamp(self, frame: bytes) -> bytes:
        """A frame of the current source as the next one the client sees."""
        ts = self._base_ts + int.from_bytes(frame[8:12], "big") - self._source_ts
        out = restamp(frame, seq=self._seq + 1, timestamp=ts, ssrc=self._ssrc, pt=self._pt)
        self._note(out)
        return out

    def _note(self, out: bytes) -> None:
        """Keep what the client saw last: the next source continues from it."""
        ts = int.from_bytes(out[8:12], "big")
        if self._seen and ts != self._ts:
            step = (ts - self._ts) & 0xFFFFFFFF
            if 0 < step < 90000:
                self._step = step
        self._seq, self._ts, self._seen = int.from_bytes(out[6:8], "big"), ts, True
        self._ssrc, self._pt = int.from_bytes(out[12:16], "big"), out[5] & 0x7F


class _Connection:
    """One client connection and its upstream twin."""

    def __init__(
        self,
        proxy: FaultProxy,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._proxy = proxy
        self._client_r, self._client_w = reader, writer
        self._upstream_w: asyncio.StreamWriter | None = None
        self.mount: _Mount | None = None
        self.garbage = b""
        self.video: _VideoSwitch | None = None  # once spliced
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Identify the mount, connect upstream, forward both ways until either side ends."""
        buf = bytearray()
        try:
            first = await _read_message(self._client_r, buf)
            name = _request_mount(first)
            if name is None:
                raise ProxyError("the first request names no mount")
            self.mount = mount = self._proxy.mount(name)
            mount.accepted += 1
            if time.monotonic() < mount.down_until:
                self.abort()
                return
            await mount.flowing.wait()
            route = mount.route
            host, port = self._proxy.upstream
            up_r, self._upstream_w = await asyncio.open_connection(host, port)
            mount.live.add(self)
            self._send_up(first, mount.name, route)
            upward = self._spawn(self._pump_up(buf, mount.name, route))
            downward = self._spawn(self._pump_down(up_r))
            await asyncio.wait({upward, downward}, return_when=asyncio.FIRST_COMPLETED)
        except (ProxyError, OSError) as exc:
            log.debug("proxy connection ended: %s", exc)
        finally:
            self.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        return task

    def _send_up(self, message: bytes, mount: str, route: str) -> None:
        assert self._upstream_w is not None
        if message[:1] != b"$" and route != mount:
            message = _rewrite_request(message, mount, route)
        self._upstream_w.write(message)

    async def _pump_up(self, buf: bytearray, mount: str, route: str) -> None:
        assert self.mount is not None and self._upstream_w is not None
        with contextlib.suppress(ProxyError, OSError):
            while True:
                message = await _read_message(self._client_r, buf)
                await self.mount.flowing.wait()
                self._send_up(message, mount, route)
                await self._upstream_w.drain()

    async def _pump_down(self, upstream: asyncio.StreamReader) -> None:
        assert self.mount is not None
        buf = bytearray()
        with contextlib.suppress(ProxyError, OSError):
            while data := await upstream.read(READ_BYTES):
                buf += data
                spans = _complete_messages(buf)
                if not spans:
                    continue
                await self.mount.flowing.wait()
                self._client_w.write(self._outgoing(buf, spans))
                del buf[: spans[-1][1]]
                await self._client_w.drain()

    def _outgoing(self, buf: bytearray, spans: list[tuple[int, int]]) -> bytes:
        """What the client gets for these whole messages, with the faults applied."""
        out, self.garbage = bytearray(self.garbage), b""
        if self.video is None:
            out += buf[: spans[-1][1]]
            return bytes(out)
        for start, end in spans:
            frame = bytes(buf[start:end])
            channel = _channel(frame)
            if channel == VIDEO_RTP:
                out += self.video.frame(None, frame)
            elif channel != VIDEO_RTCP or self.video.current is None:
                out += frame
        return bytes(out)

    def start_splice(self, source: str) -> None:
        """Switch the video to ``source`` (another upstream mount) at its next keyframe."""
        if self.video is None:
            self.video = _VideoSwitch()
        self.video.switch_to(source)
        self._spawn(self._play(self.video, source))

    async def _play(self, video: _VideoSwitch, source: str) -> None:
        """Play ``source``'s video into the connection for as long as it is wanted."""
        host, port = self._proxy.upstream
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            log.warning("splice to %s: cannot connect upstream: %s", source, exc)
            return
        try:
            buf = await _play_video(reader, writer, f"rtsp://{host}:{port}/{source}")
            while video.wants(source):
                frame = await _read_message(reader, buf)
                if _channel(frame) == VIDEO_RTP and (out := video.frame(source, frame)):
                    self._client_w.write(out)
                    await self._client_w.drain()
        except (ProxyError, OSError) as exc:
            log.debug("splice to %s ended: %s", source, exc)
        finally:
            writer.close()

    def abort(self) -> None:
        """Reset both sides at once (TCP RST, as from a camera that rebooted)."""
        for writer in (self._client_w, self._upstream_w):
            if writer is not None:
                _reset(writer)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.mount is not None:
            self.mount.live.discard(self)
        self._client_w.close()
        if self._upstream_w is not None:
            self._upstream_w.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP reset rather than an orderly end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _play_video(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str
) -> bytearray:
    """DESCRIBE, SETUP the video track on channels 0-1, PLAY; returns what already arrived
    after the PLAY answer."""
    buf = bytearray()
    cseq = 0

    async def request(method: str, target: str, *headers: str) -> bytes:
        nonlocal cseq
        cseq += 1
        lines = [f"{method} {target} RTSP/1.0", f"CSeq: {cseq}", "User-Agent: vigil-faults"]
        writer.write(("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode())
        while (answer := await _read_message(reader, buf))[:1] == b"$":
            pass  # RTP that came before the answer
        status = answer.split(b"\r\n", 1)[0].split(b" ")
        if len(status) < 2 or status[1] != b"200":
            raise ProxyError(f"{method} {target}: {status!r}")
        return answer

    answer = await request("DESCRIBE", url, "Accept: application/sdp")
    head, _, body = answer.partition(b"\r\n\r\n")
    base = _CONTENT_BASE.search(head)
    base_url = (base.group(1).decode() if base else url).rstrip("/") + "/"
    video = next((m for m in parse_sdp(body.decode("utf-8", "replace")) if m.kind == "video"), None)
    if video is None:
        raise ProxyError(f"{url}: no video track")
    control = video.control
    track = control if control.startswith("rtsp") else base_url + control.lstrip("/")
    answer = await request("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1")
    session = _SESSION.search(answer.partition(b"\r\n\r\n")[0])
    if session is None:
        raise ProxyError(f"{url}: no session")
    await request("PLAY", url, f"Session: {session.group(1).decode()}", "Range: npt=0.000-")
    return buf


# ---------------------------------------------------------------------------- the proxy
class FaultProxy:
    """An RTSP proxy to ``upstream_host:upstream_port`` that injects camera faults.

    Starts serving at once (``port=0`` picks a free port); ``stop()`` or the ``with``
    block's end closes everything."""

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self._mounts: dict[str, _Mount] = {}
        self._connections: dict[_Connection, asyncio.Task[None]] = {}  # accepted, not ended
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, host, port), self._loop
        )
        self._server = future.result(CALL_TIMEOUT_S)
        self.port: int = self._server.sockets[0].getsockname()[1]

    # -- faults (any thread) -------------------------------------------------------------
    def url_for(self, mount: str) -> str:
        """The URL of a mount through the proxy."""
        return f"rtsp://{self.host}:{self.port}/{mount}"

    def cut(self, mount: str, *, down_s: float = 0.0) -> int:
        """Reset the mount's connections; close new ones for ``down_s``. Returns how many
        live connections were cut."""

        def act(m: _Mount) -> int:
            m.down_until = time.monotonic() + down_s
            live = list(m.live)
            for conn in live:
                conn.abort()
            return len(live)

        return self._on(mount, act)

    def stall(self, mount: str, seconds: float) -> int:
        """Forward nothing of the mount, either way, for ``seconds`` (from now)."""

        def act(m: _Mount) -> int:
            if m.stall_timer is not None:
                m.stall_timer.cancel()
            m.flowing.clear()
            m.stall_timer = self._loop.call_later(seconds, m.flowing.set)
            return len(m.live)

        return self._on(mount, act)

    def garbage(self, mount: str, size: int = 4096) -> int:
        """Send each live connection ``size`` random bytes between two interleaved frames."""

        def act(m: _Mount) -> int:
            for conn in m.live:
                conn.garbage += _garbage(size)
            return len(m.live)

        return self._on(mount, act)

    def splice(self, mount: str, source: str) -> int:
        """Switch the live connections' video to ``source`` in-band at its next keyframe,
        and serve ``source`` to the mount's new connections."""

        def act(m: _Mount) -> int:
            m.route = source
            for conn in m.live:
                conn.start_splice(source)
            return len(m.live)

        return self._on(mount, act)

    def reroute(self, mount: str, target: str, *, cut: bool = False) -> int:
        """Serve ``target`` to the mount's new connections; with ``cut`` also reset the
        live ones (the camera restarts with another stream)."""

        def act(m: _Mount) -> int:
            m.route = target
            live = list(m.live) if cut else []
            for conn in live:
                conn.abort()
            return len(live)

        return self._on(mount, act)

    def accepted(self, mount: str) -> int:
        """Connections made to a mount so far (a client's reconnects show here)."""
        return self._on(mount, lambda m: m.accepted)

    def route_of(self, mount: str) -> str:
        """The upstream mount that the mount's new connections are served."""
        return self._on(mount, lambda m: m.route)

    # -- plumbing ------------------------------------------------------------------------
    def mount(self, name: str) -> _Mount:
        """The state of a mount, made on first use (loop thread only)."""
        found = self._mounts.get(name)
        if found is None:
            found = self._mounts[name] = _Mount(name, name, asyncio.Event())
            found.flowing.set()
        return found

    def _on(self, mount: str, act: Callable[[_Mount], T]) -> T:
        async def call() -> T:
            return act(self.mount(mount))

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(CALL_TIMEOUT_S)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[conn] = task
        try:
            await conn.run()
        finally:
            del self._connections[conn]

    def stop(self) -> None:
        """Close the listener and every connection, and end the loop's thread."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            self._server.close()
            for m in self._mounts.values():
                m.flowing.set()
            for conn in list(self._connections):
                conn.abort()
            # Aborted connections end on their own; a cancelled one would make asyncio's
            # stream server log its CancelledError (Python 3.11).
            if self._connections:
                await asyncio.wait(self._connections.values(), timeout=CALL_TIMEOUT_S / 2)

        with contextlib.suppress(TimeoutError):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(CALL_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT_S)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

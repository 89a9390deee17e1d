"""An RTSP camera that refuses every login (401 with a Basic challenge), for tests of
wrong credentials."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RefusingCamera:
    """An RTSP server that answers every request 401 with a Basic challenge."""

    port: int = 0
    connections: int = 0
    authorizations: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"


@contextmanager
def refusing_camera() -> Iterator[RefusingCamera]:
    refusing = RefusingCamera()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            refusing.connections += 1
            while True:
                lines = []
                while (line := self.rfile.readline()) not in (b"\r\n", b""):
                    lines.append(line.decode("latin-1").strip())
                if not lines:
                    return
                cseq = next(
                    (v for k, _, v in (x.partition(": ") for x in lines) if k.lower() == "cseq"),
                    "1",
                )
                auth = [x for x in lines if x.lower().startswith("authorization:")]
                refusing.authorizations += auth
                self.wfile.write(
                    f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
                    'WWW-Authenticate: Basic realm="camera"\r\nContent-Length: 0\r\n\r\n'.encode()
                )

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    refusing.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield refusing
    server.shutdown()
    server.server_close()

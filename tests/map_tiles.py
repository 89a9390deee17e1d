"""A street map tile server for tests: 256 px PNG tiles drawn for each ``/{z}/{x}/{y}.png``
(a city's own tile server in miniature), counting what it serves."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw

TILE_PATH = re.compile(r"^/(\d+)/(\d+)/(\d+)\.png$")


def tile_png(z: int, x: int, y: int) -> bytes:
    """A tile whose colour and label say which it is."""
    picture = Image.new("RGB", (256, 256), ((x * 40) % 256, (y * 40) % 256, 120 + z * 5))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 255, 255), outline=(255, 255, 255))
    draw.text((10, 10), f"{z}/{x}/{y}", fill=(255, 255, 255))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


@dataclass
class TileServer:
    port: int = 0
    served: list[str] = field(default_factory=list)

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.port}/{{z}}/{{x}}/{{y}}.png"


@contextmanager
def tile_server() -> Iterator[TileServer]:
    tiles = TileServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            match = TILE_PATH.match(self.path)
            if match is None:
                self.send_error(404)
                return
            tiles.served.append(self.path)
            body = tile_png(*(int(g) for g in match.groups()))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tiles.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tiles
    finally:
        server.shutdown()
        server.server_close()

"""A small MJPEG-over-HTTP camera (multipart/x-mixed-replace), as many cheap cameras serve."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY = b"vigilframe"


def jpeg_frames(seconds: float = 2, fps: int = 10) -> list[bytes]:
    """JPEG frames of a test pattern, made by FFmpeg."""
    data = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=320x240:rate={fps}:duration={seconds}",
            "-c:v",
            "mjpeg",
            "-f",
            "image2pipe",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    frames, i = [], 0
    while (start := data.find(b"\xff\xd8", i)) >= 0:
        end = data.find(b"\xff\xd9", start) + 2
        frames.append(data[start:end])
        i = end
    return frames


@contextmanager
def mjpeg_camera(fps: int = 10) -> Iterator[str]:
    """Serve a looping MJPEG stream; yields its URL."""
    frames = jpeg_frames(fps=fps)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header(
                "Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}"
            )
            self.end_headers()
            n = 0
            try:
                while not stopping.is_set():
                    frame = frames[n % len(frames)]
                    head = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                    self.wfile.write(head % (BOUNDARY, len(frame)) + frame + b"\r\n")
                    n += 1
                    time.sleep(1 / fps)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    stopping = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/video.mjpg"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()

"""Vigil's RTSP client on a broken stream: what is neither RTP nor RTSP ends the session with
a clear error (never a hang, never another kind of error), and what is RTSP is read past.
(Faults in front of the simulator, through the ingest: ``tests/media/test_ingest_faults.py``.)
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest

from tests.devices.test_faults import rtp
from vigil.devices.rtsp import MAX_HEAD_BYTES, RtspContainer, RtspError, RtspSession
from vigil.devices.simulator.faults import message_end

FRAMES_BEFORE, FRAMES_AFTER = 5, 200
SDP = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n"


class ScriptedCamera:
    """An RTSP server that answers DESCRIBE, SETUP and PLAY, then sends a few RTP frames,
    ``inserted`` bytes, and more frames (numbered by their sequence number), then stays
    silent with the connection open."""

    def __init__(self, inserted: bytes = b"", sdp: str = SDP) -> None:
        self.inserted, self.sdp = inserted, sdp
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"rtsp://127.0.0.1:{self._listener.getsockname()[1]}/cam"
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn, contextlib.suppress(OSError):  # the client may hang up at any point
            self._play(conn)
            self._closed.wait()

    def _play(self, conn: socket.socket) -> None:
        buf = bytearray()
        while True:
            while (end := message_end(buf)) is None:
                if not (data := conn.recv(65536)):
                    return
                buf += data
            request = bytes(buf[:end]).decode()
            del buf[:end]
            cseq = next(h for h in request.split("\r\n") if h.lower().startswith("cseq"))
            head = ["RTSP/1.0 200 OK", cseq, "Session: 42"]
            body = ""
            if request.startswith("DESCRIBE"):
                body = self.sdp
                head += [f"Content-Base: {self.url}/", f"Content-Length: {len(body)}"]
            conn.sendall(("\r\n".join(head) + "\r\n\r\n" + body).encode())
            if request.startswith("PLAY"):
                break
        frames = [
            rtp(seq=n, ts=n * 3600, ssrc=1, marker=True, payload=b"\x41\x9a")
            for n in range(FRAMES_BEFORE + FRAMES_AFTER)
        ]
        conn.sendall(b"".join(frames[:FRAMES_BEFORE]) + self.inserted)
        for frame in frames[FRAMES_BEFORE:]:
            conn.sendall(frame)
            time.sleep(0.001)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


def read(inserted: bytes) -> list[int]:
    """Sequence numbers of the RTP frames the client reads until the camera falls silent
    (2 s: an RtspError "no data"), or the error the session ended with."""
    camera = ScriptedCamera(inserted)
    session = RtspSession(camera.url, timeout=2)
    seqs: list[int] = []
    try:
        session.start()
        for buf, batch in session.rtp():
            seqs += [int.from_bytes(buf[start + 2 : start + 4], "big") for _, start, _ in batch]
    except RtspError as exc:
        if "no data from the camera" not in str(exc):
            raise
    finally:
        session.close()
        camera.close()
    return seqs


@pytest.mark.parametrize(
    "inserted",
    [
        pytest.param(b"\x25" + os.urandom(4095), id="random bytes"),
        pytest.param(b"\r\n\r\n", id="a blank line"),
        pytest.param(b"RTSP/1.0\r\n\r\n", id="a status line without status"),
        pytest.param(b"Hello camera\r\n\r\n", id="a line that is not RTSP"),
        pytest.param(
            b"RTSP/1.0 200 OK\r\n" + b"X-Padding: " + b"a" * MAX_HEAD_BYTES, id="an endless head"
        ),
        pytest.param(b"$\x00\x00\x0c" + bytes(12), id="a frame that is not RTP"),
    ],
)
def test_garbage_ends_the_session_with_a_clear_error(inserted: bytes) -> None:
    with pytest.raises(RtspError, match=r"^garbage in the stream: .+ is neither RTP nor RTSP$"):
        read(inserted)


@pytest.mark.parametrize(
    "inserted",
    [
        b"RTSP/1.0 200 OK\r\nContent-Length: -4\r\n\r\n",
        b"RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n",
    ],
)
def test_an_rtsp_message_with_a_bad_length_ends_the_session(inserted: bytes) -> None:
    with pytest.raises(RtspError, match="unreadable RTSP message: Content-Length"):
        read(inserted)


@pytest.mark.parametrize(
    "inserted",
    [
        pytest.param(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\n", id="a keep-alive's answer"),
        pytest.param(
            b"RTSP/1.0 200 OK\r\nCSeq: 8\r\nContent-Length: 5\r\n\r\nhello", id="with a body"
        ),
        pytest.param(
            b"SET_PARAMETER rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 1\r\n"
            b"Content-Length: 4\r\n\r\nping",
            id="a request from the camera",
        ),
    ],
)
def test_rtsp_messages_among_the_rtp_are_read_past(inserted: bytes) -> None:
    assert read(inserted) == list(range(FRAMES_BEFORE + FRAMES_AFTER)), "every frame"


@pytest.mark.parametrize(
    "sdp",
    [
        "v=0\r\nm=video 0 RTP/AVP h264\r\n",  # a payload type that is not a number
        "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96\r\n",  # an rtpmap without a codec
        SDP.replace("a=control", "a=fmtp:96 sprop-parameter-sets=Z0LAH,aM48gA==\r\na=control"),
    ],
)
def test_a_description_that_does_not_parse_is_an_rtsp_error(sdp: str) -> None:
    camera = ScriptedCamera(sdp=sdp)
    try:
        with pytest.raises(RtspError, match=r"^unreadable (session description|sprop)"):
            RtspContainer(camera.url, timeout=2)
    finally:
        camera.close()

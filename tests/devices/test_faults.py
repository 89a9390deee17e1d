"""The fault-injecting RTSP proxy: framing, RTP rewriting, and each fault against a small
scripted camera (and the splice once against the real simulator)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from vigil.devices.rtp import H264Assembler
from vigil.devices.rtsp import RtspSession
from vigil.devices.simulator import Simulator, generate_test_clip, gstreamer_missing
from vigil.devices.simulator.faults import (
    MAX_HEAD_BYTES,
    FaultProxy,
    ProxyError,
    is_keyframe_start,
    message_end,
    restamp,
)

FRAME_S = 0.01
TICKS = 3600


def rtp(*, seq: int, ts: int, ssrc: int, marker: bool, payload: bytes, channel: int = 0) -> bytes:
    header = bytes([0x80, (0x80 if marker else 0) | 96])
    header += seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
    body = header + payload
    return b"$" + bytes([channel]) + len(body).to_bytes(2, "big") + body


def fields(frame: bytes) -> tuple[int, int, int, bool, int]:
    """(seq, timestamp, ssrc, marker, NAL type) of an interleaved RTP frame."""
    return (
        int.from_bytes(frame[6:8], "big"),
        int.from_bytes(frame[8:12], "big"),
        int.from_bytes(frame[12:16], "big"),
        bool(frame[5] & 0x80),
        frame[16] & 0x1F,
    )


# ---------------------------------------------------------------------------- pure parts
@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"$\x00\x00\x02ab", 6),
        (b"$\x00\x00\x02a", None),
        (b"$\x01", None),
        (b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n$", 28),
        (b"RTSP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nsdp", 41),
        (b"RTSP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nsd", None),
        (b"OPTIONS rtsp://h/cam RTSP/1.0\r\n", None),
    ],
)
def test_message_end_finds_whole_frames_and_messages(data: bytes, end: int | None) -> None:
    assert message_end(data) == end


def test_a_head_without_end_is_not_rtsp() -> None:
    with pytest.raises(ProxyError):
        message_end(b"x" * (MAX_HEAD_BYTES + 1))


@pytest.mark.parametrize(
    ("payload", "keyframe"),
    [
        (bytes([0x67, 0x42]), True),  # SPS
        (bytes([0x78, 0x00, 0x02, 0x67, 0x42]), True),  # STAP-A starting with an SPS
        (bytes([0x78, 0x00, 0x02, 0x68, 0xCE]), False),  # STAP-A of a PPS
        (bytes([0x7C, 0x85]), False),  # FU-A of an IDR slice
        (bytes([0x41, 0x9A]), False),  # a P slice
    ],
)
def test_keyframe_start_is_an_sps(payload: bytes, keyframe: bool) -> None:
    frame = rtp(seq=1, ts=0, ssrc=1, marker=False, payload=payload)
    assert is_keyframe_start(frame) is keyframe


def test_restamp_keeps_marker_and_payload() -> None:
    frame = rtp(seq=7, ts=100, ssrc=1, marker=True, payload=b"\x65abc")
    out = restamp(frame, seq=0x1_0002, timestamp=(1 << 32) + 5, ssrc=9, pt=97)
    assert fields(out) == (2, 5, 9, True, 5)
    assert out[5] & 0x7F == 97 and out[16:] == frame[16:]


# ---------------------------------------------------------------------------- a camera
class FakeCamera:
    """An RTSP server for any mount: answers every request, and after PLAY sends a frame
    every 10 ms (an SPS packet, then a slice with the marker bit), its SSRC from the
    mount's name. Notes the request lines it got."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.requests: list[str] = []
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        mount, playing, seq, ts = "", False, 0, 0
        with conn:
            while True:
                if select.select([conn], [], [], FRAME_S)[0]:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf += data
                    while (end := message_end(buf)) is not None:
                        request = bytes(buf[:end]).decode()
                        del buf[:end]
                        line = request.split("\r\n", 1)[0]
                        self.requests.append(line)
                        url = line.split(" ")[1]
                        mount = mount or url.split("/")[3]
                        playing = playing or line.startswith("PLAY")
                        conn.sendall(self._answer(request, line, url).encode())
                elif playing:
                    ssrc = int.from_bytes(hashlib.sha256(mount.encode()).digest()[:4], "big")
                    sps = rtp(seq=seq, ts=ts, ssrc=ssrc, marker=False, payload=b"\x67\x42")
                    slice_ = b"\x65" + mount.encode()  # says which mount it came from
                    frame = rtp(seq=seq + 1, ts=ts, ssrc=ssrc, marker=True, payload=slice_)
                    try:
                        conn.sendall(sps + frame)
                    except OSError:
                        return
                    seq, ts = seq + 2, ts + TICKS

    @staticmethod
    def _answer(request: str, line: str, url: str) -> str:
        cseq = next(h for h in request.split("\r\n") if h.lower().startswith("cseq"))
        head = ["RTSP/1.0 200 OK", cseq, "Session: 1234;timeout=60"]
        if line.startswith("DESCRIBE"):
            sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n"
            head += [f"Content-Base: {url}/", f"Content-Length: {len(sdp)}"]
            return "\r\n".join(head) + "\r\n\r\n" + sdp
        return "\r\n".join(head) + "\r\n\r\n"

    def close(self) -> None:
        self._listener.close()


class Client:
    """A raw RTSP client that plays a URL and collects what it receives."""

    def __init__(self, url: str) -> None:
        host, port = url.split("/")[2].split(":")
        self.url = url
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = bytearray()
        for n, method in enumerate(("DESCRIBE", "SETUP", "PLAY"), 1):
            target = f"{url}/stream=0" if method == "SETUP" else url
            self.sock.sendall(f"{method} {target} RTSP/1.0\r\nCSeq: {n}\r\n\r\n".encode())
            assert self.message().startswith(b"RTSP/1.0 200")

    def message(self) -> bytes:
        while (end := message_end(self.buf)) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        message = bytes(self.buf[:end])
        del self.buf[:end]
        return message

    def frames(self, count: int) -> list[bytes]:
        return [self.message() for _ in range(count)]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def camera() -> Iterator[FakeCamera]:
    cam = FakeCamera()
    yield cam
    cam.close()


@pytest.fixture
def proxy(camera: FakeCamera) -> Iterator[FaultProxy]:
    with FaultProxy(camera.port) as p:
        yield p


def test_forwards_the_stream_unchanged(proxy: FaultProxy) -> None:
    client = Client(proxy.url_for("cam"))
    frames = client.frames(20)
    seqs = [fields(f)[0] for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + 20))
    assert len({fields(f)[2] for f in frames}) == 1
    assert proxy.accepted("cam") == 1
    client.close()


def test_cut_resets_the_connection_and_keeps_the_camera_down(proxy: FaultProxy) -> None:
    client = Client(proxy.url_for("cam"))
    client.frames(2)
    assert proxy.cut("cam", down_s=1.0) == 1
    with pytest.raises(OSError):
        while True:
            client.message()
    with pytest.raises(OSError):
        Client(proxy.url_for("cam"))  # down: closed after its first request
    time.sleep(1.1)
    Client(proxy.url_for("cam")).frames(2)
    assert proxy.accepted("cam") == 3
    # Other mounts are not affected.
    assert proxy.accepted("other") == 0


def test_stall_forwards_nothing_then_resumes(proxy: FaultProxy) -> None:
    client = Client(proxy.url_for("cam"))
    client.frames(2)
    proxy.stall("cam", 1.0)
    time.sleep(0.05)
    client.sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        client.sock.recv(1 << 20)  # what was in flight
    client.sock.settimeout(3)
    started = time.monotonic()
    client.sock.recv(1)
    assert time.monotonic() - started > 0.8


def test_garbage_lands_between_two_frames(proxy: FaultProxy) -> None:
    client = Client(proxy.url_for("cam"))
    client.frames(2)
    proxy.garbage("cam", size=100)
    for _ in range(100):
        if not client.buf:
            client.buf += client.sock.recv(65536)
        if client.buf[:1] != b"$":
            break
        client.message()
    else:
        pytest.fail("no garbage arrived")
    while len(client.buf) < 100:
        client.buf += client.sock.recv(65536)
    del client.buf[:100]  # after exactly the garbage, frames go on
    assert all(f[:1] == b"$" for f in client.frames(4))


def test_reroute_serves_another_mount(proxy: FaultProxy, camera: FakeCamera) -> None:
    client = Client(proxy.url_for("cam"))
    before = fields(client.frames(1)[0])[2]
    proxy.reroute("cam", "spare", cut=True)
    with pytest.raises(OSError):
        while True:
            client.message()
    after = Client(proxy.url_for("cam"))
    assert fields(after.frames(1)[0])[2] != before
    # Requests keep the URL the client used, with the mount's path rewritten.
    assert camera.requests[-3:] == [
        f"DESCRIBE rtsp://127.0.0.1:{proxy.port}/spare RTSP/1.0",
        f"SETUP rtsp://127.0.0.1:{proxy.port}/spare/stream=0 RTSP/1.0",
        f"PLAY rtsp://127.0.0.1:{proxy.port}/spare RTSP/1.0",
    ]
    assert proxy.route_of("cam") == "spare"


def test_splice_continues_the_stream_from_the_other_mounts_keyframe(proxy: FaultProxy) -> None:
    client = Client(proxy.url_for("cam"))
    frames = client.frames(10)
    ssrc = fields(frames[0])[2]
    assert proxy.splice("cam", "spare") == 1
    frames += client.frames(40)
    assert proxy.splice("cam", "other") == 1  # a spliced stream switches again
    frames += client.frames(40)
    seqs = [fields(f)[0] for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + 90)), "sequence numbers continue"
    assert {fields(f)[2] for f in frames} == {ssrc}, "the SSRC stays"
    stamps = [fields(f)[1] for f in frames if fields(f)[3]]
    assert all(b - a == TICKS for a, b in itertools.pairwise(stamps)), "so do timestamps"
    # Whole frames of each mount in turn, the next one's from its keyframe (SPS first).
    slices = [f[17:].decode() for f in frames if fields(f)[3]]
    assert [k for k, _ in itertools.groupby(slices)] == ["cam", "spare", "other"]
    for before, after in (("cam", "spare"), ("spare", "other")):
        first = next(n for n, f in enumerate(frames) if f[17:] == after.encode())
        assert fields(frames[first - 1])[4] == 7, f"{after} starts with its keyframe's SPS"
        assert frames[first - 2][17:] == before.encode(), f"after a whole frame of {before}"
    assert proxy.route_of("cam") == "other"


# ---------------------------------------------------------------------------- for real
@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def simulator(folder: Path) -> Iterator[Simulator]:
    if missing := gstreamer_missing():
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    clips: dict[str, Path] = {
        "cam": generate_test_clip(folder / "cam.mp4", seconds=2),
        "small": generate_test_clip(folder / "small.mp4", seconds=2, width=320, height=240),
    }
    with Simulator(clips, cache_dir=folder / "cache", log=folder / "simulator.log") as sim:
        yield sim


def test_the_simulator_tells_its_process_and_logs_to_a_file(
    simulator: Simulator, folder: Path
) -> None:
    assert b"gst_server.py" in Path(f"/proc/{simulator.pid}/cmdline").read_bytes()
    assert (folder / "simulator.log").is_file()


def test_splice_changes_the_resolution_in_band(simulator: Simulator) -> None:
    """What the client gets decodes, at the other size from the keyframe of the switch.

    Read with the client's session and an assembler that takes new parameter sets as they
    come: ``RtspContainer`` ends the session there (``tests/devices/test_rtsp_faults.py``).
    """
    with FaultProxy(simulator.port) as proxy:
        session = RtspSession(proxy.url_for("cam"))
        try:
            session.start()
            assembler = H264Assembler()
            decoder = av.CodecContext.create("h264", "r")
            sizes: list[tuple[int, int]] = []
            started = time.monotonic()
            for buf, batch in session.rtp():
                if time.monotonic() - started > 1 and proxy.route_of("cam") == "cam":
                    assert proxy.splice("cam", "small") == 1
                for channel, start, end in batch:
                    if channel != 0:
                        continue
                    payload = start + 12 + 4 * (buf[start] & 0x0F)
                    ts = int.from_bytes(buf[start + 4 : start + 8], "big")
                    marker = bool(buf[start + 1] & 0x80)
                    for unit in assembler.push_from(buf, payload, end, ts, marker):
                        frames = decoder.decode(av.Packet(unit.data))
                        sizes += [(f.width, f.height) for f in frames]
                if (320, 240) in sizes[-5:] or time.monotonic() - started > 6:
                    break
        finally:
            session.close()
    assert sizes[0] == (640, 360)
    assert sizes[-1] == (320, 240), "the new parameter sets decode"

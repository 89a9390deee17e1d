"""Vigil's own RTSP client for H.264 (+ AAC) cameras over TCP, the common case made cheap.

FFmpeg's RTSP demuxer makes two system calls per RTP packet (~360 a second for a 4 Mbit/s
camera), which alone costs more than the whole recording budget of a camera. This client
asks the kernel to wake it only when a few tens of milliseconds of stream have arrived
(``SO_RCVLOWAT``), parses the interleaved RTP in Python, and hands PyAV whole frames to
mux. It looks like the part of a PyAV input container that the ingest uses (``streams``,
``format.name``, ``demux``, ``close``). Anything it does not handle raises
:class:`RtspUnsupported`, and the ingest reads that camera with FFmpeg instead: found
while opening (codec, transport, B-frames in the frames read ahead) wherever it can, so
that the switch happens before the first packet is handed out.

What arrives is checked as it is parsed, within fixed bounds: bytes that are neither an
interleaved frame nor an RTSP message end the session (:class:`RtspError`, "garbage in the
stream"), and so do new parameter sets in-band (:class:`RtspStreamChanged`), as what was
opened no longer describes the stream; the ingest then opens it again.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import av

from vigil.devices.rtp import (
    START_CODE,
    AccessUnit,
    H264Assembler,
    StreamChanged,
    TimestampUnwrapper,
    aac_frames,
    adts_header,
    has_b_slices,
    may_reorder,
)

USER_AGENT = "Vigil"
# Wake-up targets: this much of the stream per read. Every wake-up of a reading thread
# costs far more than the bytes it reads, so nobody watching means few wake-ups; a live
# viewer gets the low latency.
WAKE_EVERY_S = 0.5
WAKE_EVERY_LIVE_S = 0.02
MAX_LOW_WATER = 512 * 1024
KEEPALIVE_S = 25.0
# Longest wait for the low-water mark; then a read takes whatever arrived.
POLL_S = 0.5
READ_BYTES = 256 * 1024
MAX_PREROLL_FRAMES = 600  # frames read while waiting for the first keyframe
# Video frames after the first keyframe read ahead to look for B-frames (unless the
# profile rules them out): encoders put them right after the first P-frame.
REORDER_PROBE_FRAMES = 8
AUDIO_PROBE_FRAMES = 50  # video frames to wait for the first audio frame
DRAIN_BYTES = 4 * 1024 * 1024  # more than a socket buffer holds
# Why a stream with B-frames is refused: the ingest logs it once as it switches to FFmpeg.
REORDERED = "frames out of order (B-frames)"
# Bounds of an RTSP message among the RTP: past them, what arrived is not RTSP.
MAX_START_LINE_BYTES = 512
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
# A response's status line (an HTTP one too: its status is an answer), or a request the
# camera sends its client (RFC 2326 10).
_START_LINE = re.compile(rb"[A-Z]{4}/\d\.\d (\d{3})(?: [^\r\n]*)?|[A-Z][A-Z_]* \S+ RTSP/1\.\d")
_RTP_VERSION = 0x80  # the top two bits of every RTP and RTCP packet's first byte (2)


class RtspError(OSError):
    """The camera refused or broke the RTSP session."""


class RtspUnsupported(RtspError):
    """A stream this client does not handle; FFmpeg's demuxer is used instead."""


class RtspUnauthorized(RtspError):
    """The camera refused the credentials (or asked for some and none were given)."""


class RtspStreamChanged(RtspError):
    """The camera sent new parameter sets (SPS/PPS) in the session: another resolution or
    encoder configuration, which the stream as opened does not describe."""


def _garbage(data: bytes | bytearray) -> RtspError:
    preview = bytes(data[:8]).hex(" ")
    return RtspError(f"garbage in the stream: {preview} ... is neither RTP nor RTSP")


@dataclass(slots=True)
class SdpMedia:
    """One ``m=`` section of a session description."""

    kind: str
    payload_type: int
    codec: str = ""
    clock_rate: int = 90000
    control: str = ""
    fmtp: dict[str, str] = field(default_factory=dict)


def parse_sdp(text: str) -> list[SdpMedia]:
    """The media sections of an SDP document."""
    media: list[SdpMedia] = []
    for line in text.splitlines():
        key, _, value = line.strip().partition("=")
        if key == "m":
            kind, _port, _proto, *formats = value.split()
            media.append(SdpMedia(kind, int(formats[0]) if formats else -1))
        elif key == "a" and media:
            name, _, attr = value.partition(":")
            if name == "rtpmap":
                codec = attr.split(None, 1)[1].split("/")
                media[-1].codec, media[-1].clock_rate = codec[0].upper(), int(codec[1])
            elif name == "fmtp":
                params = attr.split(None, 1)[1] if " " in attr else ""
                for item in params.split(";"):
                    k, _, v = item.strip().partition("=")
                    if k:
                        media[-1].fmtp[k.lower()] = v
            elif name == "control":
                media[-1].control = attr
    return media


def digest_response(
    method: str, uri: str, username: str, password: str, realm: str, nonce: str
) -> str:
    """RFC 2617 digest (MD5, no qop), as IP cameras use it."""
    ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    return hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()


class RtspSession:
    """One RTSP session over TCP with interleaved RTP."""

    def __init__(self, url: str, *, timeout: float = 5.0, keepalive_s: float = KEEPALIVE_S) -> None:
        parts = urlsplit(url)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        self.url = urlunsplit(parts._replace(netloc=netloc))
        self._address = (parts.hostname or "", parts.port or 554)
        self._timeout = timeout
        self._keepalive_s = keepalive_s
        self._sock: socket.socket | None = None
        self._poller = select.poll()
        self._cseq = 0
        self._session: str | None = None
        self._auth: dict[str, str] | None = None
        self._buffer = bytearray()
        self.wake_every_s = WAKE_EVERY_S
        self.draining = False

    def request(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> tuple[dict[str, str], str]:
        """Send a request and read its answer (authenticating once when asked)."""
        for _attempt in range(2):
            status, head, body = self._exchange(method, url, headers or {})
            if status == 401 and self._auth is None and self.username is not None:
                self._auth = self._challenge(head.get("www-authenticate", ""))
                continue
            if status in (401, 403):
                given = "the user name and password" if self.username else "no credentials"
                raise RtspUnauthorized(f"{method} refused {given} (RTSP {status})")
            if status == 461:
                raise RtspUnsupported("the camera does not stream RTP over TCP")
            if status >= 400:
                raise RtspError(f"{method} failed: RTSP {status}")
            return head, body
        raise RtspError(f"{method} failed: authentication failed")

    def _challenge(self, header: str) -> dict[str, str]:
        scheme, _, rest = header.partition(" ")
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', rest))
        if scheme.lower() not in ("digest", "basic"):
            raise RtspUnsupported(f"unsupported authentication {scheme!r}")
        return {"scheme": scheme.lower(), **params}

    def _authorization(self, method: str, url: str) -> str | None:
        if self._auth is None or self.username is None:
            return None
        password = self.password or ""
        if self._auth["scheme"] == "basic":
            token = base64.b64encode(f"{self.username}:{password}".encode()).decode()
            return f"Basic {token}"
        realm, nonce = self._auth.get("realm", ""), self._auth.get("nonce", "")
        response = digest_response(method, url, self.username, password, realm, nonce)
        return (
            f'Digest username="{self.username}", realm="{realm}", nonce="{nonce}", '
            f'uri="{url}", response="{response}"'
        )

    def _exchange(
        self, method: str, url: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], str]:
        if self._sock is None:
            self._sock = socket.create_connection(self._address, timeout=self._timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Reads wait in poll (``_receive``), not in Python's socket timeout: that one
            # polls again before every recv, so it cannot take fewer bytes than the
            # low-water mark.
            self._sock.setblocking(False)
            self._poller.register(self._sock, select.POLLIN)
        self._cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self._cseq}", f"User-Agent: {USER_AGENT}"]
        if self._session:
            lines.append(f"Session: {self._session}")
        if auth := self._authorization(method, url):
            lines.append(f"Authorization: {auth}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._send(lines)
        while True:
            response = self._read_response()
            if response is not None:
                return response

    def _send(self, lines: list[str]) -> None:
        """Send one request. Requests are small and rare: sent with a plain timeout."""
        assert self._sock is not None
        self._sock.settimeout(self._timeout)
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        finally:
            self._sock.setblocking(False)

    def _fill(self) -> None:
        """Read more of an RTSP answer (any byte will do), failing after the timeout."""
        deadline = time.monotonic() + self._timeout
        while (data := self._receive()) is None:
            if time.monotonic() > deadline:
                raise RtspError(f"no answer from the camera for {self._timeout:.0f} s")
        if not data:
            raise RtspError("the camera closed the connection")
        self._buffer += data

    def _read_response(self) -> tuple[int, dict[str, str], str] | None:
        """The next RTSP response; RTP arriving before it is skipped, and so is a request
        from the camera (None). Raises :class:`RtspError` for anything else: bytes that
        neither start an interleaved frame nor an RTSP message whose start line parses,
        whose head ends within ``MAX_HEAD_BYTES`` and whose body is not too long."""
        while True:
            if self._buffer[:1] == b"$":
                if len(self._buffer) >= 4:
                    size = int.from_bytes(self._buffer[2:4], "big")
                    if len(self._buffer) >= 4 + size:
                        del self._buffer[: 4 + size]
                        continue
                self._fill()
                continue
            if self._buffer and not self._buffer[:1].isupper():
                raise _garbage(self._buffer)  # neither "RTSP/1.0" nor a method
            line_end = self._buffer.find(b"\r\n", 0, MAX_START_LINE_BYTES)
            if line_end < 0:
                if len(self._buffer) >= MAX_START_LINE_BYTES:
                    raise _garbage(self._buffer)
                self._fill()
                continue
            start_line = _START_LINE.fullmatch(self._buffer, 0, line_end)
            if start_line is None:
                raise _garbage(self._buffer)
            status_code = start_line.group(1)  # a copy: the buffer changes below
            end = self._buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)
            if end < 0:
                if len(self._buffer) >= MAX_HEAD_BYTES:
                    raise _garbage(self._buffer)
                self._fill()
                continue
            head_text = self._buffer[:end].decode("latin-1")
            head = {}
            for line in head_text.split("\r\n")[1:]:
                key, _, value = line.partition(":")
                head[key.strip().lower()] = value.strip()
            length_text = head.get("content-length", "0")
            if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
                raise RtspError(f"unreadable RTSP message: Content-Length {length_text!r}")
            length = int(length_text)
            while len(self._buffer) < end + 4 + length:
                self._fill()
            body = self._buffer[end + 4 : end + 4 + length].decode("utf-8", "replace")
            del self._buffer[: end + 4 + length]
            if status_code is None:
                return None  # a request from the camera (ANNOUNCE ...): not for this client
            status = int(status_code)
            if "session" in head and status < 300:
                self._session = head["session"].split(";")[0]
            return status, head, body

    def start(self) -> list[SdpMedia]:
        """DESCRIBE, SETUP every H.264/AAC track on interleaved channels, PLAY."""
        head, sdp = self.request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = head.get("content-base", self.url).rstrip("/") + "/"
        try:
            media = [m for m in parse_sdp(sdp) if m.kind in ("video", "audio")]
        except (ValueError, IndexError) as exc:
            raise RtspError(f"unreadable session description: {exc}") from exc
        video = [m for m in media if m.kind == "video"]
        if not video or video[0].codec != "H264":
            found = video[0].codec if video else "no video"
            raise RtspUnsupported(f"video codec {found}")
        tracks = [video[0]]
        audio = [m for m in media if m.kind == "audio"]
        if audio and audio[0].codec == "MPEG4-GENERIC" and "config" in audio[0].fmtp:
            tracks.append(audio[0])
        for channel, track in enumerate(tracks):
            control = track.control
            url = control if control.startswith("rtsp") else base + control.lstrip("/")
            transport = f"RTP/AVP/TCP;unicast;interleaved={2 * channel}-{2 * channel + 1}"
            self.request("SETUP", url, {"Transport": transport})
        self.request("PLAY", self.url, {"Range": "npt=0.000-"})
        return tracks

    def rtp(self) -> Iterator[tuple[bytearray, list[tuple[int, int, int]]]]:
        """Batches of RTP packets as they arrive: the buffer and ``(channel, start, end)``
        of each packet in it, valid until the next batch. Sends keep-alives; raises when
        the camera goes silent or closes the connection."""
        sock = self._sock
        assert sock is not None
        low_water, received, since = 1, 0, time.monotonic()
        last_data = last_keepalive = since
        drained = False
        while True:
            pos, buf = 0, self._buffer
            batch: list[tuple[int, int, int]] = []
            while len(buf) - pos >= 4:
                if buf[pos] != 0x24:  # an RTSP answer (keep-alive) among the RTP
                    if batch:
                        break  # hand over what is before it first
                    del buf[:pos]
                    pos = 0
                    self._read_response()
                    continue
                end = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
                if end > len(buf):
                    break
                if end > pos + 4 and buf[pos + 4] & 0xC0 != _RTP_VERSION:
                    if batch:
                        break  # hand over what is before it first
                    raise _garbage(buf[pos:end])  # framed, but neither RTP nor RTCP
                batch.append((buf[pos + 1], pos + 4, end))
                pos = end
            if batch:
                yield buf, batch
            del buf[:pos]
            if batch and len(buf) >= 4:
                continue
            if self.draining:  # stopping: hand over what had arrived, once, then end
                if drained:
                    return
                drained = True
                try:  # one read: a live camera keeps sending, so reading on never ends
                    self._buffer += sock.recv(DRAIN_BYTES)  # non-blocking: what is there
                except OSError:
                    return
                continue
            now = time.monotonic()
            if now - last_keepalive > self._keepalive_s:
                self._send_keepalive()
                last_keepalive = now
            data = self._receive()
            if data is None:  # nothing at all within the wait
                if now - last_data > self._timeout:
                    raise RtspError(f"no data from the camera for {self._timeout:.0f} s")
            elif not data:
                raise RtspError("the camera closed the connection")
            else:
                last_data = now
                received += len(data)
                self._buffer += data
            if now - since >= 1.0:  # tune the wake-up to the stream's rate
                target = int(received / (now - since) * self.wake_every_s)
                if (target := max(1, min(MAX_LOW_WATER, target))) != low_water:
                    low_water = target
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, low_water)
                received, since = 0, now

    def _receive(self) -> bytes | None:
        """What arrived: b"" at the end of the stream, None when nothing did.

        Waits for the low-water mark, but no longer than twice the wake-up target
        (``POLL_S`` at most), then takes whatever is there. A stream slower than the mark
        (a still scene after a big keyframe raised it) so wakes the reader once per wait,
        late by that wait at most and never broken off, until the next measurement of the
        rate lowers the mark."""
        assert self._sock is not None
        self._poller.poll(min(POLL_S, 2 * self.wake_every_s) * 1000)
        try:
            return self._sock.recv(READ_BYTES)
        except BlockingIOError:
            return None

    def _send_keepalive(self) -> None:
        self._cseq += 1
        lines = [f"GET_PARAMETER {self.url} RTSP/1.0", f"CSeq: {self._cseq}"]
        if self._session:
            lines.append(f"Session: {self._session}")
        if auth := self._authorization("GET_PARAMETER", self.url):
            lines.append(f"Authorization: {auth}")
        self._send(lines)

    def close(self) -> None:
        """TEARDOWN (best effort) and close the socket."""
        if self._sock is None:
            return
        try:
            self._sock.settimeout(1)
            lines = [f"TEARDOWN {self.url} RTSP/1.0", f"CSeq: {self._cseq + 1}"]
            if self._session:
                lines.append(f"Session: {self._session}")
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        except OSError:
            pass
        self._sock.close()
        self._sock = None


def _base64(text: str) -> bytes:
    """A parameter set of ``sprop-parameter-sets``."""
    try:
        return base64.b64decode(text + "==")
    except ValueError as exc:
        raise RtspError(f"unreadable sprop-parameter-sets: {exc}") from exc


class RtspContainer:
    """An RTSP camera read by :class:`RtspSession`, shaped like a PyAV input container."""

    format = SimpleNamespace(name="rtsp-vigil")

    def __init__(self, url: str, *, timeout: float = 5.0, keepalive_s: float = KEEPALIVE_S) -> None:
        self._session = RtspSession(url, timeout=timeout, keepalive_s=keepalive_s)
        self._templates: list[Any] = []
        try:
            self._tracks = self._session.start()
            self._packets = self._session.rtp()
            self._video_track = self._tracks[0]
            self._assembler = H264Assembler()
            if sprops := self._video_track.fmtp.get("sprop-parameter-sets"):
                sets = [_base64(s) for s in sprops.split(",") if s]
                self._assembler.sps = next((s for s in sets if s and s[0] & 0x1F == 7), None)
                self._assembler.pps = next((s for s in sets if s and s[0] & 0x1F == 8), None)
            self._unwrap = [TimestampUnwrapper() for _ in self._tracks]  # video: assembler's
            self._pending: list[tuple[int, AccessUnit]] = []
            first = self._first_keyframe()
            # What the stream is opened with: different parameter sets end it from now on.
            self._assembler.locked = True
            self._refuse_reordering(first)
            video = self._template_video(first)
            first_audio = self._first_audio() if len(self._tracks) > 1 else None
            audio = self._template_audio(first_audio) if first_audio else None
        except (ValueError, IndexError, KeyError) as exc:  # a description that does not parse
            self.close()
            raise RtspError(f"unreadable stream: {exc}") from exc
        except BaseException:
            self.close()
            raise
        self.streams = SimpleNamespace(video=[video], audio=[audio] if audio else [])
        self._stream_of = [video, audio]
        self._time_base = [Fraction(1, t.clock_rate) for t in self._tracks]

    def _frames(self) -> Iterator[tuple[int, AccessUnit]]:
        """(track index, frame) in arrival order. Runs for every RTP packet: kept tight."""
        tracks = len(self._tracks)
        push_video = self._assembler.push_from
        audio_unwrap = self._unwrap[-1]
        try:
            for buf, batch in self._packets:
                for channel, start, end in batch:
                    if channel & 1 or channel >> 1 >= tracks or end - start < 12:
                        continue  # RTCP, or a track we did not ask for
                    first = buf[start]
                    header = start + 12 + 4 * (first & 0x0F)
                    if first & 0x10 and end >= header + 4:  # extension header
                        header += 4 + 4 * ((buf[header + 2] << 8) | buf[header + 3])
                    if first & 0x20:
                        end -= buf[end - 1]  # padding
                    ts = int.from_bytes(buf[start + 4 : start + 8], "big")
                    if channel == 0:
                        for unit in push_video(buf, header, end, ts, bool(buf[start + 1] & 0x80)):
                            yield 0, unit
                    else:
                        for unit in aac_frames(bytes(buf[header:end]), audio_unwrap(ts)):
                            yield 1, unit
        except StreamChanged as exc:
            raise RtspStreamChanged(str(exc)) from exc
        except (ValueError, IndexError) as exc:  # whatever else a parser trips on is garbage
            raise RtspError(f"unreadable stream: {exc}") from exc

    def _first_keyframe(self) -> AccessUnit:
        """Read up to the first keyframe with parameter sets; the frames before it cannot be
        decoded and are dropped, but a B slice among them already says enough."""
        self._frame_iter = self._frames()
        for count, (track, unit) in enumerate(self._frame_iter):
            if track == 0 and unit.keyframe and self._assembler.sps and self._assembler.pps:
                self._pending.append((track, unit))
                return unit
            if track == 0 and has_b_slices(unit.data):
                raise RtspUnsupported(REORDERED)
            if count > MAX_PREROLL_FRAMES:
                break
        raise RtspUnsupported("no H.264 keyframe with parameter sets arrived")

    def _refuse_reordering(self, keyframe: AccessUnit) -> None:
        """Raise :class:`RtspUnsupported` when the video has B-frames (frames arrive in
        decode order, which this client does not time), before a packet is handed out.

        Baseline has none; another profile's first few frames after the keyframe are read
        ahead (kept for ``demux``) and looked at: a B slice, or a timestamp that does not
        advance, gives the stream away."""
        sps = self._assembler.sps
        if sps is None or not may_reorder(sps):
            return
        last, seen = keyframe.timestamp, 0
        for track, unit in self._frame_iter:
            self._pending.append((track, unit))
            if track != 0:
                continue
            if unit.timestamp <= last or has_b_slices(unit.data):
                raise RtspUnsupported(REORDERED)
            last, seen = unit.timestamp, seen + 1
            if seen == REORDER_PROBE_FRAMES:
                return

    def _first_audio(self) -> AccessUnit | None:
        """The first audio frame after the keyframe, to learn the audio's format from;
        what arrives meanwhile is kept for ``demux``. None if the audio stays silent."""
        read_ahead = (unit for track, unit in self._pending if track == 1)
        if (unit := next(read_ahead, None)) is not None:
            return unit
        for count, (track, unit) in enumerate(self._frame_iter):
            self._pending.append((track, unit))
            if track == 1:
                return unit
            if count > AUDIO_PROBE_FRAMES:
                break
        return None

    def _template_video(self, keyframe: AccessUnit) -> Any:
        sps, pps = self._assembler.sps, self._assembler.pps
        assert sps and pps
        sample = START_CODE + sps + START_CODE + pps + keyframe.data
        container = av.open(io.BytesIO(sample), format="h264")
        self._templates.append(container)
        return container.streams.video[0]

    def _template_audio(self, frame: AccessUnit) -> Any:
        """An AAC stream whose parameters carry the AudioSpecificConfig, as MP4 needs it.

        ADTS gives the format but no config, and PyAV copies a template's parameters, not
        its codec context: so one frame is written to an in-memory M4A with the config,
        and that file's stream is the template."""
        config = bytes.fromhex(self._tracks[1].fmtp["config"])
        with av.open(
            io.BytesIO(adts_header(config, len(frame.data)) + frame.data), "r", format="aac"
        ) as adts:
            m4a = io.BytesIO()
            with av.open(m4a, "w", format="mp4") as out:
                stream = out.add_stream_from_template(adts.streams.audio[0])
                stream.codec_context.extradata = config
                packet: av.Packet[Any] = av.Packet(frame.data)
                packet.stream, packet.pts, packet.dts = stream, 0, 0
                packet.time_base = Fraction(1, self._tracks[1].clock_rate)
                out.mux(packet)
        m4a.seek(0)
        container = av.open(m4a, format="mp4")
        self._templates.append(container)
        return container.streams.audio[0]

    def drain(self) -> None:
        """Stop reading from the camera: ``demux`` ends after the frames that already
        arrived (up to a read batch of them), so stopping loses none."""
        self._session.draining = True

    @property
    def low_latency(self) -> bool:
        """Whether reads wake up for every few frames (someone watches live)."""
        return self._session.wake_every_s == WAKE_EVERY_LIVE_S

    @low_latency.setter
    def low_latency(self, value: bool) -> None:
        self._session.wake_every_s = WAKE_EVERY_LIVE_S if value else WAKE_EVERY_S

    def demux(self, streams: Any = None) -> Iterator[av.Packet[Any]]:
        """Packets of whole frames, video timestamps in the RTP clock (pts = dts)."""
        last_video: int | None = None
        # RTP clocks of the tracks start at unrelated random values: each other track is
        # aligned to the video at its first frame, by arrival.
        offsets: list[int | None] = [0] + [None] * (len(self._tracks) - 1)
        last_audio: list[int | None] = [None] * len(self._tracks)
        pending, self._pending = self._pending, []
        for track, unit in itertools.chain(pending, self._frame_iter):
            stream = self._stream_of[track]
            if stream is None:
                continue
            if track == 0:
                if last_video is not None and unit.timestamp <= last_video:
                    # B-frames the read-ahead did not see (an encoder that starts them
                    # late): the ingest switches to FFmpeg at once, as a last resort.
                    raise RtspUnsupported(REORDERED)
                last_video = unit.timestamp
            else:
                # A repeated audio frame (a sender that resends, or two with one timestamp):
                # its time is taken already, and a muxer refuses time that does not advance.
                previous = last_audio[track]
                if previous is not None and unit.timestamp <= previous:
                    continue
                if offsets[track] is None:
                    if last_video is None:
                        continue
                    video_now = last_video * self._time_base[0]
                    offsets[track] = round(video_now / self._time_base[track]) - unit.timestamp
                last_audio[track] = unit.timestamp
            offset = offsets[track]
            assert offset is not None
            packet: av.Packet[Any] = av.Packet(unit.data)
            packet.stream = stream
            packet.time_base = self._time_base[track]
            packet.pts = packet.dts = unit.timestamp + offset
            packet.is_keyframe = unit.keyframe
            yield packet

    def close(self) -> None:
        """End the session and release the templates."""
        self._session.close()
        for container in self._templates:
            container.close()
        self._templates = []

"""RTP payloads to access units: H.264 (RFC 6184) and AAC (RFC 3640, AAC-hbr).

Pure functions and small stateful assemblers, no I/O: the RTSP client feeds them the
payloads of one stream in order, they hand back whole frames with their 64-bit timestamp.
Two header readers tell whether an H.264 stream may reorder frames (B-frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field

START_CODE = b"\x00\x00\x00\x01"
_SHORT_START_CODE = b"\x00\x00\x01"
NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8
STAP_A = 24
FU_A = 28
NAL_SLICE = 1
# profile_idc of Baseline (and Constrained Baseline): no B slices allowed.
PROFILE_BASELINE = 66
SLICE_TYPE_B = 1  # slice_type modulo 5 (H.264 7.4.3)
# Header bytes enough for first_mb_in_slice and slice_type (two Exp-Golomb codes).
_SLICE_HEADER_BYTES = 16


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One frame: Annex-B NAL units (video) or one raw AAC frame (audio)."""

    timestamp: int  # RTP clock, unwrapped
    data: bytes
    keyframe: bool


class TimestampUnwrapper:
    """Turns 32-bit RTP timestamps into increasing 64-bit ones (they wrap every ~13 h)."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._offset = 0

    def __call__(self, ts: int) -> int:
        if self._last is not None:
            delta = ts - self._last
            if delta < -(1 << 31):
                self._offset += 1 << 32
            elif delta > 1 << 31:
                self._offset -= 1 << 32
        self._last = ts
        return ts + self._offset


@dataclass(slots=True)
class H264Assembler:
    """Collects the NAL units of one frame (same timestamp, until the marker bit)."""

    sps: bytes | None = None
    pps: bytes | None = None
    _nals: list[bytes] = field(default_factory=list)
    _fragment: bytearray | None = None
    _timestamp: int | None = None
    _broken: bool = False
    _unwrap: TimestampUnwrapper = field(default_factory=lambda: TimestampUnwrapper())

    def push(self, payload: bytes, timestamp: int, marker: bool) -> list[AccessUnit]:
        """Add one RTP payload; returns the frames it completed (usually none or one)."""
        return self.push_from(payload, 0, len(payload), timestamp, marker)

    def push_from(
        self, buf: bytes | bytearray, start: int, end: int, timestamp: int, marker: bool
    ) -> list[AccessUnit]:
        """:meth:`push` of the payload ``buf[start:end]``, without copying it first (this
        runs for every RTP packet of every camera)."""
        done: list[AccessUnit] = []
        if self._timestamp is not None and timestamp != self._timestamp and self._nals:
            done += self._finish()  # the marker was lost: a new timestamp ends the frame
        self._timestamp = timestamp
        if end <= start:
            return done
        kind = buf[start] & 0x1F
        if kind == FU_A and end - start > 2:
            fu = buf[start + 1]
            if fu & 0x80:
                self._fragment = bytearray(((buf[start] & 0xE0) | (fu & 0x1F),))
            if self._fragment is None:
                self._broken = True  # the start of this NAL unit was lost
            else:
                self._fragment += buf[start + 2 : end]
                if fu & 0x40:
                    self._add(bytes(self._fragment))
                    self._fragment = None
        elif kind == STAP_A:
            pos = start + 1
            while pos + 2 <= end:
                size = (buf[pos] << 8) | buf[pos + 1]
                self._add(bytes(buf[pos + 2 : min(pos + 2 + size, end)]))
                pos += 2 + size
        elif 1 <= kind <= 23:
            self._add(bytes(buf[start:end]))
        if marker:
            done += self._finish()
        return done

    def _add(self, nal: bytes) -> None:
        if not nal:
            return
        kind = nal[0] & 0x1F
        if kind == NAL_SPS:
            self.sps = nal
        elif kind == NAL_PPS:
            self.pps = nal
        self._nals.append(nal)

    def _finish(self) -> list[AccessUnit]:
        nals, self._nals = self._nals, []
        broken, self._broken = self._broken, False
        self._fragment = None
        if not nals or broken or self._timestamp is None:
            return []  # a damaged frame would only decode as garbage
        keyframe = any(n[0] & 0x1F == NAL_IDR for n in nals)
        has_sps = any(n[0] & 0x1F == NAL_SPS for n in nals)
        if keyframe and self.sps and self.pps and not has_sps:
            # Keyframes carry their parameter sets, so any of them can start a file.
            nals = [self.sps, self.pps, *nals]
        data = b"".join(START_CODE + n for n in nals)
        return [AccessUnit(self._unwrap(self._timestamp), data, keyframe)]


def may_reorder(sps: bytes) -> bool:
    """Whether a stream with this SPS (NAL unit, header byte first) may carry B-frames.

    Baseline forbids B slices; any other profile allows them, so only its frames can tell.

    >>> may_reorder(bytes([0x67, 66, 0xC0, 0x1E])), may_reorder(bytes([0x67, 100, 0, 0x28]))
    (False, True)
    """
    return len(sps) < 2 or sps[1] != PROFILE_BASELINE


def has_b_slices(annexb: bytes) -> bool:
    """Whether an access unit (Annex-B NAL units) holds a B slice: a frame shown before one
    that is decoded after it, so presentation and decode order differ."""
    pos = annexb.find(_SHORT_START_CODE)  # also finds the end of every 4-byte one
    while pos >= 0:
        start = pos + len(_SHORT_START_CODE)
        pos = annexb.find(_SHORT_START_CODE, start)
        if start < len(annexb) and annexb[start] & 0x1F in (NAL_SLICE, NAL_IDR):
            header = annexb[start + 1 : start + 1 + _SLICE_HEADER_BYTES]
            if _slice_type(header) % 5 == SLICE_TYPE_B:
                return True
    return False


def _slice_type(header: bytes) -> int:
    """slice_type of a slice header (after the NAL header byte); -1 if it is cut short."""
    bits = _ExpGolomb(header.replace(b"\x00\x00\x03", b"\x00\x00"))
    try:
        bits.ue()  # first_mb_in_slice
        return bits.ue()
    except IndexError:
        return -1


class _ExpGolomb:
    """Reads unsigned Exp-Golomb codes (H.264 9.1) from an unescaped bit string."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _bit(self) -> int:
        byte = self._data[self._pos >> 3]  # IndexError past the end
        bit = (byte >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return bit

    def ue(self) -> int:
        zeros = 0
        while self._bit() == 0:
            zeros += 1
        value = 0
        for _ in range(zeros):
            value = (value << 1) | self._bit()
        return (1 << zeros) - 1 + value


def aac_frames(payload: bytes, timestamp: int, frame_samples: int = 1024) -> list[AccessUnit]:
    """Split an AAC-hbr payload (13-bit sizes, 3-bit indices) into frames."""
    if len(payload) < 2:
        return []
    header_bits = int.from_bytes(payload[:2], "big")
    header_bytes = (header_bits + 7) // 8
    sizes = [
        int.from_bytes(payload[2 + 2 * i : 4 + 2 * i], "big") >> 3 for i in range(header_bits // 16)
    ]
    frames, pos = [], 2 + header_bytes
    for i, size in enumerate(sizes):
        if pos + size > len(payload):
            break
        frames.append(AccessUnit(timestamp + i * frame_samples, payload[pos : pos + size], True))
        pos += size
    return frames


def adts_header(config: bytes, frame_size: int) -> bytes:
    """An ADTS header for one frame, from the stream's AudioSpecificConfig."""
    object_type = config[0] >> 3
    rate_index = ((config[0] & 0x07) << 1) | (config[1] >> 7)
    channels = (config[1] >> 3) & 0x0F
    length = frame_size + 7
    return bytes(
        [
            0xFF,
            0xF1,
            ((object_type - 1) << 6) | (rate_index << 2) | (channels >> 2),
            ((channels & 3) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 7) << 5) | 0x1F,
            0xFC,
        ]
    )

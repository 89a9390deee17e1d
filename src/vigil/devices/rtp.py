"""RTP payloads to access units: H.264 (RFC 6184) and AAC (RFC 3640, AAC-hbr).

Pure functions and small stateful assemblers, no I/O: the RTSP client feeds them the
payloads of one stream in order, they hand back whole frames with their 64-bit timestamp.
Two header readers tell whether an H.264 stream may reorder frames (B-frames); an SPS
reader tells the picture size, and parameter sets that differ from those a stream was
opened with raise :class:`StreamChanged` (a camera reconfigured in the same session).
"""

from __future__ import annotations

from collections.abc import Iterator
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
# profile_idc values whose SPS carries chroma format, bit depths and scaling matrices.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
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


class StreamChanged(ValueError):
    """An SPS or PPS that differs from the one the stream was opened with: the encoder was
    reconfigured (resolution, profile ...) in the same session, so what was opened (a
    recording's stream header, its index) no longer describes the frames."""

    def __init__(self, nal: bytes) -> None:
        self.nal = nal
        super().__init__(f"the camera changed its stream ({describe_parameter_set(nal)})")


def same_parameter_set(a: bytes, b: bytes) -> bool:
    """Whether two SPS (or PPS) NAL units are the same. Zero bytes after a NAL unit's stop
    bit belong to the byte stream, not to it: a 4-byte start code leaves one behind."""
    return a.rstrip(b"\x00") == b.rstrip(b"\x00")


def changes_stream(nal: bytes, known: bytes, *, described: bool) -> bool:
    """Whether an SPS or PPS that arrived in-band changes a stream opened with ``known``.

    ``described``: ``known`` came only from the session description (SDP, extradata),
    which cameras do not always keep in step with their stream in what does not matter to
    a recording. The first one in-band is then the stream's own unless it tells another
    picture size; from then on any difference is a change.
    """
    if same_parameter_set(nal, known):
        return False
    if not described:
        return True
    return nal[0] & 0x1F == NAL_SPS and sps_resolution(nal) != sps_resolution(known)


def describe_parameter_set(nal: bytes) -> str:
    """``new SPS: 640x360`` (or ``new PPS``) for a log line or a gap's reason."""
    if nal and nal[0] & 0x1F == NAL_SPS:
        size = sps_resolution(nal)
        return f"new SPS: {size[0]}x{size[1]}" if size else "new SPS"
    return "new PPS"


@dataclass(slots=True)
class H264Assembler:
    """Collects the NAL units of one frame (same timestamp, until the marker bit).

    Once ``locked`` (the stream was opened with ``sps`` and ``pps``), a different SPS or
    PPS raises :class:`StreamChanged` instead of replacing them (see :func:`changes_stream`
    for those known only from the session description)."""

    sps: bytes | None = None
    pps: bytes | None = None
    locked: bool = False
    _inband: set[int] = field(default_factory=set)  # NAL types of the sets seen in-band
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
        if kind in (NAL_SPS, NAL_PPS):
            known = self.sps if kind == NAL_SPS else self.pps
            described = kind not in self._inband
            if self.locked and known and changes_stream(nal, known, described=described):
                raise StreamChanged(nal)
            self._inband.add(kind)
            if kind == NAL_SPS:
                self.sps = nal
            else:
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


class ParameterSetWatch:
    """The SPS and PPS a stream was opened with, checked against every keyframe after.

    For streams that another demuxer (FFmpeg) assembles into Annex-B access units: the
    parameter sets are those of the first keyframe (or, where it carries none, of the
    codec's extradata); :meth:`check` raises :class:`StreamChanged` for a later one that
    differs.

    >>> watch = ParameterSetWatch()
    >>> watch.check(bytes.fromhex("00000001 6742c01e 00000001 68ce3c80 00000001 6588"))
    >>> watch.check(bytes.fromhex("00000001 6742c01e 00000001 68ce3c80 00000001 6588"))
    >>> watch.check(bytes.fromhex("00000001 6742c028 00000001 68ce3c80 00000001 6588"))
    Traceback (most recent call last):
    vigil.devices.rtp.StreamChanged: the camera changed its stream (new SPS)
    """

    def __init__(self, extradata: bytes | None = None) -> None:
        self._sets: dict[int, bytes] = {n[0] & 0x1F: n for n in parameter_sets(extradata or b"")}
        self._inband: set[int] = set()
        self._started = False

    def check(self, annexb: bytes) -> None:
        """Note a keyframe's parameter sets (the first time), or compare them."""
        for nal in parameter_sets(annexb):
            kind = nal[0] & 0x1F
            known, described = self._sets.get(kind), kind not in self._inband
            if self._started and known and changes_stream(nal, known, described=described):
                raise StreamChanged(nal)
            self._sets[kind] = nal
            self._inband.add(kind)
        self._started = True


def nal_units(annexb: bytes) -> Iterator[bytes]:
    """The NAL units of Annex-B data (a trailing zero of a 4-byte start code included)."""
    pos = annexb.find(_SHORT_START_CODE)
    while pos >= 0:
        start = pos + len(_SHORT_START_CODE)
        pos = annexb.find(_SHORT_START_CODE, start)
        nal = annexb[start:] if pos < 0 else annexb[start:pos]
        if nal:
            yield nal


def parameter_sets(annexb: bytes) -> list[bytes]:
    """The SPS and PPS NAL units in Annex-B data (an access unit, or extradata), without
    the zero bytes that may follow them in the byte stream.

    >>> parameter_sets(bytes.fromhex("00000001 6742c01e 00000001 68ce3c80 000001 6588"))
    [b'gB\\xc0\\x1e', b'h\\xce<\\x80']
    """
    return [nal.rstrip(b"\x00") for nal in nal_units(annexb) if nal[0] & 0x1F in (NAL_SPS, NAL_PPS)]


def sps_resolution(sps: bytes) -> tuple[int, int] | None:
    """Width and height of the pictures an SPS (NAL unit, header byte first) describes,
    after cropping (H.264 7.3.2.1.1); None if it is cut short.

    >>> sps_resolution(bytes.fromhex("6742c01eda0280bfe5c044000003000400000300ca3c58ba80"))
    (640, 360)
    """
    bits = _ExpGolomb(sps[1:].replace(b"\x00\x00\x03", b"\x00\x00"))
    try:
        profile = bits.u(8)
        bits.u(16)  # constraint flags, level_idc
        bits.ue()  # seq_parameter_set_id
        chroma_format = 1
        separate_planes = False
        if profile in _HIGH_PROFILES:
            chroma_format = bits.ue()
            if chroma_format == 3:
                separate_planes = bool(bits.u(1))
            bits.ue()  # bit_depth_luma_minus8
            bits.ue()  # bit_depth_chroma_minus8
            bits.u(1)  # qpprime_y_zero_transform_bypass_flag
            if bits.u(1):  # seq_scaling_matrix_present_flag
                for i in range(8 if chroma_format != 3 else 12):
                    if bits.u(1):
                        _skip_scaling_list(bits, 16 if i < 6 else 64)
        bits.ue()  # log2_max_frame_num_minus4
        poc_type = bits.ue()
        if poc_type == 0:
            bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
        elif poc_type == 1:
            bits.u(1)  # delta_pic_order_always_zero_flag
            bits.se()  # offset_for_non_ref_pic
            bits.se()  # offset_for_top_to_bottom_field
            for _ in range(bits.ue()):
                bits.se()  # offset_for_ref_frame
        bits.ue()  # max_num_ref_frames
        bits.u(1)  # gaps_in_frame_num_value_allowed_flag
        width_mbs = bits.ue() + 1
        height_units = bits.ue() + 1
        frame_mbs_only = bits.u(1)
        if not frame_mbs_only:
            bits.u(1)  # mb_adaptive_frame_field_flag
        bits.u(1)  # direct_8x8_inference_flag
        crop = [bits.ue() for _ in range(4)] if bits.u(1) else [0, 0, 0, 0]
    except IndexError:
        return None
    field_factor = 2 - frame_mbs_only
    if chroma_format == 0 or separate_planes:
        unit_x, unit_y = 1, field_factor
    else:  # 4:2:0 halves both directions, 4:2:2 only the width, 4:4:4 neither
        unit_x = 1 if chroma_format == 3 else 2
        unit_y = (2 if chroma_format == 1 else 1) * field_factor
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = height_units * 16 * field_factor - unit_y * (crop[2] + crop[3])
    return width, height


def _skip_scaling_list(bits: _ExpGolomb, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last


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

    def u(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self._bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self._bit() == 0:
            zeros += 1
            if zeros > 32:
                raise IndexError("not an Exp-Golomb code")  # garbage: no end of zeros
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


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

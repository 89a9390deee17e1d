"""RTP payloads to frames: H.264 (single NAL, STAP-A, FU-A) and AAC-hbr."""

from __future__ import annotations

import io
import subprocess

import av
import pytest

from vigil.media.rtp import (
    START_CODE,
    H264Assembler,
    TimestampUnwrapper,
    aac_frames,
    adts_header,
    has_b_slices,
    may_reorder,
)

SPS = bytes([0x67, 0x42, 0xC0, 0x1E, 0xDA])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65]) + bytes(range(40))
SLICE = bytes([0x41]) + bytes(range(30))


def fu_a(nal: bytes, pieces: int) -> list[bytes]:
    indicator = (nal[0] & 0xE0) | 28
    body = nal[1:]
    step = -(-len(body) // pieces)
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    out = []
    for i, chunk in enumerate(chunks):
        header = nal[0] & 0x1F
        if i == 0:
            header |= 0x80
        if i == len(chunks) - 1:
            header |= 0x40
        out.append(bytes([indicator, header]) + chunk)
    return out


def stap_a(*nals: bytes) -> bytes:
    return bytes([24]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


def test_stap_a_and_fu_a_make_one_keyframe_with_parameter_sets() -> None:
    asm = H264Assembler()
    assert asm.push(stap_a(SPS, PPS), 1000, False) == []
    parts = fu_a(IDR, 3)
    assert asm.push(parts[0], 1000, False) == []
    assert asm.push(parts[1], 1000, False) == []
    [unit] = asm.push(parts[2], 1000, True)
    assert unit.keyframe and unit.timestamp == 1000
    assert unit.data == START_CODE + SPS + START_CODE + PPS + START_CODE + IDR


def test_single_nal_frames_and_parameter_sets_added_to_later_keyframes() -> None:
    asm = H264Assembler(sps=SPS, pps=PPS)
    [delta] = asm.push(SLICE, 10, True)
    assert not delta.keyframe and delta.data == START_CODE + SLICE
    [key] = asm.push(IDR, 20, True)
    assert key.keyframe
    assert key.data.startswith(START_CODE + SPS + START_CODE + PPS), "any keyframe can start a file"


def test_a_frame_missing_its_first_fragment_is_dropped() -> None:
    asm = H264Assembler(sps=SPS, pps=PPS)
    parts = fu_a(IDR, 3)
    assert asm.push(parts[1], 5, False) == []
    assert asm.push(parts[2], 5, True) == []
    [good] = asm.push(SLICE, 6, True)
    assert good.data == START_CODE + SLICE


def test_a_lost_marker_is_recovered_by_the_next_timestamp() -> None:
    asm = H264Assembler(sps=SPS, pps=PPS)
    assert asm.push(SLICE, 1, False) == []  # the marker packet was lost
    first, second = asm.push(SLICE, 2, True)
    assert (first.timestamp, second.timestamp) == (1, 2)


def test_timestamps_unwrap_past_32_bits() -> None:
    unwrap = TimestampUnwrapper()
    values = [unwrap(t) for t in (0xFFFF_FF00, 0xFFFF_FFF0, 0x10, 0x200)]
    assert values == [0xFFFF_FF00, 0xFFFF_FFF0, 0x1_0000_0010, 0x1_0000_0200]


def test_aac_hbr_payload_splits_into_frames_that_decode() -> None:
    # Two real AAC frames from FFmpeg's encoder, carried in one RTP payload.
    adts = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=0.1",
         "-c:a", "aac", "-f", "adts", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    frames = []
    pos = 0
    while pos + 7 <= len(adts):
        size = ((adts[pos + 3] & 3) << 11) | (adts[pos + 4] << 3) | (adts[pos + 5] >> 5)
        frames.append(adts[pos + 7 : pos + size])
        pos += size
    raw = frames[:2]
    headers = b"".join((len(f) << 3).to_bytes(2, "big") for f in raw)
    payload = (16 * len(raw)).to_bytes(2, "big") + headers + b"".join(raw)
    units = aac_frames(payload, 48000)
    assert [u.data for u in units] == raw
    assert [u.timestamp for u in units] == [48000, 49024]
    config = bytes([0x11, 0x90])  # AAC-LC, 48 kHz, mono
    stream = b"".join(adts_header(config, len(u.data)) + u.data for u in units)
    with av.open(io.BytesIO(stream), format="aac") as c:
        decoded = list(c.decode(audio=0))
    assert decoded and decoded[0].sample_rate == 48000


def encoded_h264(*options: str) -> list[bytes]:
    """Access units (Annex-B) of 12 frames that libx264 encodes with ``options``, in decode
    order."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=25",
         "-frames:v", "12", "-c:v", "libx264", *options, "-f", "h264", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    with av.open(io.BytesIO(raw), format="h264") as c:
        packets = list(c.demux(video=0))
    return [bytes(p) for p in packets]


@pytest.mark.parametrize(
    ("options", "b_frames"),
    [
        (("-profile:v", "baseline"), False),
        (("-profile:v", "high", "-bf", "0"), False),
        (("-profile:v", "main", "-bf", "2", "-b_strategy", "0"), True),
        (("-profile:v", "high", "-bf", "3", "-b_strategy", "0"), True),
    ],
)
def test_b_slices_are_found_in_the_slice_headers(options: tuple[str, ...], b_frames: bool) -> None:
    units = encoded_h264(*options)
    assert has_b_slices(units[0]) is False, "a keyframe is intra"
    assert any(has_b_slices(unit) for unit in units) is b_frames


def test_the_profile_tells_whether_b_frames_may_come() -> None:
    baseline, high = (encoded_h264("-profile:v", p)[0] for p in ("baseline", "high"))

    def sps(unit: bytes) -> bytes:
        nals = [n.lstrip(b"\x00") for n in unit.split(b"\x00\x00\x01")]
        return next(n for n in nals if n and n[0] & 0x1F == 7)

    assert may_reorder(sps(baseline)) is False
    assert may_reorder(sps(high)) is True, "High allows B-frames: its frames must tell"


def test_a_slice_header_cut_short_is_not_taken_for_b() -> None:
    assert has_b_slices(START_CODE + bytes([0x41])) is False
    assert has_b_slices(START_CODE + bytes([0x41, 0x00, 0x00])) is False

"""RTP payloads to frames: H.264 (single NAL, STAP-A, FU-A) and AAC-hbr; H.264 headers (B
slices, picture size) and parameter sets that change in the stream."""

from __future__ import annotations

import io
import random
import subprocess
from fractions import Fraction

import av
import pytest

from vigil.devices.rtp import (
    START_CODE,
    H264Assembler,
    ParameterSetWatch,
    StreamChanged,
    TimestampUnwrapper,
    aac_frames,
    adts_header,
    has_b_slices,
    may_reorder,
    nal_units,
    parameter_sets,
    sps_resolution,
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


def encoded_sps(width: int, height: int, pix_fmt: str = "yuv420p", **options: str) -> bytes:
    """The SPS libx264 writes for one ``width`` x ``height`` frame with ``options``."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"preset": "ultrafast", **options}
    frame = av.VideoFrame(width, height, pix_fmt)
    frame.pts = 0
    data = b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])
    return next(nal for nal in nal_units(data) if nal[0] & 0x1F == 7).rstrip(b"\x00")


@pytest.mark.parametrize(
    ("width", "height", "pix_fmt", "options"),
    [
        (640, 360, "yuv420p", {}),  # cropped: 23 rows of macroblocks are 368 lines
        (1920, 1080, "yuv420p", {}),
        (320, 240, "yuv420p", {"profile": "baseline"}),
        (322, 182, "yuv420p", {}),  # cropped in both directions
        (320, 181, "yuv422p", {}),  # High 4:2:2: cropped by single lines
        (321, 181, "yuv444p", {}),  # High 4:4:4
        (640, 360, "gray", {}),  # 4:0:0
        (640, 360, "yuv420p", {"x264-params": "interlaced=1"}),  # fields: map units of 32 lines
        (1280, 720, "yuv420p", {"x264-params": "cqm=jvt"}),  # High with scaling matrices
    ],
)
def test_the_sps_tells_the_picture_size(
    width: int, height: int, pix_fmt: str, options: dict[str, str]
) -> None:
    assert sps_resolution(encoded_sps(width, height, pix_fmt, **options)) == (width, height)


# Fixed bytes, named: pytest-xdist's workers must collect the same parameters.
GARBLED = random.Random(7).randbytes(64)


@pytest.mark.parametrize(
    "data",
    [b"\x67", b"\x67\x42\xc0", bytes(40), GARBLED],
    ids=["nal-header-only", "cut-short", "zeros", "random"],
)
def test_an_sps_cut_short_or_garbled_has_no_size_and_raises_nothing(data: bytes) -> None:
    size = sps_resolution(data)
    assert size is None or all(isinstance(n, int) for n in size)


SMALL_SPS = encoded_sps(320, 240)
BIG_SPS = encoded_sps(640, 360)


def test_a_locked_assembler_refuses_other_parameter_sets() -> None:
    asm = H264Assembler()
    asm.push(stap_a(BIG_SPS, PPS), 1000, False)
    asm.push(IDR, 1000, True)
    asm.locked = True  # the stream is open now
    asm.push(stap_a(BIG_SPS + b"\x00", PPS), 2000, False)  # the same, with a zero after it
    [key] = asm.push(IDR, 2000, True)
    assert key.keyframe
    with pytest.raises(
        StreamChanged, match=r"^the camera changed its stream \(new SPS: 320x240\)$"
    ):
        asm.push(stap_a(SMALL_SPS, PPS), 3000, False)
    with pytest.raises(StreamChanged, match=r"\(new PPS\)$"):
        asm.push(stap_a(BIG_SPS, bytes([0x68, 0xEE, 0x3C, 0x80])), 4000, False)


def test_an_unlocked_assembler_takes_new_parameter_sets() -> None:
    asm = H264Assembler(sps=BIG_SPS, pps=PPS)
    asm.push(stap_a(SMALL_SPS, PPS), 1000, False)
    [key] = asm.push(IDR, 1000, True)
    assert asm.sps == SMALL_SPS and key.data.startswith(START_CODE + SMALL_SPS)


def annexb(*nals: bytes) -> bytes:
    return b"".join(START_CODE + nal for nal in nals)


def test_parameter_sets_are_found_in_an_access_unit() -> None:
    assert parameter_sets(annexb(bytes([0x09, 0xF0]), BIG_SPS, PPS, IDR)) == [BIG_SPS, PPS]
    assert parameter_sets(annexb(SLICE)) == []


def test_the_watch_compares_keyframes_with_the_first() -> None:
    watch = ParameterSetWatch()
    watch.check(annexb(BIG_SPS, PPS, IDR))
    watch.check(annexb(IDR))  # a keyframe without parameter sets changes nothing
    watch.check(annexb(BIG_SPS, PPS, IDR))
    with pytest.raises(StreamChanged, match=r"\(new SPS: 320x240\)$"):
        watch.check(annexb(SMALL_SPS, PPS, IDR))


def test_the_watch_starts_from_the_extradata_when_keyframes_carry_none() -> None:
    watch = ParameterSetWatch(annexb(BIG_SPS, PPS))
    watch.check(annexb(IDR))
    with pytest.raises(StreamChanged, match=r"\(new SPS: 320x240\)$"):
        watch.check(annexb(SMALL_SPS, PPS, IDR))


OTHER_BIG_SPS = encoded_sps(640, 360, "yuv420p", **{"x264-params": "cqm=jvt"})  # High, same size


def test_parameter_sets_known_only_from_the_description_give_way_to_the_streams_own() -> None:
    assert OTHER_BIG_SPS != BIG_SPS
    asm = H264Assembler(sps=BIG_SPS, pps=PPS)  # from sprop-parameter-sets, as the SDP said
    asm.push(IDR, 1000, True)
    asm.locked = True
    asm.push(stap_a(OTHER_BIG_SPS, PPS), 2000, False)  # the camera's own, the same size
    [key] = asm.push(IDR, 2000, True)
    assert asm.sps == OTHER_BIG_SPS and key.keyframe
    with pytest.raises(StreamChanged, match=r"\(new SPS: 640x360\)$"):
        asm.push(stap_a(BIG_SPS, PPS), 3000, False)  # seen in-band: any change is one now


def test_a_new_size_is_a_change_even_against_the_description() -> None:
    asm = H264Assembler(sps=BIG_SPS, pps=PPS, locked=True)
    with pytest.raises(StreamChanged, match=r"\(new SPS: 320x240\)$"):
        asm.push(stap_a(SMALL_SPS, PPS), 1000, False)


def test_the_watch_lets_the_streams_own_sets_replace_the_extradatas_once() -> None:
    watch = ParameterSetWatch(annexb(BIG_SPS, PPS))
    watch.check(annexb(IDR))
    watch.check(annexb(OTHER_BIG_SPS, PPS, IDR))
    with pytest.raises(StreamChanged, match=r"\(new SPS: 640x360\)$"):
        watch.check(annexb(BIG_SPS, PPS, IDR))

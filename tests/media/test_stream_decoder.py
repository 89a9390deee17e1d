"""Decoders made from a stream's parameters: the analytics one skips H.264's deblocking filter
(cheaper), and its pictures stay close to the full decoder's."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest

from vigil.media.packets import CopiedPacket, StreamInfo, StreamParams


def decode_all(path: Path, *, for_analysis: bool) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata
        params = StreamParams(stream.codec_context.name, extradata, stream.time_base)
        ctx = params.decoder(for_analysis=for_analysis)
        frames = [
            f.to_ndarray(format="gray")
            for packet in container.demux(stream)
            if packet.size  # the demuxer's last, empty packet
            for f in ctx.decode(packet)
        ]
    return frames + [f.to_ndarray(format="gray") for f in ctx.decode(None)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def busy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of a noisy, moving test picture at a sub-stream's low bit rate: coarse
    quantisation, where the deblocking filter has work (x264's ultrafast preset turns the
    filter off in the stream itself, hence veryfast)."""
    path = tmp_path_factory.mktemp("decoder") / "busy.mp4"
    source = "testsrc2=s=640x360:r=25:d=2,noise=alls=30:allf=t"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", source),
            *("-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-b:v", "150k"),
            *("-pix_fmt", "yuv420p", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path


def test_analysis_decoder_skips_deblocking_but_keeps_the_picture(busy_clip: Path) -> None:
    full = decode_all(busy_clip, for_analysis=False)
    fast = decode_all(busy_clip, for_analysis=True)
    assert len(full) == len(fast) == 50
    differing = [
        i for i, (a, b) in enumerate(zip(full, fast, strict=True)) if not np.array_equal(a, b)
    ]
    # Without the filter the block edges stay: the pictures differ, by little.
    assert differing
    assert min(psnr(a, b) for a, b in zip(full, fast, strict=True)) > 25


TUD_CAMPUS = (
    Path(__file__).resolve().parents[3] / "shared/media/mot15-tud/TUD-Campus/TUD-Campus.mp4"
)


@pytest.mark.parametrize("real", [False, True], ids=["generated", "TUD-Campus"])
def test_copied_packets_decode_exactly_as_the_demuxed_ones(busy_clip: Path, real: bool) -> None:
    """A packet copied out of the ingest (``CopiedPacket``) carries FFmpeg's zeroed padding:
    decoders read past a packet's end, and without it the pictures came out with garbage
    blocks that changed from run to run (found by the analytics benchmark giving other
    figures on each run of the same file; on TUD-Campus 4 to 14 of its 71 frames differed)."""
    if real and not TUD_CAMPUS.is_file():
        pytest.skip("needs ../shared/media/mot15-tud")
    clip = TUD_CAMPUS if real else busy_clip
    direct = decode_all(clip, for_analysis=True)
    wall = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(3):
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            ctx = StreamParams.of(StreamInfo(1, stream, None, wall)).decoder(for_analysis=True)
            copied = [
                f.to_ndarray(format="gray")
                for packet in container.demux(stream)
                if packet.size
                for f in ctx.decode(CopiedPacket.of(packet, packet.is_keyframe, wall).to_av())
            ]
        copied += [f.to_ndarray(format="gray") for f in ctx.decode(None)]
        pairs = zip(direct, copied, strict=True)
        assert [i for i, (a, b) in enumerate(pairs) if not np.array_equal(a, b)] == []

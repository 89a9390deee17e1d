"""Cost of hashing recorded segments (evidence chain): the recorder reads each segment back
when it closes it (``media/segments.py``) and hashes it with SHA-256.

Writes segments of the size a 4 Mbit/s camera makes in 10 s (5 MB, random bytes, like
compressed video), each read back right after it was written, as the recorder does, and
prints milliseconds per segment and the share of one core that costs per camera. Prints
figures only; exit code 0.

    .venv/bin/python bench/segment_hashing.py --segments 50
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from vigil.domain.hashing import file_sha256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--mbit", type=float, default=4.0, help="camera bitrate")
    parser.add_argument("--seconds", type=float, default=10.0, help="segment length")
    opts = parser.parse_args()
    size = int(opts.mbit * 1e6 / 8 * opts.seconds)
    cpu = wall = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(opts.segments):
            path = Path(tmp) / f"{i}.mp4"
            path.write_bytes(os.urandom(size))
            c0, w0 = time.process_time(), time.perf_counter()
            file_sha256(path)
            cpu += time.process_time() - c0
            wall += time.perf_counter() - w0
            path.unlink()
    per_cpu, per_wall = cpu / opts.segments, wall / opts.segments
    print(f"segment: {size / 1e6:.1f} MB ({opts.mbit} Mbit/s x {opts.seconds} s)")
    print(f"hash per segment: {per_wall * 1000:.2f} ms wall, {per_cpu * 1000:.2f} ms CPU")
    print(f"per camera: {per_cpu / opts.seconds * 100:.3f} % of one core")
    print(f"throughput: {size / per_wall / 1e9:.2f} GB/s")


if __name__ == "__main__":
    main()

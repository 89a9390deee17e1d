"""int8 versions of the detector models: about 2.5x less CPU per frame than float32.

Static quantisation (onnxruntime.quantization, QDQ format, uint8 activations, per-channel int8
weights) needs the range of every activation. Those ranges were measured once on real frames
(the shared clips, see `calibrate`) and ship with Vigil as a small JSON file per model, so a
fresh machine builds the int8 model from the float32 one without any video: at
`vigil models install` time, or on the first load of a detector that asks for it.

The int8 file is a cache of its float32 source: it records the source's SHA-256 in its
metadata and is rebuilt when the source changes. It lives next to the source
(``nanodet-int8.onnx``), or, when that folder is read-only, in a per-user cache folder.

Padding with -inf (in front of a max-pool, as TensorFlow exports it) cannot be quantised:
such Pad nodes and their consumers stay in float32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

SOURCE_DIGEST_KEY = "vigil.int8_source_sha256"
"""Metadata key of an int8 model: the SHA-256 of the float32 model it was built from."""

_BUILD_LOCK = threading.Lock()  # cameras loading at once build the file once


class QuantizeError(RuntimeError):
    """Building the int8 model failed; the message says why."""


def ranges_file(model_file: str) -> Path:
    """The calibration ranges shipped for a model file name (e.g. ``nanodet.onnx``)."""
    return Path(__file__).with_name("calibration") / f"{Path(model_file).stem}.ranges.json"


def int8_name(source: Path) -> str:
    """``nanodet.onnx`` -> ``nanodet-int8.onnx``."""
    return f"{source.stem}-int8{source.suffix}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigil" / "models"


def _writable(folder: Path) -> bool:
    """Whether to write into ``folder``: allowed, and not marked read-only (root may write
    anywhere, but a folder without write bits, like a shared reference set, stays as it is)."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _source_digest_of(path: Path) -> str | None:
    """The source digest recorded in an int8 model, or None (unreadable, not ours)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # a truncated or foreign file: rebuild it
        return None
    return next((p.value for p in model.metadata_props if p.key == SOURCE_DIGEST_KEY), None)


def _unquantisable(model: Any) -> list[str]:
    """Nodes to keep in float32: Pad with a non-finite value, and what reads its output."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    padded: set[str] = set()
    names: list[str] = []
    for node in model.graph.node:
        value = constants.get(node.input[2]) if len(node.input) > 2 else None
        if node.op_type == "Pad" and value is not None and not np.all(np.isfinite(value)):
            padded.update(node.output)
            names.append(node.name)
    names += [n.name for n in model.graph.node if padded & set(n.input)]
    return names


def _prepared(source: Path, folder: Path) -> Path:
    """``source`` optimised for quantisation (shapes inferred, Pad folded into Conv): the
    graph that both calibration and quantisation see, so that tensor names agree."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = folder / "prepared.onnx"
    quant_pre_process(str(source), str(out), skip_symbolic_shape=True)
    return out


def quantize_int8(source: Path, target: Path, ranges: Path) -> None:
    """Write the int8 (QDQ) version of ``source`` to ``target`` with the given ranges.

    Raises:
        QuantizeError: The ranges are missing or do not fit the model, or quantisation failed.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not ranges.is_file():
        raise QuantizeError(f"no calibration ranges for {source.name} ({ranges} is missing)")
    known = set(json.loads(ranges.read_text()).get("data", {}))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    staged = Path(name)
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-int8-") as tmp:
            model = onnx.load(str(_prepared(source, Path(tmp))))
        # Every activation a Conv reads needs its range, or the ranges are another model's.
        weights = {t.name for t in model.graph.initializer}
        needed = {i for n in model.graph.node if n.op_type == "Conv" for i in n.input[:1]}
        if not known or not (needed - weights) <= known:
            raise QuantizeError(
                f"the calibration ranges {ranges.name} do not fit {source} (another model or "
                "another conversion)"
            )
        with warnings.catch_warnings():
            # The -inf padding left in float32 still gets a (meaningless) range computed.
            warnings.simplefilter("ignore", RuntimeWarning)
            quantize_static(
                model,
                staged,
                None,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=_unquantisable(model),
                calibrate_method=CalibrationMethod.MinMax,
                calibration_cache_path=ranges,
            )
        quantized = onnx.load(str(staged))
        onnx.helper.set_model_props(quantized, {SOURCE_DIGEST_KEY: _sha256(source)})
        onnx.save(quantized, str(staged))
        staged.chmod(0o644)
        os.replace(staged, target)
    except QuantizeError:
        raise
    except Exception as exc:  # onnxruntime.quantization raises untyped errors
        raise QuantizeError(f"quantising {source} failed ({type(exc).__name__}: {exc})") from exc
    finally:
        staged.unlink(missing_ok=True)


def ensure_int8(source: Path, ranges: Path | None = None) -> Path:
    """The int8 model of ``source``: the cached one when it is current, else built now.

    Args:
        source: The float32 model.
        ranges: Its calibration ranges (default: the ones shipped for its file name).

    Returns:
        The int8 model's path (next to ``source``, or in the user's cache when that folder
        cannot be written).

    Raises:
        QuantizeError: It could not be built.
    """
    ranges = ranges or ranges_file(source.name)
    try:
        digest = _sha256(source)
    except OSError as exc:
        raise QuantizeError(f"cannot read {source}: {exc}") from exc
    beside = source.parent / int8_name(source)
    cached = _cache_dir() / f"{digest[:16]}-{int8_name(source)}"
    # Beside its source when that folder may be written (so an install leaves it there),
    # else in the user's cache.
    target = beside if _writable(source.parent) else cached
    with _BUILD_LOCK:
        if target.is_file() and _source_digest_of(target) == digest:
            return target
        log.info("building the int8 model %s from %s", target, source)
        try:
            quantize_int8(source, target, ranges)
        except (OSError, ImportError) as exc:
            raise QuantizeError(f"cannot build the int8 model {target}: {exc}") from exc
        return target


def calibrate(
    source: Path,
    frames: Iterable[npt.NDArray[np.uint8]],
    prepare: Callable[[npt.NDArray[np.uint8]], dict[str, npt.NDArray[np.float32]]],
    out: Path,
) -> None:
    """Measure the activation ranges of ``source`` on real frames and write them to ``out``.

    A developer's tool: the result ships with Vigil (``analytics/calibration/``). Frames
    should look like what cameras see (the shared clips); not the evaluation sets.

    Args:
        source: The float32 model.
        frames: BGR frames.
        prepare: A frame -> the model's input feed (the detector's own preprocessing).
        out: The ranges file to write.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    feeds = iter([prepare(f) for f in frames])

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            return next(feeds, None)

    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        prepared = _prepared(source, Path(tmp))
        # quantize_static writes the ranges to the cache path as it calibrates.
        warnings.simplefilter("ignore", RuntimeWarning)  # the -inf padding's range, unused
        quantize_static(
            str(prepared),
            Path(tmp) / "model.onnx",
            _Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=_unquantisable(onnx.load(str(prepared))),
            calibrate_method=CalibrationMethod.MinMax,
            calibration_cache_path=out,
        )
    out.chmod(0o644)  # written private by onnxruntime; it ships with the package


def _clip_frames(clips: list[Path], per_clip: int, every: int) -> list[npt.NDArray[np.uint8]]:
    import av

    frames = []
    for clip in clips:
        with av.open(str(clip)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % every == 0:
                    frames.append(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))
                if i >= per_clip * every:
                    break
    return frames


def main() -> None:
    """Calibrate NanoDet on the shared clips: ``python -m vigil.analytics.quantize``."""
    import argparse

    from vigil.analytics.detectors import nanodet

    shared = Path(__file__).resolve().parents[4] / "shared"
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", type=Path, default=shared / "models" / "nanodet.onnx")
    parser.add_argument("--media", type=Path, default=shared / "media")
    parser.add_argument("--per-clip", type=int, default=12)
    parser.add_argument("--every", type=int, default=25, help="take every n-th frame")
    args = parser.parse_args()
    # Street scenes the cameras see; never the evaluation set (ngsim-us101).
    clips = sorted(args.media.glob("intel-sample-videos/*.mp4"))
    clips += sorted(args.media.glob("mot15-tud/*/*.mp4"))
    frames = _clip_frames(clips, args.per_clip, args.every)
    import onnxruntime as ort

    input_name = ort.InferenceSession(str(args.model)).get_inputs()[0].name
    out = ranges_file(args.model.name)
    out.parent.mkdir(exist_ok=True)
    calibrate(args.model, frames, lambda f: {input_name: nanodet.preprocess(f)}, out)
    print(f"{out}: ranges from {len(frames)} frames of {len(clips)} clips")


if __name__ == "__main__":
    main()

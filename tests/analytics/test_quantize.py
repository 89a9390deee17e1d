"""int8 models built from float32 ones with shipped calibration ranges: built once and cached,
rebuilt when the source changes, close to the float32 outputs, refused when the ranges are
another model's; NanoDet runs its int8 model by default."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from vigil.analytics import quantize
from vigil.analytics.detectors import create_detector
from vigil.analytics.quantize import QuantizeError, calibrate, ensure_int8, int8_name

SHARED_MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"


def tiny_model(path: Path, seed: int = 0) -> Path:
    """Conv -> LeakyRelu -> Pad(-inf) -> MaxPool -> Conv, like NanoDet's stem, 3x32x32 in."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (4, 8, 3, 3)).astype(np.float32), "w2")
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    value = numpy_helper.from_array(np.array(-np.inf, np.float32), "value")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c1"], ["r1"], name="relu1", alpha=0.1),
        helper.make_node("Pad", ["r1", "pads", "value"], ["p1"], name="pad_inf"),
        helper.make_node("MaxPool", ["p1"], ["m1"], kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("Conv", ["m1", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])],
        [w1, w2, pads, value],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def images(n: int, seed: int = 1) -> list[npt.NDArray[np.uint8]]:
    """Smooth random images (a real picture's statistics matter less for a tiny model)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.float32)
    return [np.kron(s, np.ones((8, 8, 1))).astype(np.uint8) for s in small]


def prepare(image: npt.NDArray[np.uint8]) -> dict[str, npt.NDArray[np.float32]]:
    return {"x": (image.astype(np.float32) / 128 - 1).transpose(2, 0, 1)[None].copy()}


def run(path: Path, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, prepare(image))[0])


@pytest.fixture
def calibrated(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "models"
    folder.mkdir()
    source = tiny_model(folder / "tiny.onnx")
    ranges = tmp_path / "tiny.ranges.json"
    calibrate(source, images(16), prepare, ranges)
    return source, ranges


def test_int8_model_is_built_beside_its_source_and_close_to_it(
    calibrated: tuple[Path, Path],
) -> None:
    source, ranges = calibrated
    built = ensure_int8(source, ranges)
    assert built == source.parent / "tiny-int8.onnx" and built.is_file()
    ops = {n.op_type for n in onnx.load(str(built)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    # The -inf padding stays in float32 (it cannot be quantised) and the result still works.
    image = images(1, seed=7)[0]
    want, got = run(source, image), run(built, image)
    assert np.isfinite(got).all()
    assert np.corrcoef(want.ravel(), got.ravel())[0, 1] > 0.95


def test_int8_model_is_reused_and_rebuilt_when_its_source_changes(
    calibrated: tuple[Path, Path],
) -> None:
    source, ranges = calibrated
    built = ensure_int8(source, ranges)
    stamp = built.stat().st_mtime_ns
    assert ensure_int8(source, ranges) == built and built.stat().st_mtime_ns == stamp
    tiny_model(source, seed=5)  # other weights, same graph: the ranges still fit
    os.utime(built, ns=(stamp, stamp))
    assert ensure_int8(source, ranges) == built
    assert built.stat().st_mtime_ns != stamp


def test_int8_model_of_a_read_only_folder_goes_to_the_user_cache(
    calibrated: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, ranges = calibrated
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(quantize.os, "access", lambda path, mode: False)
    built = ensure_int8(source, ranges)
    assert built.parent == tmp_path / "cache" / "vigil" / "models"
    assert built.name.endswith(int8_name(source)) and built.is_file()
    assert not (source.parent / int8_name(source)).exists()


def test_ranges_of_another_model_are_refused(calibrated: tuple[Path, Path], tmp_path: Path) -> None:
    _, ranges = calibrated
    other = tmp_path / "other.onnx"
    model = onnx.load(str(tiny_model(other)))
    for node in model.graph.node:  # same shapes, other tensor names
        node.output[:] = [f"other_{o}" if o != "y" else o for o in node.output]
        node.input[:] = [f"other_{i}" if i in {"c1", "r1", "p1", "m1"} else i for i in node.input]
    onnx.save(model, str(other))
    with pytest.raises(QuantizeError, match="do not fit"):
        ensure_int8(other, ranges)
    with pytest.raises(QuantizeError, match="missing"):
        ensure_int8(other, tmp_path / "absent.json")


@pytest.mark.skipif(not (SHARED_MODELS / "nanodet.onnx").is_file(), reason="needs ../shared/models")
def test_nanodet_runs_its_int8_model_by_default(tmp_path: Path) -> None:
    shutil.copy(SHARED_MODELS / "nanodet.onnx", tmp_path / "nanodet.onnx")
    frame = np.full((360, 640, 3), 90, np.uint8)
    int8: object = create_detector({"type": "nanodet"}, models_dir=tmp_path)
    fp32: object = create_detector({"type": "nanodet", "int8": False}, models_dir=tmp_path)
    assert int8.loaded_path == tmp_path / "nanodet-int8.onnx"
    assert fp32.loaded_path == tmp_path / "nanodet.onnx"
    # CenterNet ships no ranges: asking for int8 falls back to its float32 model.
    if (SHARED_MODELS / "centernet.onnx").is_file():
        center: object = create_detector(
            {"type": "centernet", "int8": True}, models_dir=SHARED_MODELS
        )
        assert center.loaded_path == SHARED_MODELS / "centernet.onnx"
    assert len(int8.detect(frame)) == 0  # a flat grey frame: nothing

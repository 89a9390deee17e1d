"""Fully convolutional models run at the image's aspect: the input size is freed without
touching the file, the outputs follow it, and NanoDet picks a size that keeps the aspect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from vigil.analytics.detectors import parse_detector_config
from vigil.analytics.detectors.nanodet import input_shape, preprocess
from vigil.analytics.detectors.onnx_model import free_input_size


def conv_model(path: Path) -> Path:
    """One 3x3 convolution (stride 2), declared at 3 x 32 x 32 in and 4 x 16 x 16 out."""
    weights = np.random.default_rng(0).normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_freed_model_runs_at_any_size_and_file_is_unchanged(tmp_path: Path) -> None:
    path = conv_model(tmp_path / "conv.onnx")
    before = path.read_bytes()
    fixed = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match=r"(?i)dimension|shape"):
        fixed.run(None, {"x": np.zeros((1, 3, 64, 96), np.float32)})

    free = ort.InferenceSession(free_input_size(path), providers=["CPUExecutionProvider"])
    assert free.get_inputs()[0].shape == [1, 3, "height", "width"]
    image = np.random.default_rng(1).normal(size=(1, 3, 64, 96)).astype(np.float32)
    (out,) = free.run(None, {"x": image})
    assert out.shape == (1, 4, 32, 48)
    # The same weights: at the declared size both give the same numbers.
    square = image[:, :, :32, :32].copy()
    np.testing.assert_allclose(
        free.run(None, {"x": square})[0], fixed.run(None, {"x": square})[0], rtol=1e-6
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((640, 360), 416, (416, 224)),  # a 16:9 sub-stream: half the cells of 416 x 416
        ((640, 480), 416, (416, 320)),
        ((366, 274), 416, (416, 320)),  # a 2 x 2 tile
        ((360, 640), 320, (192, 320)),  # portrait
        ((416, 416), 416, (416, 416)),
        ((2000, 40), 416, (416, 32)),  # at least one cell of the largest stride
    ],
)
def test_input_keeps_the_aspect_in_whole_cells(
    size: tuple[int, int], long_side: int, expected: tuple[int, int]
) -> None:
    got = input_shape(*size, long_side)
    assert got == expected
    assert got[0] % 32 == 0 and got[1] % 32 == 0
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    assert preprocess(frame, got).shape == (1, 3, got[1], got[0])


@pytest.mark.parametrize("value", [100, 417, 2048])
def test_input_size_must_be_whole_cells_in_range(value: int) -> None:
    with pytest.raises(ValueError, match="input_size"):
        parse_detector_config({"type": "nanodet", "input_size": value})

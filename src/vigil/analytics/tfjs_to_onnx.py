"""Convert a TensorFlow.js graph model to ONNX: run by `vigil models install` in its converter venv.

This script runs under a separate Python that has tensorflow-cpu and tf2onnx (never Vigil's own
runtime, which must not need TensorFlow) and imports nothing of Vigil:

    python tfjs_to_onnx.py models/centernet.json centernet.onnx

Two repairs make tf2onnx 1.17 accept these graphs: NumPy 2 removed ``numpy.product`` and
``numpy.cast``, which tf2onnx still calls; and the TF.js export strips op attributes that carry
defaults (``TArgs``, ``index_type``, ...), which are filled back in from TensorFlow's op registry.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

OPSET = "17"


def _restore_numpy_aliases() -> None:
    np.product = np.prod  # type: ignore[attr-defined]
    casts = (np.float32, np.float64, np.int32, np.int64, np.bool_)
    np.cast = {t: (lambda x, t=t: np.asarray(x, dtype=t)) for t in casts}  # type: ignore[attr-defined]


def fill_default_attrs(model: dict[str, Any]) -> None:
    """Put back the op attributes the TF.js export left out because they had defaults."""
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry

    for node in model["modelTopology"]["node"]:
        op_def = op_def_registry.get(node["op"]) or op_def_registry.get("_" + node["op"])
        if op_def is None:
            continue  # tf2onnx knows TF.js-only ops itself
        attrs = node.setdefault("attr", {})
        for attr in op_def.attr:
            if attr.name in attrs:
                continue
            if attr.HasField("default_value"):
                attrs[attr.name] = json_format.MessageToDict(attr.default_value)
            elif attr.name == "TArgs":  # the types of a fused op's extra inputs: all T
                count = int(attrs.get("num_args", {}).get("i", 1))
                attrs[attr.name] = {"list": {"type": [attrs["T"]["type"]] * count}}


def convert(model_json: Path, output: Path) -> None:
    """Convert ``model_json`` (with its .bin shards beside it) to ONNX at ``output``."""
    _restore_numpy_aliases()
    from tf2onnx import convert as tf2onnx_convert

    with tempfile.TemporaryDirectory() as tmp:
        model = json.loads(model_json.read_text())
        fill_default_attrs(model)
        fixed = Path(tmp) / model_json.name
        fixed.write_text(json.dumps(model))
        for shard in model_json.parent.glob(f"{model_json.stem}*.bin"):
            shutil.copy(shard, Path(tmp) / shard.name)
        sys.argv = ["tf2onnx", "--tfjs", str(fixed), "--output", str(output), "--opset", OPSET]
        tf2onnx_convert.main()


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))

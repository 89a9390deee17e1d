"""What the ONNX detectors share: loading a model safely, tiling, class and score filtering.

A plugin subclasses `OnnxDetector` and implements `_infer` (one image in, boxes in that image's
pixels out); everything model-independent happens here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from pydantic import Field, field_validator
from supervision import Detections, OverlapMetric

from vigil.analytics.classes import COCO_CLASSES, class_ids
from vigil.analytics.detections import make_detections
from vigil.analytics.detectors.base import (
    DetectorConfig,
    DetectorContext,
    DetectorUnavailable,
    Frame,
)
from vigil.analytics.quantize import QuantizeError, ensure_int8

log = logging.getLogger(__name__)

Boxes = npt.NDArray[np.float32]
Raw = tuple[Boxes, npt.NDArray[np.float32], npt.NDArray[np.int64]]
"""Boxes [N, 4] xyxy in pixels of the image given, scores [N], COCO class ids [N]."""

INSTALL_HINT = "run `vigil models install` (or set analytics.models_dir to where the models are)"
EDGE_MARGIN_PX = 2.0
"""A box this close to a tile's inner edge is cut by it."""


class OnnxDetectorConfig(DetectorConfig):
    """Options of the ONNX detectors."""

    model: str = Field(
        title="Model file", description="file name in the models directory, or an absolute path"
    )
    tiles: int = Field(
        1,
        ge=1,
        le=4,
        title="Tiles per side",
        description="detect on a tiles x tiles grid (small objects)",
    )
    tile_overlap: float = Field(
        0.25, ge=0.0, lt=1.0, title="Tile overlap", description="tile overlap, share of a tile"
    )
    tile_full_frame: bool = Field(
        False,
        title="Also the whole frame",
        description="with tiles, also detect on the whole frame",
    )
    nms_iou: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        title="Merge overlap (NMS IoU)",
        description="overlap above which boxes merge",
    )
    int8: bool = Field(
        False, title="int8 model", description="run the int8-quantised model (needs shipped ranges)"
    )
    class_thresholds: dict[str, float] = Field(
        default_factory=dict,
        title="Minimum score by class",
        description="the minimum score for these classes instead (one 'class: score' a line)",
    )

    @field_validator("class_thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = [n for n in value if n not in COCO_CLASSES]
        if unknown:
            raise ValueError(f"unknown class(es) {unknown}; known: {', '.join(COCO_CLASSES)}")
        wrong = {n: v for n, v in value.items() if not 0.0 <= v <= 1.0}
        if wrong:
            raise ValueError(f"scores are between 0 and 1: {wrong}")
        return value

    def min_score(self) -> float:
        """The lowest score any class keeps."""
        return min([self.score_threshold, *self.class_thresholds.values()])

    def thresholds(self) -> npt.NDArray[np.float32]:
        """The minimum score of each COCO class, by class index."""
        out = np.full(len(COCO_CLASSES), self.score_threshold, dtype=np.float32)
        for name, score in self.class_thresholds.items():
            out[COCO_CLASSES.index(name)] = score
        return out


def load_session(
    path: Path, threads: int, signature: Signature, *, shown: Path | None = None
) -> tuple[ort.InferenceSession, dict[str, list[int]]]:
    """Open an ONNX model on the CPU after checking its declared inputs and outputs, turning
    every failure into `DetectorUnavailable`.

    Args:
        path: The model file.
        threads: Intra-op threads (0: onnxruntime decides).
        signature: The shapes the plugin decodes; with ``any_size``, the input's height and
            width are freed before the session is made (the model then runs at any size the
            caller feeds, e.g. a frame's own aspect instead of a square).
        shown: The file to name in errors (the float32 source of an int8 model).

    Returns:
        The session, and each output's shape as the file declares it (by name).

    Raises:
        DetectorUnavailable: The file is missing, is not a usable ONNX model, or is another
            model (other shapes).
    """
    shown = shown or path
    if not path.is_file():
        raise DetectorUnavailable(f"model file {shown} is missing: {INSTALL_HINT}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        # The file as it is, for the shapes onnxruntime infers for it (the files do not all
        # declare their outputs' shapes).
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        check_signature(session, shown, signature)
        declared = {o.name: list(o.shape) for o in session.get_outputs()}
        if signature.any_size:
            session = ort.InferenceSession(
                free_input_size(path), options, providers=["CPUExecutionProvider"]
            )
        return session, declared
    except DetectorUnavailable:
        raise
    except Exception as exc:  # onnx and onnxruntime raise their own untyped errors
        raise DetectorUnavailable(
            f"model file {shown} cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}); "
            f"it may be corrupt or not a model: {INSTALL_HINT}"
        ) from exc


@dataclass(frozen=True)
class Signature:
    """The declared shapes of a model a plugin decodes."""

    inputs: list[list[int]]
    outputs: list[list[int]]
    any_size: bool = False
    """The model is fully convolutional: its input's last two dimensions (height and width,
    NCHW) may be freed, and its outputs' cell counts follow."""


def check_signature(session: ort.InferenceSession, path: Path, signature: Signature) -> None:
    """Check that a model has the input and output shapes a plugin decodes.

    Raises:
        DetectorUnavailable: The shapes differ (another model under the expected name).
    """
    got_in = [list(i.shape) for i in session.get_inputs()]
    got_out = sorted(list(o.shape) for o in session.get_outputs())
    if got_in != signature.inputs or got_out != sorted(signature.outputs):
        raise DetectorUnavailable(
            f"model file {path} has inputs {got_in} and outputs {got_out}, expected "
            f"{signature.inputs} and {sorted(signature.outputs)}: it is another model; "
            f"{INSTALL_HINT}"
        )


def free_input_size(path: Path) -> bytes:
    """A fully convolutional model (NCHW input) that takes any height and width: the input's
    last two dimensions become symbolic, and the shapes recorded for its outputs and inner
    tensors (all of which follow the input's size) are dropped for onnxruntime to infer.

    Returns:
        The changed model, serialised (the file is left as it is).
    """
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[-2].dim_param = "height"
    dims[-1].dim_param = "width"
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    return bytes(model.SerializeToString())


def tile_windows(
    width: int, height: int, tiles: int, overlap: float
) -> list[tuple[int, int, int, int]]:
    """Windows (x0, y0, x1, y1) of a tiles x tiles grid whose neighbours overlap.

    Example:
        >>> tile_windows(640, 480, 2, 0.25)
        [(0, 0, 366, 274), (274, 0, 640, 274), (0, 206, 366, 480), (274, 206, 640, 480)]
    """

    def spans(size: int) -> list[tuple[int, int]]:
        # tiles * t - (tiles - 1) * overlap * t = size
        t = size / (tiles - (tiles - 1) * overlap)
        step = t * (1 - overlap)
        return [(round(i * step), min(size, round(i * step + t))) for i in range(tiles)]

    return [(x0, y0, x1, y1) for y0, y1 in spans(height) for x0, x1 in spans(width)]


class OnnxDetector:
    """Base of the ONNX detector plugins: runs `_infer` on the frame or its tiles."""

    key: ClassVar[str]
    config_model: ClassVar[type[DetectorConfig]]
    signature: ClassVar[Signature]
    stateless: ClassVar[bool] = True
    """Each frame is detected on its own (see `Detector`): frames may be skipped."""

    def __init__(self, config: OnnxDetectorConfig, context: DetectorContext) -> None:
        self.config = config
        path = Path(config.model)
        self.model_path = path if path.is_absolute() else context.models_dir / path
        self.loaded_path = self.model_path
        """The file actually run: the int8 model built from ``model_path`` when asked for."""
        if config.int8 and self.model_path.is_file():
            try:
                self.loaded_path = ensure_int8(self.model_path)
            except QuantizeError as exc:
                # The float32 model still works: slower, but the camera is analysed.
                log.warning("%s; running the float32 model", exc)
        self.session, self.declared_outputs = load_session(
            self.loaded_path, context.intra_op_threads, self.signature, shown=self.model_path
        )
        self._keep = np.array(class_ids(config.classes), dtype=np.int64)
        self._thresholds = config.thresholds()

    def _infer(self, image: Frame) -> Raw:
        """Run the model on one BGR image; boxes in its pixels."""
        raise NotImplementedError

    def detect(self, frame: Frame) -> Detections:
        """Detect objects of the configured classes; see `Detector.detect`."""
        height, width = frame.shape[:2]
        cfg = self.config
        windows = [(0, 0, width, height)]
        if cfg.tiles > 1:
            tiles = tile_windows(width, height, cfg.tiles, cfg.tile_overlap)
            windows = tiles + windows if cfg.tile_full_frame else tiles
        parts: list[Raw] = []
        for x0, y0, x1, y1 in windows:
            boxes, scores, classes = self._infer(frame[y0:y1, x0:x1])
            known = np.isin(classes, self._keep)
            keep = known & (scores >= self._thresholds[np.where(known, classes, 0)])
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
            if (x1 - x0, y1 - y0) != (width, height):
                # A box cut by a tile's inner edge is whole in the neighbouring tile when it is
                # smaller than the overlap; bigger ones stay and are merged below.
                cut = _cut_by_inner_edge(boxes, (x0, y0, x1, y1), width, height)
                small = (boxes[:, 2] - boxes[:, 0] < (x1 - x0) * cfg.tile_overlap) & (
                    boxes[:, 3] - boxes[:, 1] < (y1 - y0) * cfg.tile_overlap
                )
                keep = ~(cut & small)
                boxes = boxes[keep] + np.array([x0, y0, x0, y0], dtype=np.float32)
                scores, classes = scores[keep], classes[keep]
            parts.append((boxes, scores, classes))
        detections = make_detections(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )
        if len(windows) > 1 and len(detections) > 1:
            detections = detections.with_nms(cfg.nms_iou, class_agnostic=True)
            # A piece of an object (from a tile) inside its whole box (from another).
            detections = detections.with_nms(0.8, True, overlap_metric=OverlapMetric.IOS)
        return detections


def _cut_by_inner_edge(
    boxes: Boxes, window: tuple[int, int, int, int], width: int, height: int
) -> npt.NDArray[np.bool_]:
    x0, y0, x1, y1 = window
    m = EDGE_MARGIN_PX
    cut = np.zeros(len(boxes), dtype=bool)
    if x0 > 0:
        cut |= boxes[:, 0] <= m
    if y0 > 0:
        cut |= boxes[:, 1] <= m
    if x1 < width:
        cut |= boxes[:, 2] >= (x1 - x0) - m
    if y1 < height:
        cut |= boxes[:, 3] >= (y1 - y0) - m
    return cut

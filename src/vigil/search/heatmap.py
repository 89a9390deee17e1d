"""Heatmaps: where objects moved on a camera, as a grid of track counts and a PNG overlay.

Each track's path is drawn as a connected line into the grid (so a fast mover sampled a few
times leaves a continuous trail), once per track: a cell counts the tracks that crossed it.
The picture is the grid blurred, coloured and made transparent where nothing moved, at the
camera's aspect, to lay over a snapshot of the camera.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

GRID_WIDTH = 64
"""Cells across; the height follows the camera's aspect (36 for 16:9)."""

PNG_WIDTH = 640
BLUR_SIGMA_CELLS = 1.0
MAX_ALPHA = 200  # the hottest cells still let the picture under them show
_SHIFT = 4  # sub-cell precision of the drawn paths (cv2 fixed point: 1/16 cell)


def grid_size(width: int | None, height: int | None) -> tuple[int, int]:
    """Grid columns and rows for a picture of ``width`` x ``height`` (16:9 when unknown)."""
    if not width or not height:
        width, height = 16, 9
    return GRID_WIDTH, max(1, round(GRID_WIDTH * height / width))


def accumulate(
    paths: Iterable[Sequence[Sequence[float]]], columns: int, rows: int
) -> npt.NDArray[np.int32]:
    """Count, per cell, the tracks whose path crossed it.

    Args:
        paths: Each track's ``[(seconds, x, y), ...]`` in image fractions.
        columns: Grid width.
        rows: Grid height.

    Returns:
        A ``rows x columns`` grid of track counts.

    Example:
        >>> grid = accumulate([[(0, 0.0, 0.5), (1, 1.0, 0.5)]], 4, 3)
        >>> grid[1].tolist(), int(grid.sum())
        ([1, 1, 1, 1], 4)
    """
    counts = np.zeros((rows, columns), np.int32)
    mask = np.zeros((rows, columns), np.uint8)
    scale = np.array([columns, rows], np.float64)
    limit = scale - 1e-6
    for path in paths:
        if not path:
            continue
        points = np.array([(p[1], p[2]) for p in path], np.float64)
        # Fractions to cell coordinates (the cell centre of a fraction's cell), clipped in.
        cells = np.clip(points * scale, 0, limit) - 0.5
        mask[:] = 0
        if len(cells) == 1:
            x, y = np.floor(cells[0] + 0.5).astype(int)
            mask[y, x] = 1
        else:
            fixed = np.round(cells * (1 << _SHIFT)).astype(np.int32)
            cv2.polylines(mask, [fixed], False, 1, thickness=1, lineType=cv2.LINE_8, shift=_SHIFT)
        counts += mask
    return counts


def render_png(counts: npt.NDArray[np.int32]) -> bytes:
    """The grid as a transparent colour overlay (PNG, ``PNG_WIDTH`` wide, the grid's aspect).

    Args:
        counts: Track counts per cell (``accumulate``).

    Returns:
        PNG bytes: hot colours where many tracks passed, fully transparent where none did.
    """
    rows, columns = counts.shape
    out_w = PNG_WIDTH
    out_h = max(1, round(PNG_WIDTH * rows / columns))
    peak = float(counts.max()) if counts.size else 0.0
    if peak <= 0:
        image = np.zeros((out_h, out_w, 4), np.uint8)
    else:
        blurred = cv2.GaussianBlur(counts.astype(np.float32), (0, 0), BLUR_SIGMA_CELLS)
        # Square root: paths taken a few times stay visible next to a busy one.
        level = np.sqrt(np.clip(blurred / blurred.max(), 0, 1))
        big = np.clip(cv2.resize(level, (out_w, out_h), interpolation=cv2.INTER_LINEAR), 0, 1)
        colours = cv2.applyColorMap((big * 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = np.clip(big * 2.0, 0, 1) * MAX_ALPHA
        alpha[big < 0.05] = 0
        image = np.dstack([colours, alpha.astype(np.uint8)])
    ok, png = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - OpenCV always encodes a BGRA uint8 image
        raise RuntimeError("the heatmap could not be encoded as PNG")
    return bytes(png.tobytes())


def grid_json(counts: npt.NDArray[np.int32]) -> dict[str, Any]:
    """``{width, height, cells}``: the counts row by row (top row first)."""
    rows, columns = counts.shape
    return {"width": columns, "height": rows, "cells": counts.tolist()}

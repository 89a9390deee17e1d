"""The dominant colour of an object, named from a small palette an investigator searches by.

A crop is shrunk to a few hundred pixels; each pixel is named through a lookup table over
quantised BGR (built once from CIE Lab lightness and chroma, and hue), and the names are
voted with weights that favour the centre of the crop (the box's edges are mostly
background). Distinctive names win at smaller shares: a red car is "red" although its windows
and tyres are dark, a white car "white" although its glass is grey.

Example:
    >>> import numpy as np
    >>> crop = np.zeros((128, 64, 3), np.uint8)
    >>> crop[:] = (200, 60, 20)  # BGR: blue
    >>> dominant_colour(crop)
    'blue'
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

COLOURS: tuple[str, ...] = (
    "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink",
    "brown",
)  # fmt: skip
"""The palette, in a stable order (the web client shows swatches in this order)."""

ACHROMATIC: frozenset[str] = frozenset({"black", "white", "grey"})

SAMPLE_SIZE = 24
"""Crops are resized to SAMPLE_SIZE x SAMPLE_SIZE before voting (aspect does not matter for
colour, and a fixed size lets the centre weights be computed once)."""

CHROMATIC_MIN_SHARE = 0.2
"""Share of the weighted votes chromatic names need to beat black, white and grey."""

WHITE_MIN_SHARE = 0.25
"""Share white needs to beat black and grey (a white car's glass and shadows are grey)."""

ACHROMATIC_CHROMA = 13.0
"""Lab chroma under which a pixel is black, grey or white (its hue is noise). Lab, unlike HSV
saturation, does not call a dark bluish shadow "blue"."""

MIN_CROP_PIXELS = 4

# Hue bands in degrees (OpenCV's full-range HSV hue), lower bound inclusive.
_HUE_BANDS: tuple[tuple[float, float, str], ...] = (
    (0, 15, "red"), (15, 40, "orange"), (40, 68, "yellow"), (68, 172, "green"),
    (172, 262, "blue"), (262, 305, "purple"), (305, 340, "pink"), (340, 361, "red"),
)  # fmt: skip

_BITS = 5  # each BGR channel quantised to 32 levels: a 32 x 32 x 32 lookup table
_SHIFT = 8 - _BITS
_CHROMATIC = [i for i, name in enumerate(COLOURS) if name not in ACHROMATIC]
_WHITE, _BLACK, _GREY = (COLOURS.index(n) for n in ("white", "black", "grey"))


def _name_pixels(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """Name each BGR pixel (N x 3) by its palette index."""
    img = bgr.reshape(-1, 1, 3)
    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    hue = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL).reshape(-1, 3)[:, 0] * (360.0 / 256.0)
    lightness, chroma = lab[:, 0], np.hypot(lab[:, 1], lab[:, 2])
    idx = {name: i for i, name in enumerate(COLOURS)}
    out = np.full(len(lab), idx["grey"], np.intp)
    for low, high, name in _HUE_BANDS:
        out[(hue >= low) & (hue < high)] = idx[name]
    red = (hue < 15) | (hue >= 340)
    warm = hue < 68
    # Dark warm colours are brown (a dull dark red too; a deep one stays red); pale red is pink.
    out[warm & ~red & (lightness < 50)] = idx["brown"]
    out[red & (lightness < 45) & (chroma < 35)] = idx["brown"]
    out[red & (lightness > 70) & (chroma < 45)] = idx["pink"]
    achromatic = (chroma < ACHROMATIC_CHROMA) | (lightness < 8)
    out[achromatic] = idx["grey"]
    out[achromatic & (lightness < 30)] = idx["black"]
    out[achromatic & (lightness >= 80)] = idx["white"]
    return out


@cache
def _lut() -> npt.NDArray[np.intp]:
    """Palette index of every quantised BGR colour (named at its bin's centre), built once."""
    levels = (np.arange(1 << _BITS) << _SHIFT) + (1 << (_SHIFT - 1))
    b, g, r = np.meshgrid(levels, levels, levels, indexing="ij")
    bgr = np.stack([b.ravel(), g.ravel(), r.ravel()], axis=1).astype(np.uint8)
    return _name_pixels(bgr)


@cache
def _centre_weights() -> npt.NDArray[np.float64]:
    """Gaussian weights over the sample, heaviest in the middle of the box, summing to 1."""
    g = cv2.getGaussianKernel(SAMPLE_SIZE, SAMPLE_SIZE * 0.25).astype(np.float64)
    weights = np.outer(g, g).ravel()
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def colour_votes(crop_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """Centre-weighted share of each palette colour in a crop (indexed like ``COLOURS``).

    Args:
        crop_bgr: The object's box cut from a BGR frame (H x W x 3, uint8, at least 2 x 2).

    Returns:
        One share per colour of ``COLOURS``, summing to 1.
    """
    small = cv2.resize(crop_bgr, (SAMPLE_SIZE, SAMPLE_SIZE), interpolation=cv2.INTER_AREA)
    q = small.reshape(-1, 3).astype(np.intp) >> _SHIFT
    names = _lut()[(q[:, 0] << (2 * _BITS)) | (q[:, 1] << _BITS) | q[:, 2]]
    votes = np.bincount(names, weights=_centre_weights(), minlength=len(COLOURS))
    return np.asarray(votes, dtype=np.float64)


def dominant_colour(crop_bgr: npt.NDArray[np.uint8]) -> str | None:
    """Name the dominant colour of an object crop.

    Args:
        crop_bgr: The object's box cut from a BGR frame (H x W x 3, uint8).

    Returns:
        One of ``COLOURS``, or None for a crop too small (or not a colour image) to tell.
    """
    if crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3 or crop_bgr.dtype != np.uint8:
        return None
    if crop_bgr.shape[0] * crop_bgr.shape[1] < MIN_CROP_PIXELS:
        return None
    votes = colour_votes(crop_bgr)
    # Distinctive names win at smaller shares: paint over glass, tyres and shadow.
    if votes[_CHROMATIC].sum() >= CHROMATIC_MIN_SHARE:
        return COLOURS[_CHROMATIC[int(np.argmax(votes[_CHROMATIC]))]]
    if votes[_WHITE] >= WHITE_MIN_SHARE:
        return "white"
    return "black" if votes[_BLACK] >= votes[_GREY] else "grey"

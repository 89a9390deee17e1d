"""Camera tampering: a view covered, defocused, turned away or too dark, from a small grey
copy of each sampled frame compared with the view as it was learnt.

Four figures per frame, each relative to the learnt view: *detail* (the mean horizontal
grey gradient: edges), *sharpest* (the 99th percentile of the grey gradient: the
strongest edges), *contrast* (the grey level's standard deviation) and *difference* (the
mean absolute grey difference from the learnt view), plus the difference from the frame
before (*unrest*). On the tampering clips of ../shared/media (320 x 180 grey):

- covered (bubble wrap over the lens): detail 0.22-0.31, contrast 0.35-0.63;
- defocused: detail 0.58-0.67, sharpest 0.40-0.56, contrast 0.97, difference 5-9 grey
  levels; things taken out of a plain view (two of three bottles off a table) lower the
  detail as much (0.52) but leave the edges that stay sharp (sharpest 0.65-0.66);
- turned to another view: difference 62-66, detail 0.51-0.62, settled (unrest < 1 a frame);
- a hand-held camera's jitter: difference up to 5, detail 1.0;
- too dark (a cap, the lights out): a mean grey level under 35 and under 0.4 of the learnt
  view's (a scene learnt at night is not too dark for being dark).

A kind is reported once it has held for ``hold_s`` (a person passing close to the lens does
not make a covered camera); once it has cleared for ``hold_s`` the camera is normal again.
The learnt view follows slow changes (daylight) only while the view is normal and settled;
a camera left turned away for ``relearn_s`` takes its new view as normal (the next change
is reported again).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = ["TamperKind", "TamperReport", "TamperWatch"]

Gray = npt.NDArray[np.uint8]

WIDTH = 320
"""Frames are compared at this width (defocus is invisible much smaller)."""
DARK_LEVEL, DARK_SHARE = 35.0, 0.4
"""Too dark: a mean grey level under this, and under this share of the learnt view's (a
night scene learnt dark is not too dark; a cap over the lens or the lights out is)."""
COVERED_DETAIL, COVERED_CONTRAST = 0.35, 0.7
DEFOCUSED_DETAIL, DEFOCUSED_CONTRAST, DEFOCUSED_DIFFERENCE = 0.75, 0.85, 15.0
DEFOCUSED_SHARPEST = 0.6
"""Defocused: the strongest edges too are blurred (not only fewer edges in view)."""
SHARPEST_PERCENTILE = 99
SHARPEST_EVERY = 25
MOVED_DIFFERENCE, MOVED_DETAIL, MOVED_UNREST = 25.0, 0.4, 4.0
MOVED_CELLS, CELL_DIFFERENCE, GRID = 0.8, 20.0, 8
"""Turned away: at least this share of the frame's GRID x GRID cells differs from the learnt
view by CELL_DIFFERENCE grey levels on average (a person close to the lens, or a light
switched on, changes part of the view: 0.6 of it on the Intel office clip; a turned camera
0.88-1.0 on the real clip)."""
FOLLOW = 0.002
"""Share of each normal, settled frame blended into the learnt view (at 5 fps: a time
constant of 100 s: daylight is followed, a tamper is not learnt)."""


class TamperKind(StrEnum):
    """How a camera was tampered with."""

    COVERED = "covered"
    DEFOCUSED = "defocused"
    MOVED = "moved"
    DARK = "dark"


@dataclass(frozen=True, slots=True)
class TamperReport:
    """A kind of tampering that has just held for ``hold_s``, with the frame's figures."""

    kind: TamperKind
    since: float
    detail: float
    contrast: float
    difference: float


@dataclass(slots=True)
class _Spell:
    kind: TamperKind | None = None
    since: float = 0.0


class TamperWatch:
    """Watches one camera's sampled frames (see the module).

    Args:
        hold_s: How long a kind must hold to be reported, and clear to end.
        learn_s: How long the normal view is learnt before anything is reported.
        relearn_s: How long a turned camera's new view takes to become its normal one.
        kinds: The kinds reported (all by default).
    """

    def __init__(
        self,
        *,
        hold_s: float = 2.0,
        learn_s: float = 5.0,
        relearn_s: float = 300.0,
        kinds: frozenset[TamperKind] = frozenset(TamperKind),
    ) -> None:
        self.hold_s, self.learn_s, self.relearn_s, self.kinds = hold_s, learn_s, relearn_s, kinds
        self._started: float | None = None
        self._sum: npt.NDArray[np.float64] | None = None
        self._count = 0
        self._view: npt.NDArray[np.float32] | None = None
        self._detail = self._contrast = self._brightness = self._sharpest = 0.0
        self._previous: npt.NDArray[np.float32] | None = None
        self._candidate = _Spell()
        self._clear_since: float | None = None
        self.state: TamperKind | None = None
        """The kind reported and not yet cleared (None: normal)."""
        self._state_since = 0.0
        self._follows = 0

    @staticmethod
    def _figures(gray: npt.NDArray[np.float32]) -> tuple[float, float, float]:
        """Detail, contrast and brightness."""
        detail = float(np.abs(np.diff(gray, axis=1)).mean())
        return detail, float(gray.std()), float(gray.mean())

    @staticmethod
    def _sharpness(gray: npt.NDArray[np.float32]) -> float:
        """The strength of the strongest edges (either direction)."""
        across = np.abs(np.diff(gray, axis=1))[:-1, :]
        down = np.abs(np.diff(gray, axis=0))[:, :-1]
        return float(np.percentile(np.maximum(across, down), SHARPEST_PERCENTILE))

    def update(self, gray: Gray, t: float) -> TamperReport | None:
        """Take one frame (grey, :data:`WIDTH` wide) at stream time ``t``; a report when a
        kind has just held for ``hold_s``."""
        frame = gray.astype(np.float32)
        unrest = (
            float(np.abs(frame - self._previous).mean())
            if self._previous is not None and self._previous.shape == frame.shape
            else 0.0
        )
        self._previous = frame
        if self._view is None or self._view.shape != frame.shape:
            self._learn(frame, t)
            return None
        detail, contrast, brightness = self._figures(frame)
        rel_detail = detail / max(self._detail, 1e-3)
        rel_contrast = contrast / max(self._contrast, 1e-3)
        # Only needed to tell a blurred lens from a plainer view (costs a partition).
        rel_sharpest = (
            self._sharpness(frame) / max(self._sharpest, 1e-3)
            if rel_detail < DEFOCUSED_DETAIL
            else 1.0
        )
        changed = np.abs(frame - self._view)
        difference = float(changed.mean())
        cells = _cells(changed)
        dark = brightness < DARK_LEVEL and brightness < DARK_SHARE * self._brightness
        kind = (
            TamperKind.DARK
            if dark
            else self._classify(rel_detail, rel_contrast, difference, cells, unrest, rel_sharpest)
        )
        report = self._hold(kind, t, rel_detail, rel_contrast, difference)
        if kind is None and self.state is None and unrest < MOVED_UNREST:
            self._follow(frame)
        if self.state is TamperKind.MOVED and t - self._state_since >= self.relearn_s:
            self._view = None  # the new view becomes the normal one
            self._started, self._sum, self._count, self.state = None, None, 0, None
        return report

    def _learn(self, frame: npt.NDArray[np.float32], t: float) -> None:
        if self._started is None or self._sum is None or self._sum.shape != frame.shape:
            self._started, self._sum, self._count = t, np.zeros(frame.shape), 0
        self._sum += frame
        self._count += 1
        if t - self._started >= self.learn_s and self._count >= 2:
            self._view = (self._sum / self._count).astype(np.float32)
            self._detail, self._contrast, self._brightness = self._figures(self._view)
            self._sharpest = self._sharpness(self._view)

    def _follow(self, frame: npt.NDArray[np.float32]) -> None:
        assert self._view is not None
        self._view += FOLLOW * (frame - self._view)
        detail, contrast, brightness = self._figures(frame)
        self._detail += FOLLOW * (detail - self._detail)
        self._contrast += FOLLOW * (contrast - self._contrast)
        self._brightness += FOLLOW * (brightness - self._brightness)
        if self._follows % SHARPEST_EVERY == 0:  # slow light changes: now and then is enough
            self._sharpest += SHARPEST_EVERY * FOLLOW * (self._sharpness(frame) - self._sharpest)
        self._follows += 1

    def _classify(
        self,
        detail: float,
        contrast: float,
        difference: float,
        cells: float,
        unrest: float,
        sharpest: float,
    ) -> TamperKind | None:
        if detail < COVERED_DETAIL and contrast < COVERED_CONTRAST:
            return TamperKind.COVERED
        settled = unrest < MOVED_UNREST
        if (
            difference > MOVED_DIFFERENCE
            and cells >= MOVED_CELLS
            and detail >= MOVED_DETAIL
            and settled
        ):
            return TamperKind.MOVED
        if (
            detail < DEFOCUSED_DETAIL
            and sharpest < DEFOCUSED_SHARPEST
            and contrast > DEFOCUSED_CONTRAST
            and difference < DEFOCUSED_DIFFERENCE
            and settled  # a hand moving close to the lens is not a blurred lens
        ):
            return TamperKind.DEFOCUSED
        return None

    def _hold(
        self,
        kind: TamperKind | None,
        t: float,
        detail: float,
        contrast: float,
        difference: float,
    ) -> TamperReport | None:
        if kind != self._candidate.kind:
            self._candidate = _Spell(kind, t)
        if self.state is not None:
            # Tampered: normal again once no kind has held for hold_s.
            if kind is None:
                self._clear_since = t if self._clear_since is None else self._clear_since
                if t - self._clear_since >= self.hold_s:
                    self.state, self._clear_since = None, None
            else:
                self._clear_since = None
            return None
        if kind is None or kind not in self.kinds or t - self._candidate.since < self.hold_s:
            return None
        self.state, self._state_since = kind, t
        return TamperReport(kind, self._candidate.since, detail, contrast, difference)


def _cells(changed: npt.NDArray[np.float32]) -> float:
    """The share of the GRID x GRID cells whose mean difference is over CELL_DIFFERENCE."""
    height, width = changed.shape
    h, w = height // GRID, width // GRID
    means = changed[: h * GRID, : w * GRID].reshape(GRID, h, GRID, w).mean(axis=(1, 3))
    return float((means > CELL_DIFFERENCE).mean())

"""Licence plate formats by country: which format a reading fits, and the reading corrected by
position (a letter where the format wants a digit: O -> 0, I -> 1, B -> 8...; and back).

A format is a list of layouts over normalised text (letters and digits only): ``L`` a letter,
``D`` a digit, ``A`` either. Only the formats a camera names are used to correct (a city knows
its country: "BG", "US-CA"); any format may name the country of a reading it fits unchanged.

Example:
    >>> fit("CA1234AB", countries=["BG"])
    PlateFit(text='CA1234AB', format='BG', fixes=0)
    >>> fit("CA12B4AB", countries=["BG"]).text
    'CA1284AB'
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

__all__ = ["FORMATS", "MAX_FIXES", "PlateFit", "fit", "known_countries", "region_of"]

MAX_FIXES = 2
"""Characters a named country's format may change in one reading (more: another plate)."""
GUESS_FIXES = 1
"""Characters changed in a reading that no series fits, when the camera names no country and
every format it nearly fits agrees on the change."""
GUESS_AGREEING = 2
"""Countries whose formats must agree on that change (one alone is too little evidence: a
plate of a country without formats here may be one change from it)."""

DIGIT_FOR = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "T": "7"}
DIGIT_FOR |= {"Z": "2", "S": "5", "G": "6", "B": "8", "A": "4"}
LETTER_FOR = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}


def _spans(*parts: tuple[str, int, int]) -> tuple[str, ...]:
    """Every layout of runs ``(kind, fewest, most)`` in order: ("L", 1, 2), ("D", 4, 4)..."""
    choices = [[kind * n for n in range(low, high + 1)] for kind, low, high in parts]
    return tuple("".join(p) for p in itertools.product(*choices))


FORMATS: dict[str, tuple[str, ...]] = {
    # Europe (current national series; separators and the EU band are not read)
    "BG": _spans(("L", 1, 2), ("D", 4, 4), ("L", 2, 2)),
    "IT": ("LLDDDLL",),
    "FR": ("LLDDDLL",),
    "SK": ("LLDDDLL",),
    "ES": ("DDDDLLL",),
    "PT": ("LLDDLL", "DDLLDD", "DDDDLL", "LLDDDD"),
    "GB": ("LLDDLLL",),
    "DE": _spans(("L", 2, 5), ("D", 1, 4)),
    "AT": _spans(("L", 1, 2), ("A", 3, 6)),
    "PL": _spans(("L", 2, 3), ("A", 4, 5)),
    "CZ": ("DLDDDDD", "DLLDDDD"),
    "RO": _spans(("L", 1, 2), ("D", 2, 3), ("L", 3, 3)),
    "GR": ("LLLDDDD",),
    "HU": ("LLLDDD", "LLLLDDD"),
    "NL": ("LLDDLL", "DDLLLD", "DLLLDD", "LLDDDL", "LDDDLL", "LLLDDL", "DLLDDD"),
    "HR": _spans(("L", 2, 2), ("D", 3, 4), ("L", 1, 2)),
    # United States (the common passenger series of the largest states)
    "US-CA": ("DLLLDDD",),
    "US-NY": ("LLLDDDD",),
    "US-TX": ("LLLDDDD",),
    "US-FL": ("LLLLDD", "LLLDLL"),
    "US-IL": ("LLDDDDD",),
    "US-PA": ("LLLDDDD",),
}
"""Layouts by country code (ISO 3166; US states as ``US-XX``)."""
LOOSE = frozenset({"AT", "PL"})
"""Series so free (letters or digits almost anywhere) that most readings fit them: used only
where a camera names them, never to name or correct a reading otherwise."""


@dataclass(frozen=True, slots=True)
class PlateFit:
    """A reading as a format reads it.

    Attributes:
        text: The reading, corrected by position where a named country's format wanted it.
        format: The country code whose format it fits, or several joined by "/" when no
            named country's does (None: none fits).
        fixes: Characters changed.
    """

    text: str
    format: str | None
    fixes: int


def known_countries() -> list[str]:
    """The country codes with formats."""
    return sorted(FORMATS)


def _fits(kind: str, char: str) -> bool:
    return kind == "A" or (kind == "L") == char.isalpha()


def _corrected(text: str, layout: str) -> tuple[str, int] | None:
    """The text made to fit the layout and how many characters that changed; None when a
    character cannot be read as the layout wants."""
    if len(text) != len(layout):
        return None
    out: list[str] = []
    fixes = 0
    for kind, char in zip(layout, text, strict=True):
        if _fits(kind, char):
            out.append(char)
            continue
        swap = (DIGIT_FOR if kind == "D" else LETTER_FOR).get(char)
        if swap is None:
            return None
        out.append(swap)
        fixes += 1
    return "".join(out), fixes


@cache
def _layouts(countries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((code, layout) for code in countries for layout in FORMATS[code])


def region_of(code: str) -> str:
    """The region of a country code: "US" for the states, else "EU"."""
    return "US" if code.startswith("US-") else "EU"


def fit(
    text: str, countries: Sequence[str] | Iterable[str] = (), *, region: str | None = "EU"
) -> PlateFit:
    """The reading as the formats read it.

    The named countries' formats correct it (the format needing the fewest changes wins, ties
    go to the country named first; at most :data:`MAX_FIXES`). Without one that fits, the
    countries whose formats it fits unchanged name it ("IT/FR/SK"), uncorrected; a reading
    that fits no series is corrected by one character when every format one change away
    agrees on that change (``PP587A0`` -> ``PP587AO``: a letter is wanted last everywhere).
    Naming and that correction look at the formats of ``region`` ("EU" or "US"; None: all).

    Raises:
        ValueError: A country has no formats here.
    """
    named = tuple(dict.fromkeys(countries))
    unknown = [c for c in named if c not in FORMATS]
    if unknown:
        raise ValueError(f"no plate formats for {', '.join(unknown)}; known: {known_countries()}")
    best: PlateFit | None = None
    for code, layout in _layouts(named):
        corrected = _corrected(text, layout)
        if corrected is None or corrected[1] > MAX_FIXES:
            continue
        if best is None or corrected[1] < best.fixes:
            best = PlateFit(corrected[0], code, corrected[1])
    if best is not None:
        return best
    if not any(c.isdigit() for c in text):
        return PlateFit(text, None, 0)  # a word (a vanity plate, a sign): no series says
    everywhere = _layouts(
        tuple(c for c in FORMATS if c not in LOOSE and (region is None or region_of(c) == region))
    )
    fitting = dict.fromkeys(
        code for code, layout in everywhere if _corrected(text, layout) == (text, 0)
    )
    if fitting:
        return PlateFit(text, "/".join(fitting), 0)
    # No series fits it as read: one change that every format it nearly fits agrees on
    # (a 0 where all of them want an O), formats of two countries at least, is made.
    near = [
        (code, c[0])
        for code, layout in everywhere
        if (c := _corrected(text, layout)) is not None and c[1] == GUESS_FIXES
    ]
    agreeing = {code for code, _ in near}
    if len(agreeing) >= GUESS_AGREEING and len({t for _, t in near}) == 1:
        return PlateFit(near[0][1], "/".join(dict.fromkeys(c for c, _ in near)), GUESS_FIXES)
    return PlateFit(text, None, 0)

"""Licence plate texts: how a reading is normalised and which readings are the same plate.

Pure (no OCR): the plate reader (``analytics.plates``), the registers of wanted vehicles
(``store.registers``) and search all compare plates the same way.
"""

from __future__ import annotations

import re

__all__ = [
    "CONFUSABLE",
    "MAX_CONFUSIONS",
    "confusable_variants",
    "normalise_plate",
    "plate_pattern",
    "plates_match",
]

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")
_NOT_ALNUM_OR_WILDCARD = re.compile(r"[^A-Z0-9*?]")

# Characters OCR mixes up on plates: each pair reads as one confusion in `plates_match`.
CONFUSABLE: frozenset[frozenset[str]] = frozenset(
    frozenset(p)
    for p in (
        "0O",
        "0D",
        "0Q",
        "OD",
        "OQ",
        "1I",
        "1L",
        "IL",
        "1T",
        "8B",
        "5S",
        "2Z",
        "6G",
        "4A",
        "7T",
        "UV",
        "MN",
    )
)
MAX_CONFUSIONS = 1


def normalise_plate(text: str) -> str:
    """Uppercase letters and digits only (spaces, dashes, dots and stray marks removed).

    Example:
        >>> normalise_plate(" ab-123 cd")
        'AB123CD'
    """
    return _NOT_ALNUM.sub("", text.upper())


def plates_match(a: str, b: str) -> bool:
    """Whether two plate readings are the same plate, allowing `MAX_CONFUSIONS` OCR confusion
    (0/O, 1/I, 8/B, 5/S, 2/Z, ...; `CONFUSABLE`). Spaces, dashes and case do not count.

    Example:
        >>> plates_match("AB 123 CD", "ab123cd"), plates_match("AB123CD", "A8123CD")
        (True, True)
        >>> plates_match("AB123CD", "AB124CD")
        False
    """
    na, nb = normalise_plate(a), normalise_plate(b)
    if not na or len(na) != len(nb):
        return False
    differences = [(x, y) for x, y in zip(na, nb, strict=True) if x != y]
    return len(differences) <= MAX_CONFUSIONS and all(
        frozenset(d) in CONFUSABLE for d in differences
    )


def confusable_variants(text: str) -> set[str]:
    """The normalised text and every text one OCR confusion away from it (the readings
    :func:`plates_match` takes for it), for looking a plate up by key.

    Example:
        >>> sorted(confusable_variants("AB1"))
        ['4B1', 'A81', 'AB1', 'ABI', 'ABL', 'ABT']
    """
    plate = normalise_plate(text)
    found = {plate} if plate else set()
    for i, char in enumerate(plate):
        for pair in CONFUSABLE:
            if char in pair:
                (other,) = pair - {char}
                found.add(plate[:i] + other + plate[i + 1 :])
    return found


def plate_pattern(query: str) -> str | None:
    """A plate search with wildcards (``*`` any characters, ``?`` one) as a SQL LIKE pattern
    over normalised plates; None when the query has no wildcard (an exact plate).

    Example:
        >>> plate_pattern("ca 12*"), plate_pattern("C?1234AB"), plate_pattern("CA1234AB")
        ('CA12%', 'C_1234AB', None)
    """
    if "*" not in query and "?" not in query:
        return None
    kept = _NOT_ALNUM_OR_WILDCARD.sub("", query.upper())
    return kept.replace("*", "%").replace("?", "_")

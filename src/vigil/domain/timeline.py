"""The recorded timeline of a camera: ranges where video exists, and gaps between them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# Segments closer than this are one continuous range. Consecutive segments of one stream
# meet exactly (the cut is a keyframe), so anything larger is a real absence of video.
CONTINUITY_TOLERANCE = timedelta(seconds=0.02)


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open interval of wall-clock time."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Timeline:
    """Recorded ranges and the gaps between them, within a window."""

    ranges: list[Span]
    gaps: list[Span]


def build_timeline(
    spans: Iterable[Span], *, tolerance: timedelta = CONTINUITY_TOLERANCE
) -> Timeline:
    """Merge recorded spans (segments) into ranges; what lies between them is a gap.

    >>> from datetime import UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> s = lambda a, b: Span(t0 + timedelta(seconds=a), t0 + timedelta(seconds=b))
    >>> tl = build_timeline([s(0, 10), s(10, 20), s(30, 40)])
    >>> [(r.start.second, r.end.second) for r in tl.ranges]
    [(0, 20), (30, 40)]
    >>> [(g.start.second, g.end.second) for g in tl.gaps]
    [(20, 30)]
    """
    ranges: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if ranges and span.start - ranges[-1].end <= tolerance:
            last = ranges[-1]
            ranges[-1] = Span(last.start, max(last.end, span.end))
        else:
            ranges.append(span)
    gaps = [Span(a.end, b.start) for a, b in itertools.pairwise(ranges)]
    return Timeline(ranges=ranges, gaps=gaps)

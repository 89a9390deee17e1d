"""Where reading a site's alarms or events resumes: the (time, id) of the last row read.

A site stamps rows when it writes them, but a transaction stamped earlier may commit
later; each pass therefore starts :data:`OVERLAP` before the cursor and stores what it
reads again idempotently (by global id), so a late commit is never skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

OVERLAP = timedelta(seconds=10)


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    """A position in a site's rows, ordered by (time, id)."""

    at: datetime
    id: str

    def encode(self) -> str:
        """The cursor as the API and the ``sites`` table carry it."""
        return f"{self.at.astimezone(UTC).isoformat()}|{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """A cursor from :meth:`encode`; ValueError when it is not one."""
        at, sep, row_id = text.partition("|")
        if not sep:
            raise ValueError(f"cursor {text!r} is not '<ISO time>|<id>'")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError(f"cursor {text!r} needs a timezone")
        return cls(when.astimezone(UTC), row_id)

    def rewound(self) -> Cursor:
        """Where the next pass starts: :data:`OVERLAP` earlier, before every id."""
        return Cursor(self.at - OVERLAP, "")


def resume_from(stored: str | None) -> Cursor | None:
    """Where a pass starts from a stored cursor (None: from the beginning)."""
    return Cursor.decode(stored).rewound() if stored else None


def later(a: str | None, b: Cursor | None) -> str | None:
    """The further of a stored cursor and one read now, encoded: a pass that read
    only the overlap never moves the cursor back."""
    if b is None:
        return a
    if a is None or Cursor.decode(a) < b:
        return b.encode()
    return a

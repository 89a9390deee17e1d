"""Cursors of a site's feeds: encoded and decoded, rewound for late commits, never moved
back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.federation.cursor import OVERLAP, Cursor, later, resume_from

T = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_cursor_survives_encoding() -> None:
    cursor = Cursor(T, "000000000042")
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["2026-12-06T12:00:00+00:00", "2026-12-06T12:00:00|1", "x|1"])
def test_a_malformed_cursor_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"cursor|Invalid isoformat"):
        Cursor.decode(text)


def test_a_pass_starts_before_the_stored_cursor_to_catch_late_commits() -> None:
    start = resume_from(Cursor(T, "000000000042").encode())
    assert start == Cursor(T - OVERLAP, "")
    assert resume_from(None) is None


def test_the_cursor_only_moves_forward() -> None:
    stored = Cursor(T, "b").encode()
    assert later(stored, Cursor(T, "a")) == stored  # a page read inside the overlap
    assert later(stored, Cursor(T, "c")) == Cursor(T, "c").encode()
    assert later(None, Cursor(T, "a")) == Cursor(T, "a").encode()
    assert later(stored, None) == stored

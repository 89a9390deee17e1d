"""Camera rules: URLs, credentials, and how far a health report is trusted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.domain.cameras import (
    HEALTH_STALE_AFTER,
    check_stream_url,
    redact,
    reported_status,
    with_credentials,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://10.0.0.7:554/s1",
        "http://cam.local/video.mjpg",
        "file:///srv/clip.mp4",
        "rtsps://h/x",
    ],
)
def test_supported_urls_pass(url: str) -> None:
    assert check_stream_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://h/x", "unsupported URL scheme"),
        ("rtsp:///x", "no host"),
        ("file://", "needs a path"),
        ("rtsp://admin:pw@h/x", "credentials"),
        ("just words", "unsupported URL scheme"),
    ],
)
def test_bad_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_stream_url(url)


def test_credentials_are_quoted_into_the_url_and_redacted_from_text() -> None:
    url = with_credentials("rtsp://h:554/s", "op@x", "p:w/d")
    assert url == "rtsp://op%40x:p%3Aw%2Fd@h:554/s"
    assert (
        redact(f"failed to open {url}", "op@x", "p:w/d") == "failed to open rtsp://***:***@h:554/s"
    )
    assert with_credentials("rtsp://h/s", None, "ignored") == "rtsp://h/s"


@pytest.mark.parametrize(
    ("status", "age", "expected", "why"),
    [
        ("online", timedelta(seconds=2), "online", False),
        ("online", HEALTH_STALE_AFTER + timedelta(seconds=1), "offline", True),
        ("offline", HEALTH_STALE_AFTER * 2, "offline", True),
        ("disabled", timedelta(days=1), "disabled", False),
    ],
)
def test_stale_reports_are_not_trusted(
    status: str, age: timedelta, expected: str, why: bool
) -> None:
    result, reason = reported_status(status, NOW - age, "rec-1", NOW)
    assert result == expected
    assert (reason is not None) == why
    if reason:
        assert "recorder rec-1 has not reported since" in reason

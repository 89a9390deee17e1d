"""TOTP: provisioning URI, one step of drift, no replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp

from vigil.security import totp

NOW = datetime(2027, 3, 1, 12, 0, 10, tzinfo=UTC)


def test_provisioning_uri() -> None:
    secret = totp.new_secret()
    uri = urlparse(totp.provisioning_uri(secret, "alice"))
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Vigil"]
    assert "alice" in uri.path


def test_window_of_one_step() -> None:
    secret = totp.new_secret()
    step = timedelta(seconds=30)
    now_counter = pyotp.TOTP(secret).timecode(NOW)
    cases = ((-step, now_counter - 1), (0 * step, now_counter), (step, now_counter + 1))
    for shift, expected in cases:
        code = totp.current_code(secret, NOW + shift)
        assert totp.verify(secret, code, last_counter=None, at=NOW) == expected
    for shift in (-2 * step, 2 * step):
        code = totp.current_code(secret, NOW + shift)
        assert totp.verify(secret, code, last_counter=None, at=NOW) is None


def test_replay_and_older_codes_refused() -> None:
    secret = totp.new_secret()
    code = totp.current_code(secret, NOW)
    counter = totp.verify(secret, code, last_counter=None, at=NOW)
    assert counter is not None
    assert totp.verify(secret, code, last_counter=counter, at=NOW) is None
    previous = totp.current_code(secret, NOW - timedelta(seconds=30))
    assert totp.verify(secret, previous, last_counter=counter, at=NOW) is None
    following = totp.current_code(secret, NOW + timedelta(seconds=30))
    assert totp.verify(secret, following, last_counter=counter, at=NOW) == counter + 1


def test_garbage_codes() -> None:
    secret = totp.new_secret()
    for code in ("", "abcdef", "12345", "1234567", "12 34 5x"):
        assert totp.verify(secret, code, last_counter=None, at=NOW) is None
    spaced = totp.current_code(secret, NOW)
    assert totp.verify(secret, f"{spaced[:3]} {spaced[3:]}", last_counter=None, at=NOW)

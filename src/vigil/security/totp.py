"""TOTP second factor (RFC 6238, pyotp): secrets, provisioning URIs, and verification that
accepts one time step of clock drift and never the same code twice."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

ISSUER = "Vigil"
WINDOW = 1  # time steps either side of now: phones drift


def new_secret() -> str:
    """A random base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://`` URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def current_code(secret: str, at: datetime | None = None) -> str:
    """The code for a moment (for tests and for showing during setup)."""
    totp = pyotp.TOTP(secret)
    return totp.at(at) if at is not None else totp.now()


def verify(secret: str, code: str, *, last_counter: int | None, at: datetime) -> int | None:
    """Check a code.

    Args:
        secret: the user's base32 secret.
        code: what was typed (spaces ignored).
        last_counter: the time step of the last accepted code, or None.
        at: now.

    Returns:
        The time step the code belongs to (store it as ``last_counter``), or None when the
        code is wrong, outside the window, or was already used (a replay).
    """
    code = code.replace(" ", "")
    if not (code.isascii() and code.isdigit()):  # "١٢٣٤٥٦" is digits too, but not a code
        return None
    totp = pyotp.TOTP(secret)
    now_counter = totp.timecode(at)
    for offset in sorted(range(-WINDOW, WINDOW + 1), key=abs):
        if hmac.compare_digest(totp.at(at, counter_offset=offset), code):
            counter = now_counter + offset
            if last_counter is not None and counter <= last_counter:
                return None
            return counter
    return None

"""Passwords: argon2id hashes (argon2-cffi), rehash when parameters change, and the policy.

Example:
    >>> stored = hash_password("correct horse battery")
    >>> verify_password(stored, "correct horse battery")
    (True, None)
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing cost must not be the caller's choice

# RFC 9106's second recommendation (argon2id, t=3, 64 MiB, p=4): ~0.1 s a hash here, and
# no more memory per login than a small server can afford.
HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)

# Passwords of 12 characters or more that appear at the top of public breach lists; the
# policy refuses them and anything made only of one of them repeated or with digits added.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678910",
        "qwertyuiop123",
        "qwertyuiopasdf",
        "qwerty123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "administrator",
        "administrator1",
        "admin1234567",
        "adminadmin123",
        "changeme1234",
        "letmein12345",
        "welcome12345",
        "iloveyou1234",
        "sunshine1234",
        "football1234",
        "baseball1234",
        "trustno1trustno1",
        "abcdefghijkl",
        "abc123456789",
        "aaaaaaaaaaaa",
        "111111111111",
        "000000000000",
        "monkey123456",
        "dragon123456",
        "superman1234",
        "princess1234",
        "computer1234",
        "starwars1234",
        "vigilvigil12",
        "passw0rd1234",
        "p@ssw0rd1234",
        "correcthorsebatterystaple",
    }
)

# One hash to verify against when the user does not exist, so that the answer takes as
# long as for a real user and does not reveal which usernames exist.
_DUMMY_HASH = HASHER.hash("no user has this password, it only costs the same time")


class WeakPassword(ValueError):
    """A password the policy refuses; the message says why and what to do."""


def check_policy(password: str, username: str) -> None:
    """Refuse passwords that are short, the username, or common.

    Raises:
        WeakPassword: with the reason.
    """
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password may have at most {MAX_LENGTH} characters")
    folded = password.casefold()
    name = username.casefold()
    if name and (folded == name or folded.rstrip("0123456789!") == name):
        raise WeakPassword("the password must not be the username")
    if folded in COMMON_PASSWORDS or folded.rstrip("0123456789!") in COMMON_PASSWORDS:
        raise WeakPassword("this password is too common: choose another")
    if len(set(folded)) < 4:
        raise WeakPassword("the password repeats too few characters: choose another")


def hash_password(password: str) -> str:
    """An argon2id hash (PHC string with its parameters and salt) for storage."""
    return HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """Check a password against a stored hash.

    Args:
        stored: the stored hash, or None for an unknown user (still costs one hash).
        password: what was typed.

    Returns:
        ``(ok, new_hash)``: ``new_hash`` is set when the password is right but the stored
        hash used other parameters: store it instead.
    """
    if len(password) > MAX_LENGTH:
        return False, None
    try:
        HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if stored is None:
        return False, None
    return True, (HASHER.hash(password) if HASHER.check_needs_rehash(stored) else None)

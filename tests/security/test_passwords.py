"""Passwords: argon2id, rehash on new parameters, the policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from vigil.security import passwords
from vigil.security.passwords import WeakPassword, check_policy, hash_password, verify_password


def test_hash_is_argon2id_with_salt_and_verifies() -> None:
    a, b = hash_password("a long enough secret"), hash_password("a long enough secret")
    assert a.startswith("$argon2id$") and "m=65536,t=3,p=4" in a
    assert a != b, "each hash has its own salt"
    assert verify_password(a, "a long enough secret") == (True, None)
    assert verify_password(a, "a long enough secreT") == (False, None)
    assert verify_password(None, "a long enough secret") == (False, None)
    assert verify_password("not a hash", "x") == (False, None)


def test_old_parameters_are_rehashed_on_success() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("another secret!")
    ok, new_hash = verify_password(old, "another secret!")
    assert ok and new_hash is not None and new_hash.startswith("$argon2id$")
    assert passwords.HASHER.check_needs_rehash(new_hash) is False
    assert verify_password(old, "wrong") == (False, None)


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("short", "alice", "at least 12"),
        ("alice-wonder", "alice-wonder", "not be the username"),
        ("Alice-Wonder1", "alice-wonder", "not be the username"),
        ("password1234", "bob", "too common"),
        ("Password12345", "bob", "too common"),
        ("qwertyuiop123", "bob", "too common"),
        ("abababababab", "bob", "too few"),
        ("x" * 1025, "bob", "at most"),
    ],
)
def test_policy_refuses(password: str, username: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check_policy(password, username)


@pytest.mark.parametrize("password", ["blue lantern 42 under", "Tr0ub4dor&3-horse", "x7#kQ9!mW2$p"])
def test_policy_accepts(password: str) -> None:
    check_policy(password, "alice")

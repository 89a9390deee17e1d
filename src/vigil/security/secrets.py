"""Secrets at rest (camera passwords): Fernet with a key kept beside the data, or given."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

KEY_FILE = "secret.key"


def installation_secret(path: Path, generate: Callable[[], bytes]) -> bytes:
    """A secret kept in a file of the data directory, created (mode 0600) on first use.

    When two roles of an installation start together, one creates it and both read it.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another role of this installation made it first
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(generate())
    for _ in range(100):  # the other role may be between creating and writing it
        if secret := path.read_bytes().strip():
            return secret
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it and restart the server and recorders")


def private_pem(key: PrivateKeyTypes) -> bytes:
    """A private key as unencrypted PKCS#8 PEM, for :func:`installation_secret`'s file."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class SecretBox:
    """Encrypts and decrypts short secrets with one installation key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        """The installation's box: ``VIGIL_SECRET_KEY`` if set, else a key file that is
        created (mode 0600) on first use."""
        env_key = os.environ.get("VIGIL_SECRET_KEY")
        if env_key:
            return cls(env_key.encode())
        return cls(installation_secret(data_dir / KEY_FILE, Fernet.generate_key))

    def encrypt(self, plain: str) -> str:
        """Encrypt a secret for storage."""
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a stored secret; a wrong key is a clear error."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "cannot decrypt a stored secret: the installation key changed "
                f"(check VIGIL_SECRET_KEY or {KEY_FILE} in the data directory)"
            ) from exc

"""The installation's service token: how a recorder proves to the server (bus hub) and the
server proves to a recorder (live relay, snapshots) that it belongs to this installation.

It is not a user: it opens only the internal paths (``/api/internal/...`` and the
recorder's ``/media/...``). On one machine both processes read it from the data directory;
a recorder on another machine is given it in ``VIGIL_INTERNAL_TOKEN``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from vigil.security.secrets import installation_secret

TOKEN_FILE = "internal.token"
ENV_VAR = "VIGIL_INTERNAL_TOKEN"


def service_token(data_dir: Path) -> str:
    """The installation's token: ``VIGIL_INTERNAL_TOKEN`` if set, else a file in the data
    directory created (mode 0600) on first use."""
    if env := os.environ.get(ENV_VAR, "").strip():
        return env
    return installation_secret(
        data_dir / TOKEN_FILE, lambda: secrets.token_urlsafe(32).encode()
    ).decode()


def service_headers(data_dir: Path) -> dict[str, str]:
    """Headers that authenticate this process to the other side of the installation."""
    return {"Authorization": f"Bearer {service_token(data_dir)}"}


def is_service_token(presented: str | None, data_dir: Path) -> bool:
    """Whether a bearer value is this installation's service token (constant time)."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), service_token(data_dir).encode())

"""Cameras: what a video source is and how its URLs are checked."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, urlsplit, urlunsplit

SUPPORTED_SCHEMES = ("rtsp", "rtsps", "http", "https", "file")
NAME_MAX = 120


class CameraStatus(StrEnum):
    """Where a camera's ingest stands, as the recorder sees it."""

    # Until the first frame arrives (or the connect timeout passes without one).
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"
    STORAGE_FULL = "storage_full"


class CameraProblem(StrEnum):
    """Why a camera that is not online is not, in the three kinds a user can act on: check
    the network or the camera's power, correct its credentials, or change its stream."""

    UNREACHABLE = "unreachable"
    WRONG_CREDENTIALS = "wrong_credentials"
    UNSUPPORTED = "unsupported"


# How the ingest's errors of the last two kinds begin (translated once, where they arise);
# any other error of a camera that is not online means it cannot be reached.
WRONG_CREDENTIALS = "wrong credentials"
UNSUPPORTED = "unsupported"


def problem_of(status: str, last_error: str | None) -> CameraProblem | None:
    """The kind of a camera's problem from its health (None: no problem to act on).

    >>> problem_of("offline", "wrong credentials: the camera refused them (401)")
    <CameraProblem.WRONG_CREDENTIALS: 'wrong_credentials'>
    >>> problem_of("connecting", "cannot open stream: Connection refused")
    <CameraProblem.UNREACHABLE: 'unreachable'>
    >>> problem_of("online", None) is None
    True
    """
    if status not in (CameraStatus.OFFLINE, CameraStatus.CONNECTING) or not last_error:
        return None
    if last_error.startswith(WRONG_CREDENTIALS):
        return CameraProblem.WRONG_CREDENTIALS
    if last_error.startswith(UNSUPPORTED):
        return CameraProblem.UNSUPPORTED
    return CameraProblem.UNREACHABLE


class RecordingMode(StrEnum):
    """What a camera's recording keeps."""

    CONTINUOUS = "continuous"
    # Only footage that recording requests cover (rules' "record" action), plus a pre-buffer.
    EVENTS = "events"


# Recorders report every few seconds; a report older than this means the node is gone.
HEALTH_STALE_AFTER = timedelta(seconds=15)


def reported_status(
    status: str, reported_at: datetime, node: str, now: datetime
) -> tuple[str, str | None]:
    """A camera's status as reported, unless the report is too old to trust.

    Returns the status and, for a stale report, why it is offline.
    """
    if now - reported_at <= HEALTH_STALE_AFTER or status == CameraStatus.DISABLED:
        return status, None
    return (
        CameraStatus.OFFLINE.value,
        f"recorder {node} has not reported since {reported_at:%Y-%m-%d %H:%M:%S} UTC",
    )


def check_stream_url(url: str) -> str:
    """Return the URL if Vigil can read it, else raise ValueError saying why.

    >>> check_stream_url("rtsp://10.0.0.7:554/stream1")
    'rtsp://10.0.0.7:554/stream1'
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in SUPPORTED_SCHEMES:
        raise ValueError(
            f"unsupported URL scheme {parts.scheme!r}: use one of {', '.join(SUPPORTED_SCHEMES)}"
        )
    if parts.scheme != "file" and not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.scheme == "file" and not parts.path:
        raise ValueError("a file URL needs a path")
    if parts.username or parts.password:
        raise ValueError("put credentials in 'username' and 'password', not in the URL")
    return urlunsplit(parts)


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """The URL with credentials inserted, for opening the stream only; never log it."""
    if not username:
        return url
    parts = urlsplit(url)
    auth = quote(username, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    netloc = f"{auth}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def redact(text: str, *secrets: str | None) -> str:
    """Replace every given secret in text (an error message, say) with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text

"""A camera that refuses Vigil's credentials: the health says so in words the user can act
on, and the camera is asked a few times, not forever (many cameras lock an account that
keeps failing)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import wait_until
from tests.rtsp_refusing import RefusingCamera, refusing_camera
from vigil.domain.cameras import CameraProblem, CameraStatus, problem_of
from vigil.media.ingest import CREDENTIAL_ATTEMPTS, CameraIngest


@pytest.fixture
def camera() -> Iterator[RefusingCamera]:
    with refusing_camera() as refusing:
        yield refusing


@pytest.mark.parametrize("credentials", [True, False])
def test_refused_credentials_are_named_and_not_retried_forever(
    camera: RefusingCamera, credentials: bool
) -> None:
    url = camera.url.replace("rtsp://", "rtsp://admin:wrong@") if credentials else camera.url
    statuses: list[tuple[CameraStatus, str | None]] = []
    ingest = CameraIngest(
        7,
        url,
        [],
        secrets=["wrong"],
        on_status=lambda s, e: statuses.append((s, e)),
        reconnect_min_s=0.05,
        reconnect_max_s=0.1,
    )
    ingest.start()
    try:
        wait_until(lambda: ingest.stats.state == CameraStatus.OFFLINE, 20, "the camera given up on")
        time.sleep(0.5)  # longer than the backoff: another attempt would have come by now
        assert camera.connections == CREDENTIAL_ATTEMPTS
        error = ingest.stats.last_error or ""
        assert error.startswith("wrong credentials: "), error
        assert ("the user name and password" if credentials else "no credentials") in error
        assert "not tried again until the camera's settings change" in error
        assert "wrong" not in error.removeprefix("wrong credentials"), "the password is never shown"
        assert problem_of(CameraStatus.OFFLINE, error) == CameraProblem.WRONG_CREDENTIALS
        assert bool(camera.authorizations) == credentials, "credentials sent when given"
        assert statuses[0][0] == CameraStatus.CONNECTING and statuses[-1][0] == CameraStatus.OFFLINE
    finally:
        ingest.stop()
    assert ingest.stats.state == CameraStatus.DISABLED

"""Real sites for federation tests: a site's server on HTTPS with its generated certificate
(``TlsStack``), a centre (a plain ``Stack``), and what a site's administrator gives the
centre (``site_token``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Stack
from vigil.security.tls import CERT_FILE, TLS_DIR, fingerprint


class TlsStack(Stack):
    """A site: server (HTTPS, generated certificate) and recorder."""

    def __init__(self, data_dir: Path, site: str) -> None:
        data_dir.mkdir(parents=True)
        super().__init__(
            data_dir,
            f"sqlite:///{data_dir / 'vigil.db'}",
            env={"VIGIL_SERVER__TLS": "on", "VIGIL_SITE": site},
        )
        self.url = self.url.replace("http://", "https://")
        self.client.close()
        self.client = httpx.Client(base_url=self.url, timeout=20, verify=False)  # test's view

    def _ok(self, url: str) -> bool:
        try:
            return httpx.get(url, timeout=1, verify=False).is_success
        except httpx.HTTPError:
            return False

    @property
    def certificate(self) -> str:
        return (self.data_dir / TLS_DIR / CERT_FILE).read_text()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate.encode())

    def door_rules(self, count: int) -> None:
        """Rules raising one alarm per webhook ``door-N`` (one rule each: a rule's open
        alarm would count a repeat instead of raising another)."""
        for n in range(count):
            rule = {
                "name": f"door {n}",
                "trigger": {"kind": "input", "source": "webhook", "name": f"door-{n}"},
                "actions": [{"type": "raise_alarm", "priority": 2, "title": f"door {n} forced"}],
            }
            r = self.client.post("/api/rules", json=rule)
            assert r.status_code == 201, r.text

    def raise_door(self, n: int, camera_id: int | None = None) -> None:
        params = {"camera_id": camera_id} if camera_id is not None else {}
        r = self.client.post(f"/api/inputs/webhook/door-{n}", json={"n": n}, params=params)
        assert r.status_code == 202, r.text

    def alarms(self) -> list[dict[str, Any]]:
        r = self.client.get("/api/alarms", params={"state": "all", "limit": 1000})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


def centre_stack(data: Path) -> Stack:
    """A centre (not started) that asks its sites often."""
    data.mkdir()
    return Stack(
        data,
        f"sqlite:///{data / 'vigil.db'}",
        env={"VIGIL_SITE": "centre", "VIGIL_FEDERATION__POLL_S": "0.5"},
    )


def site_token(site: Stack) -> str:
    """A token the site's administrator issues for the centre."""
    r = site.client.post("/api/tokens", json={"name": "centre link"})
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def site_state(centre: Stack, name: str) -> dict[str, Any]:
    found = [s for s in centre.client.get("/api/sites").json() if s["name"] == name]
    assert found, f"site {name} not registered"
    return found[0]

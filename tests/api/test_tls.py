"""HTTPS: the generated certificate (names, reuse, renewal, file modes), the TLS mode, the
server answering over HTTPS, the recorder's bus link and the CLI over it, Secure cookies."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import ssl
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from pydantic import ValidationError
from websockets.sync.client import connect as ws_connect

from tests.conftest import ADMIN_PASSWORD, Stack, wait_until
from vigil import cli
from vigil.api.app import create_app
from vigil.bus.hub import HubBus
from vigil.config import AuthSettings, ServerSettings, Settings
from vigil.domain.messages import CameraStatusChanged
from vigil.security import bootstrap
from vigil.security.service_token import service_token
from vigil.security.tls import (
    CERT_FILE,
    KEY_FILE,
    RENEW_BEFORE,
    VALIDITY,
    TlsError,
    certificate_names,
    client_ssl_context,
    ensure_self_signed,
    generate_self_signed,
    server_certificate,
    tls_dir,
)
from vigil.store.db import Database

NAMES = ["localhost", "127.0.0.1", "::1", "vigil.example.org", "192.0.2.7"]


def _sans(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """A TLS handshake between two contexts in memory; raises what the client refuses."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_end = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    server_end = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client_end), ("server", server_end)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


# The certificate ---------------------------------------------------------------------------
def test_generated_certificate_names_the_server_and_is_private(tmp_path: Path) -> None:
    files = ensure_self_signed(tmp_path / "tls", NAMES)
    assert files.generated and files.cert.name == CERT_FILE and files.key.name == KEY_FILE
    assert _sans(files.cert) == {"localhost", "127.0.0.1", "::1", "vigil.example.org", "192.0.2.7"}
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "192.0.2.7")
    ]
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert cert.issuer == cert.subject  # self-signed
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert VALIDITY <= life <= VALIDITY + timedelta(hours=2)
    assert _mode(files.cert) == 0o600 and _mode(files.key) == 0o600
    assert _mode(tmp_path / "tls") == 0o700


def test_generated_certificate_is_reused_then_renewed(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    first = ensure_self_signed(folder, NAMES)
    pem = first.cert.read_bytes()
    assert ensure_self_signed(folder, NAMES).cert.read_bytes() == pem, "reused across restarts"
    # A subset of the names is still covered: reused.
    assert ensure_self_signed(folder, NAMES[:3]).cert.read_bytes() == pem
    # A new name the server is reached by: made anew, naming it.
    ensure_self_signed(folder, [*NAMES, "cams.example.org"])
    assert "cams.example.org" in _sans(folder / CERT_FILE)
    pem = (folder / CERT_FILE).read_bytes()
    # Close to its end: renewed, valid from "now" on.
    later = datetime.now(UTC) + VALIDITY - RENEW_BEFORE + timedelta(days=1)
    ensure_self_signed(folder, NAMES, now=later)
    renewed = x509.load_pem_x509_certificate((folder / CERT_FILE).read_bytes())
    assert renewed.not_valid_after_utc > later + VALIDITY - timedelta(days=1)
    assert (folder / CERT_FILE).read_bytes() != pem
    # A key that does not belong to the certificate (a half-copied backup): made anew.
    _, other_key = generate_self_signed(["localhost"], datetime.now(UTC))
    (folder / KEY_FILE).write_bytes(other_key)
    pem = (folder / CERT_FILE).read_bytes()
    files = ensure_self_signed(folder, NAMES)
    assert files.cert.read_bytes() != pem
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.cert, files.key)


def test_names_for_loopback_wildcard_and_extra_hosts() -> None:
    loopback = certificate_names(ServerSettings())
    assert loopback == ["localhost", "127.0.0.1", "::1"]
    wildcard = certificate_names(
        ServerSettings(host="0.0.0.0", tls_hostnames=["vigil.lan", "[2001:db8::5]", "LOCALHOST"])
    )
    assert wildcard[:3] == ["localhost", "127.0.0.1", "::1"]
    assert wildcard[3] == socket.gethostname()
    assert wildcard[4:] == ["vigil.lan", "2001:db8::5"]
    assert certificate_names(ServerSettings(host="192.0.2.10"))[3] == "192.0.2.10"


@pytest.mark.parametrize(
    ("server", "url"),
    [
        (ServerSettings(), "http://127.0.0.1:8080"),
        (ServerSettings(host="localhost"), "http://localhost:8080"),
        (ServerSettings(host="::1", port=9000), "http://[::1]:9000"),
        (ServerSettings(host="127.0.0.5", tls="on"), "https://127.0.0.5:8080"),
        (ServerSettings(host="0.0.0.0"), "https://127.0.0.1:8080"),
        (ServerSettings(host="::"), "https://[::1]:8080"),
        (ServerSettings(host="192.0.2.10"), "https://192.0.2.10:8080"),
        (ServerSettings(host="cams.example.org"), "https://cams.example.org:8080"),
        (ServerSettings(host="0.0.0.0", tls="off"), "http://127.0.0.1:8080"),
        (ServerSettings(tls_cert=Path("c.pem"), tls_key=Path("k.pem")), "https://127.0.0.1:8080"),
    ],
)
def test_tls_mode_decides_the_server_url(server: ServerSettings, url: str) -> None:
    assert Settings(server=server).server_url == url


def test_tls_mode_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_SERVER__TLS", "on")
    monkeypatch.setenv("VIGIL_SERVER__TLS_HOSTNAMES", '["vigil.lan"]')
    settings = Settings()
    assert settings.server.uses_tls and settings.server.tls_hostnames == ["vigil.lan"]
    monkeypatch.setenv("VIGIL_SERVER__TLS", "sometimes")
    with pytest.raises(ValidationError, match=r"server\.tls"):
        Settings()


def test_given_certificate_is_used_and_checked(tmp_path: Path) -> None:
    cert_pem, key_pem = generate_self_signed(["vigil.example.org"], datetime.now(UTC))
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    given = ServerSettings(tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem")
    settings = Settings(data_dir=tmp_path / "data", server=given)
    files = server_certificate(settings)
    assert files is not None and not files.generated and files.cert == tmp_path / "c.pem"
    assert not tls_dir(settings.data_dir).exists(), "nothing generated beside a given one"
    # The installation's clients trust it (self-signed here) without any CA; others do not.
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(files.cert, files.key)
    _handshake(served, client_ssl_context(settings), "vigil.example.org")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(served, ssl.create_default_context(), "vigil.example.org")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _handshake(served, client_ssl_context(settings), "other.example.org")

    missing = Settings(server=ServerSettings(tls_cert=tmp_path / "nope.pem", tls_key=given.tls_key))
    with pytest.raises(TlsError, match=r"nope\.pem"):
        server_certificate(missing)
    with pytest.raises(ValidationError, match=r"tls_cert and server\.tls_key"):
        ServerSettings(tls_cert=tmp_path / "c.pem")


def test_plain_http_on_loopback_makes_no_certificate(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert server_certificate(settings) is None
    assert not tls_dir(tmp_path).exists()


# Cookies -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("base_url", "secure"), [("http://t", False), ("https://t", True)])
def test_session_cookies_are_secure_over_https(tmp_path: Path, base_url: str, secure: bool) -> None:
    # cookie_secure off (a plain-HTTP setup): HTTPS still makes them Secure.
    settings = Settings(data_dir=tmp_path, auth=AuthSettings(cookie_secure=False))
    with TestClient(create_app(settings), base_url=base_url) as client:
        db = Database(settings.db_url)
        bootstrap.create_admin(db, username="admin", password=ADMIN_PASSWORD)
        db.dispose()
        r = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        cookies = r.headers.get_list("set-cookie")
        assert len(cookies) == 2
        assert all(("; secure" in c.lower()) is secure for c in cookies), cookies


# A real server over HTTPS ------------------------------------------------------------------
class TlsStack(Stack):
    """Server (HTTPS with its generated certificate) and recorder as real processes."""

    def __init__(self, data_dir: Path) -> None:
        env = {
            "VIGIL_SERVER__TLS": "on",
            "VIGIL_SERVER__TLS_HOSTNAMES": '["vigil.test"]',
            "VIGIL_AUTH__COOKIE_SECURE": "false",
        }
        super().__init__(data_dir, f"sqlite:///{data_dir / 'vigil.db'}", env=env)
        self.url = f"https://127.0.0.1:{self.port}"
        self.settings = Settings(data_dir=data_dir, server=ServerSettings(port=self.port, tls="on"))

    def tls(self) -> ssl.SSLContext:
        """What the installation's clients use: the system's CAs plus the server's cert."""
        return client_ssl_context(self.settings)

    def _ok(self, url: str) -> bool:
        try:
            verify = self.tls() if url.startswith("https:") else True
            return httpx.get(url, timeout=1, verify=verify).is_success
        except (httpx.HTTPError, TlsError):
            return False

    def start_server(self) -> None:
        super().start_server()
        headers = self.client.headers
        self.client.close()
        self.client = httpx.Client(base_url=self.url, timeout=20, verify=self.tls())
        self.client.headers.update(headers)

    def stop(self) -> None:
        # An idle keep-alive TLS connection holds the server's shutdown until the client
        # answers its close_notify (or 30 s pass): this process would not be reading then.
        self.client.close()
        super().stop()


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    stack = TlsStack(tmp_path_factory.mktemp("tls") / "data")
    stack.data_dir.mkdir(parents=True)
    try:
        stack.start_server()
        stack.start_recorder()
        yield stack
    finally:
        stack.stop()


def test_server_answers_over_https_with_its_generated_certificate(tls_stack: TlsStack) -> None:
    cert = tls_dir(tls_stack.data_dir) / CERT_FILE
    assert {"localhost", "127.0.0.1", "::1", "vigil.test"} <= _sans(cert)
    r = tls_stack.client.get("/api/health")
    assert r.status_code == 200 and r.url.scheme == "https"
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert "wss://127.0.0.1" in r.headers["content-security-policy"]
    # By name too (localhost is in the certificate).
    assert httpx.get(f"https://localhost:{tls_stack.port}/", verify=tls_stack.tls()).is_success
    # Verification is real: a client that trusts only the system's CAs refuses it ...
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_stack.url}/api/health", timeout=5)
    # ... and nothing answers plain HTTP on that port.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_stack.port}/api/health", timeout=5)


def test_recorder_joins_the_hub_over_wss(tls_stack: TlsStack) -> None:
    """A camera's status reaches a browser's event stream only through the recorder's bus
    link to the server (wss with the generated certificate)."""
    url = f"wss://127.0.0.1:{tls_stack.port}/api/events?topics=cameras"
    with ws_connect(url, ssl=tls_stack.tls(), additional_headers=tls_stack.auth_headers) as ws:
        camera = tls_stack.add_camera("unreachable", "rtsp://127.0.0.1:9/none")
        seen: list[dict[str, object]] = []

        def status_arrived() -> bool:
            with contextlib.suppress(TimeoutError):
                seen.append(json.loads(ws.recv(timeout=0.5)))
            return any(
                m.get("kind") == CameraStatusChanged.kind
                and isinstance(payload := m.get("payload"), dict)
                and payload.get("camera_id") == camera["id"]
                for m in seen
            )

        wait_until(status_arrived, 30, "the recorder's status over the hub", tls_stack.logs)


async def _hub_connects(url: str, token: str, tls: ssl.SSLContext, within_s: float) -> bool:
    bus = HubBus(url, token=token, tls=lambda: tls)
    bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), within_s)
        return True
    except TimeoutError:
        return False
    finally:
        await bus.close()


def test_hub_link_verifies_the_server_certificate(tls_stack: TlsStack) -> None:
    token = service_token(tls_stack.data_dir)
    assert asyncio.run(_hub_connects(tls_stack.url, token, tls_stack.tls(), 10))
    untrusting = ssl.create_default_context()  # the system's CAs only: fails, retries, fails
    assert not asyncio.run(_hub_connects(tls_stack.url, token, untrusting, 2))


def test_cli_client_reaches_the_https_server(
    tls_stack: TlsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tls_stack.data_dir))
    monkeypatch.setenv("VIGIL_SERVER__PORT", str(tls_stack.port))
    monkeypatch.setenv("VIGIL_SERVER__TLS", "on")
    with cli._client(None) as client:
        r = client.get("/api/health")
    assert r.status_code == 200 and str(r.url).startswith("https://127.0.0.1:")


def test_cli_says_when_it_does_not_trust_the_certificate(
    tls_stack: TlsStack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Another machine: its data directory has no copy of the server's certificate.
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    with pytest.raises(typer.Exit) as exit_:
        cli._request(tls_stack.url, "GET", "/api/health")
    assert exit_.value.exit_code == 2
    said = " ".join(capsys.readouterr().out.split())
    assert "certificate this machine does not trust" in said and "tls/cert.pem" in said


def test_session_cookie_is_secure_from_the_https_server(tls_stack: TlsStack) -> None:
    db = Database(tls_stack.db_url)
    try:
        bootstrap.create_admin(db, username="chief", password=ADMIN_PASSWORD)
    finally:
        db.dispose()
    with httpx.Client(base_url=tls_stack.url, verify=tls_stack.tls()) as client:
        r = client.post("/api/auth/login", json={"username": "chief", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    cookies = r.headers.get_list("set-cookie")
    assert cookies and all("; secure" in c.lower() for c in cookies), cookies

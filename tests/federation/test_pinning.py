"""Pinning a site's certificate: only the pinned certificate is trusted, and a changed one
is refused naming both fingerprints."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from vigil.federation.pinning import (
    CertificateChanged,
    check_presented,
    fetch_certificate,
    fingerprint,
    host_port,
    normalise_fingerprint,
    pinned_context,
)
from vigil.security.tls import generate_self_signed


def certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cert, key = generate_self_signed(["localhost", "127.0.0.1"], datetime.now(UTC))
    (tmp_path / f"{name}.pem").write_bytes(cert)
    (tmp_path / f"{name}.key").write_bytes(key)
    return tmp_path / f"{name}.pem", tmp_path / f"{name}.key"


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An HTTPS server with its own certificate: (URL, certificate PEM)."""
    cert, key = certificate(tmp_path, "site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert.read_text()
    server.shutdown()


def test_the_site_certificate_is_read_for_confirmation(site: tuple[str, str]) -> None:
    url, pem = site
    assert fingerprint(fetch_certificate(url).encode()) == fingerprint(pem.encode())


def test_only_the_pinned_certificate_is_trusted(site: tuple[str, str], tmp_path: Path) -> None:
    url, pem = site
    assert httpx.get(url, verify=pinned_context(pem)).text == "hello"
    other = certificate(tmp_path, "other")[0].read_text()
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, verify=pinned_context(other))


def test_a_changed_certificate_names_both_fingerprints(
    site: tuple[str, str], tmp_path: Path
) -> None:
    url, pem = site
    old = fingerprint(certificate(tmp_path, "old")[0].read_bytes())
    with pytest.raises(CertificateChanged) as refused:
        check_presented("north", url, old)
    message = str(refused.value)
    assert (
        f"certificate of site north changed: expected {old}, got {fingerprint(pem.encode())}"
        in message
    )
    check_presented("north", url, fingerprint(pem.encode()))  # the pinned one: no error


def test_fingerprints_are_read_as_people_write_them() -> None:
    plain = "ab" * 32
    expected = ":".join(["AB"] * 32)
    assert normalise_fingerprint(plain) == expected
    assert normalise_fingerprint(f"sha256:{expected.lower()}") == expected
    with pytest.raises(ValueError, match="not a SHA-256 fingerprint"):
        normalise_fingerprint("AB:CD")


def test_sites_are_linked_over_tls_only() -> None:
    assert host_port("https://centre.example:8443") == ("centre.example", 8443)
    with pytest.raises(ValueError, match="https:// URL"):
        host_port("http://127.0.0.1:8080")

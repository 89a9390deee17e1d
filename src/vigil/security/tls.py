"""HTTPS for the management server: its certificate, and how the other roles trust it.

The server uses the certificate the operator gives (``server.tls_cert``/``tls_key``) or
one it makes itself: a self-signed EC P-256 certificate for the names and addresses it is
reached by, kept in ``<data_dir>/tls/`` (mode 0600), reused across restarts and made anew
when it nears its end or no longer names the server's address. Clients of this
installation (the recorder's bus link, the CLI) trust the system's CAs plus that
certificate, so the generated one needs no CA.

Example:
    >>> settings = Settings(server=ServerSettings(host="0.0.0.0"))  # doctest: +SKIP
    >>> files = server_certificate(settings)  # doctest: +SKIP
    >>> httpx.get(settings.server_url, verify=client_ssl_context(settings))  # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vigil.config import WILDCARD_HOSTS, ServerSettings, Settings

log = logging.getLogger(__name__)

TLS_DIR = "tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
# 397 days: the longest validity every browser accepts for a server certificate.
VALIDITY = timedelta(days=397)
# Made anew at start when less than this is left, so a restart before the end renews it.
RENEW_BEFORE = timedelta(days=30)
# Clocks of clients may run a little behind the server's.
BACKDATE = timedelta(hours=1)
# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are not affected).
SERVER_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
ALWAYS_NAMED = ("localhost", "127.0.0.1", "::1")


class TlsError(RuntimeError):
    """The server's certificate or key cannot be used; the message says which and why."""


@dataclass(frozen=True)
class CertificateFiles:
    """The PEM files the server presents; ``generated`` when Vigil made them."""

    cert: Path
    key: Path
    generated: bool


def tls_dir(data_dir: Path) -> Path:
    """Folder of the generated certificate and key."""
    return data_dir / TLS_DIR


def certificate_names(server: ServerSettings) -> list[str]:
    """Names and addresses the generated certificate must hold: localhost, the loopback
    addresses, the bound address (for a wildcard bind the machine's host name) and
    ``server.tls_hostnames``. Never resolved through DNS: that could leave the machine."""
    host = server.host.strip("[]")
    bound = [socket.gethostname()] if host in WILDCARD_HOSTS else [host]
    names: list[str] = []
    for name in (*ALWAYS_NAMED, *bound, *server.tls_hostnames):
        name = name.strip().strip("[]")
        if name and name.lower() not in (n.lower() for n in names):
            names.append(name)
    return names


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name.lower())


def _san_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    return dns | {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def _wanted(names: list[str]) -> set[str]:
    wanted = set()
    for name in names:
        try:
            wanted.add(str(ipaddress.ip_address(name)))
        except ValueError:
            wanted.add(name.lower())
    return wanted


def _reusable(cert_path: Path, key_path: Path, names: list[str], now: datetime) -> str | None:
    """Why the stored certificate cannot be reused, or None when it can."""
    if not cert_path.exists() or not key_path.exists():
        return "none stored yet"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        return f"the stored one cannot be read ({exc})"
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return "the stored key does not belong to the stored certificate"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"the stored one expires {cert.not_valid_after_utc:%Y-%m-%d}"
    if cert.not_valid_before_utc > now:
        return "the stored one is not valid yet (clock changed?)"
    if missing := _wanted(names) - _san_names(cert):
        return f"the stored one does not name {', '.join(sorted(missing))}"
    return None


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, replacing any earlier one atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def generate_self_signed(names: list[str], now: datetime) -> tuple[bytes, bytes]:
    """A self-signed EC P-256 server certificate for ``names``: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vigil"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_signed(
    directory: Path, names: list[str], *, now: datetime | None = None
) -> CertificateFiles:
    """The generated certificate in ``directory``: the stored one while it is valid for
    more than :data:`RENEW_BEFORE` and names all of ``names``, else a new one."""
    now = now or datetime.now(UTC)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    why = _reusable(cert_path, key_path, names, now)
    if why is not None:
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        cert_pem, key_pem = generate_self_signed(names, now)
        # Key first: a certificate on disk always has its key beside it.
        _write_private(key_path, key_pem)
        _write_private(cert_path, cert_pem)
        log.warning(
            "generated a self-signed TLS certificate %s for %s (%s); browsers warn until it "
            "is trusted: SHA-256 fingerprint %s",
            cert_path,
            ", ".join(names),
            why,
            fingerprint(cert_pem),
        )
    return CertificateFiles(cert_path, key_path, generated=True)


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 fingerprint of a PEM certificate, as browsers show it (AA:BB:...)."""
    digest = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def _check_given(server: ServerSettings) -> CertificateFiles:
    assert server.tls_cert is not None and server.tls_key is not None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            server.tls_cert, server.tls_key
        )
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(
            f"cannot use server.tls_cert {server.tls_cert} with server.tls_key "
            f"{server.tls_key}: {exc}; give a readable PEM certificate and its key, or leave "
            "both unset for a generated certificate"
        ) from None
    return CertificateFiles(server.tls_cert, server.tls_key, generated=False)


def server_certificate(settings: Settings) -> CertificateFiles | None:
    """The certificate the server presents, or None when it serves plain HTTP."""
    server = settings.server
    if not server.uses_tls:
        return None
    if server.tls_cert is not None:
        return _check_given(server)
    return ensure_self_signed(tls_dir(settings.data_dir), certificate_names(server))


def trusted_certificate(settings: Settings) -> Path | None:
    """The server certificate that clients of this installation trust besides the system's
    CAs: the given one, else the generated one when it is on this machine."""
    if settings.server.tls_cert is not None:
        return settings.server.tls_cert
    generated = tls_dir(settings.data_dir) / CERT_FILE
    return generated if generated.exists() else None


def client_ssl_context(settings: Settings) -> ssl.SSLContext:
    """A verifying client context for the server of this installation: the system's CAs
    plus the server's own certificate as a trust anchor (so a self-signed one works,
    and a CA-signed leaf works without its chain)."""
    context = ssl.create_default_context()
    if (cert := trusted_certificate(settings)) is not None:
        try:
            context.load_verify_locations(cafile=cert)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(
                f"cannot read the server certificate {cert} to trust it: {exc}; copy the "
                "server's certificate there"
            ) from None
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context

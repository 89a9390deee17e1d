"""Certificate pinning: a site is trusted by the one certificate its administrator
confirmed, never by a CA, so that a CA's mistake or a changed certificate cannot put
someone else between the sites.

The pinned certificate is the only trust anchor of the connection's TLS context, so the
handshake itself fails (before the token is sent) when the site shows another one.
"""

from __future__ import annotations

import re
import socket
import ssl
from urllib.parse import urlsplit

from vigil.security.tls import fingerprint

_HEX = re.compile(r"^[0-9A-F]{64}$")


class PinError(RuntimeError):
    """A site's certificate cannot be trusted; the message says why and what to do."""


class CertificateChanged(PinError):
    """The site shows a certificate other than the pinned one."""

    def __init__(self, site: str, expected: str, got: str) -> None:
        super().__init__(
            f"certificate of site {site} changed: expected {expected}, got {got}; if the "
            "site's administrator replaced it, remove the site and add it again with the "
            "new fingerprint"
        )
        self.expected, self.got = expected, got


def normalise_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as ``AA:BB:...`` from the ways people write one (colons or
    not, any case, an ``sha256:`` prefix); ValueError when it is not one."""
    raw = text.strip().upper().removeprefix("SHA256:").removeprefix("SHA-256:")
    raw = raw.replace(":", "").replace(" ", "")
    if not _HEX.match(raw):
        raise ValueError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
    return ":".join(raw[i : i + 2] for i in range(0, 64, 2))


def host_port(url: str) -> tuple[str, int]:
    """Where an ``https://`` site URL connects; ValueError for any other URL."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{url!r} is not an https:// URL: sites are linked over TLS only")
    return parts.hostname, parts.port or 443


def fetch_certificate(url: str, *, timeout: float = 10.0) -> str:
    """The certificate (PEM) a site shows, read in a handshake that trusts nothing and
    sends nothing: for its administrator to confirm, never to trust by itself."""
    host, port = host_port(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise PinError(f"cannot read the certificate of {url}: {exc}") from None
    if der is None:
        raise PinError(f"{url} showed no certificate")
    return ssl.DER_cert_to_PEM_cert(der)


def pinned_context(certificate_pem: str) -> ssl.SSLContext:
    """A client TLS context that accepts exactly this certificate (the pin replaces the
    host name check: the pinned certificate is the identity)."""
    context = ssl.create_default_context(cadata=certificate_pem)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def check_presented(site: str, url: str, expected: str, *, timeout: float = 10.0) -> None:
    """After a failed handshake: raise :class:`CertificateChanged` when the site now shows
    another certificate (the usual cause), naming both fingerprints."""
    got = fingerprint(fetch_certificate(url, timeout=timeout).encode())
    if got != expected:
        raise CertificateChanged(site, expected, got)


__all__ = [
    "CertificateChanged",
    "PinError",
    "check_presented",
    "fetch_certificate",
    "fingerprint",
    "host_port",
    "normalise_fingerprint",
    "pinned_context",
]

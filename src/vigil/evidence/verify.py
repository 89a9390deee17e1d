"""Offline check of an evidence package (``evidence/package.py``): no server, no database.

Valid means: the ZIP holds exactly the files the manifest lists plus the manifest and its
signature, with safe names; every file has the SHA-256 the manifest gives; the signature of
the manifest verifies with the included public key and, when given, with the key the
checker trusts. The included key alone proves integrity, not origin: anyone can re-sign a
package with their own key, so compare its fingerprint with the installation's.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vigil.evidence.package import MANIFEST, METADATA, PUBLIC_KEY, SIGNATURE
from vigil.security.signing import SigningError, fingerprint, load_public_key, verify_signature

CHUNK = 1024 * 1024
MAX_SMALL_FILE = 16 * 1024 * 1024  # manifest, signature, key, metadata: small by nature


@dataclass(slots=True)
class PackageVerdict:
    """What ``verify_package`` found. ``files`` maps each name to "ok" or what is wrong."""

    path: Path
    problems: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    included_fingerprint: str | None = None
    trusted_fingerprint: str | None = None
    signed_by_trusted_key: bool | None = None  # None: no trusted key given
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def safe_name(name: str) -> bool:
    """A member name that cannot point outside the folder it is read into."""
    if not name or "\\" in name or "\x00" in name or name.endswith("/"):
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and ":" not in path.parts[0]


def verify_package(path: Path, trusted_key_pem: bytes | None = None) -> PackageVerdict:
    """Check an evidence package; never raises for a bad package (its problems say why).

    Args:
        path: The ZIP file.
        trusted_key_pem: The installation's public key (PEM) that should have signed it.
    """
    verdict = PackageVerdict(path=path)
    trusted = None
    if trusted_key_pem is not None:
        try:
            trusted = load_public_key(trusted_key_pem)
            verdict.trusted_fingerprint = fingerprint(trusted)
        except SigningError as exc:
            verdict.problems.append(f"the given public key cannot be used: {exc}")
    try:
        with zipfile.ZipFile(path) as zf:
            _check(zf, verdict, trusted)
    except (zipfile.BadZipFile, OSError) as exc:
        verdict.problems.append(f"not a readable ZIP file: {exc}")
    return verdict


def _check(zf: zipfile.ZipFile, verdict: PackageVerdict, trusted: Any) -> None:
    names = [info.filename for info in zf.infolist()]
    unsafe = [n for n in names if not safe_name(n)]
    if unsafe:
        verdict.problems.append(f"unsafe file names in the package (refused): {unsafe}")
        return
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        verdict.problems.append(f"file names appear twice in the package: {duplicates}")
        return
    for required in (MANIFEST, SIGNATURE, PUBLIC_KEY):
        if required not in names:
            verdict.problems.append(f"{required} is missing: cannot verify the package")
    if verdict.problems:
        return
    manifest_bytes = _small(zf, MANIFEST)
    try:
        manifest = json.loads(manifest_bytes)
        listed: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        verdict.problems.append(f"{MANIFEST} is not a valid manifest: {exc}")
        return
    _check_files(zf, verdict, names, listed)
    _check_signature(zf, verdict, manifest_bytes, trusted)
    if METADATA in names and verdict.files.get(METADATA) == "ok":
        try:
            verdict.metadata = json.loads(_small(zf, METADATA))
        except ValueError as exc:
            verdict.problems.append(f"{METADATA} is not JSON: {exc}")


def _check_files(
    zf: zipfile.ZipFile, verdict: PackageVerdict, names: list[str], listed: dict[str, str]
) -> None:
    for name in names:
        if name in (MANIFEST, SIGNATURE):
            continue
        if name not in listed:
            verdict.files[name] = "not in the manifest"
            verdict.problems.append(f"{name}: extra file, not in the manifest")
            continue
        actual = _sha256(zf, name)
        if actual != listed[name]:
            verdict.files[name] = "hash mismatch"
            verdict.problems.append(
                f"{name}: altered (SHA-256 {actual}, manifest says {listed[name]})"
            )
        else:
            verdict.files[name] = "ok"
    for name in listed:
        if name not in names:
            verdict.files[name] = "missing"
            verdict.problems.append(f"{name}: listed in the manifest but missing")
    if METADATA not in listed:
        verdict.problems.append(f"{METADATA} is not in the manifest")


def _check_signature(
    zf: zipfile.ZipFile, verdict: PackageVerdict, manifest_bytes: bytes, trusted: Any
) -> None:
    signature = _small(zf, SIGNATURE)
    try:
        included = load_public_key(_small(zf, PUBLIC_KEY))
    except SigningError as exc:
        verdict.problems.append(f"{PUBLIC_KEY}: {exc}")
        return
    verdict.included_fingerprint = fingerprint(included)
    if not verify_signature(included, signature, manifest_bytes):
        verdict.problems.append(
            f"{SIGNATURE}: the signature of {MANIFEST} does not verify with the included key "
            "(manifest or signature altered)"
        )
    if trusted is not None:
        verdict.signed_by_trusted_key = verify_signature(trusted, signature, manifest_bytes)
        if not verdict.signed_by_trusted_key:
            verdict.problems.append(
                f"{SIGNATURE}: not signed by the given public key (fingerprint "
                f"{verdict.trusted_fingerprint}); signed by {verdict.included_fingerprint}"
            )


def _small(zf: zipfile.ZipFile, name: str) -> bytes:
    with zf.open(name) as f:
        return f.read(MAX_SMALL_FILE)


def _sha256(zf: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    try:
        with zf.open(name) as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:  # CRC error, bad compression
        return f"unreadable ({exc})"
    return digest.hexdigest()

"""Evidence packages: a real export verifies offline; every kind of tampering is named."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from tests.media.test_recording import record_file, segments_of
from vigil.cli import app
from vigil.config import Settings
from vigil.evidence.package import EvidenceRequest, build_package
from vigil.evidence.verify import safe_name, verify_package
from vigil.security.signing import KEY_FILE, load_signing_key, public_pem, sign
from vigil.store import cameras as camera_store
from vigil.store.db import Database


@pytest.fixture
def package(db: Database, settings: Settings, h264_clip: Path, tmp_path: Path) -> Path:
    camera_id, _ = record_file(db, settings, h264_clip)
    segs = segments_of(db, camera_id)
    camera = camera_store.get_camera(db, camera_id)
    assert camera is not None and segs[-1].end is not None
    out = tmp_path / "evidence.zip"
    request = EvidenceRequest(camera, segs[0].start, segs[-1].end, "case 118", "investigator 7")
    build_package(
        db,
        recordings_dir=settings.recordings_dir,
        data_dir=settings.data_dir,
        request=request,
        out=out,
    )
    return out


def rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    """Copy a package, replacing (bytes) or dropping (None) members, adding new ones."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in change:
                data = change[info.filename]
                if data is not None:
                    zout.writestr(info.filename, data)
            else:
                zout.writestr(info.filename, zin.read(info.filename))
        for name, data in change.items():
            if name not in zin.namelist() and data is not None:
                zout.writestr(name, data)
    return dst


def member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name)


def test_a_real_package_verifies_and_describes_its_evidence(
    package: Path, settings: Settings, db: Database
) -> None:
    verdict = verify_package(package, public_pem(load_signing_key(settings.data_dir).public_key()))
    assert verdict.ok, verdict.problems
    assert verdict.signed_by_trusted_key is True
    meta = verdict.metadata
    assert meta["requested_by"] == "investigator 7" and meta["reason"] == "case 118"
    assert meta["chain_verification"]["ok"] is True
    assert len(meta["segments"]) == 3 and all(s["sha256"] for s in meta["segments"])
    assert meta["signing_key"]["fingerprint"] == verdict.included_fingerprint
    key_file = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_one_changed_byte_of_the_video_fails(package: Path, tmp_path: Path) -> None:
    video = bytearray(member(package, "video.mp4"))
    video[len(video) // 2] ^= 0x01
    verdict = verify_package(rewrite(package, tmp_path / "t.zip", {"video.mp4": bytes(video)}))
    assert not verdict.ok and verdict.files["video.mp4"] == "hash mismatch"
    assert any(p.startswith("video.mp4: altered") for p in verdict.problems)


def test_a_byte_flipped_inside_the_zip_fails(package: Path) -> None:
    data = bytearray(package.read_bytes())
    data[len(data) // 3] ^= 0x01  # inside video.mp4, stored uncompressed
    package.write_bytes(bytes(data))
    verdict = verify_package(package)
    assert not verdict.ok and "video.mp4: altered" in verdict.problems[0]


def test_edited_metadata_fails(package: Path, tmp_path: Path) -> None:
    meta = json.loads(member(package, "metadata.json"))
    meta["reason"] = "something else"
    edited = rewrite(package, tmp_path / "t.zip", {"metadata.json": json.dumps(meta).encode()})
    verdict = verify_package(edited)
    assert not verdict.ok and verdict.files["metadata.json"] == "hash mismatch"


def test_a_removed_file_fails(package: Path, tmp_path: Path) -> None:
    verdict = verify_package(rewrite(package, tmp_path / "t.zip", {"video.mp4": None}))
    assert verdict.files["video.mp4"] == "missing"
    assert "video.mp4: listed in the manifest but missing" in verdict.problems


def test_an_added_file_fails(package: Path, tmp_path: Path) -> None:
    verdict = verify_package(rewrite(package, tmp_path / "t.zip", {"note.txt": b"hello"}))
    assert verdict.problems == ["note.txt: extra file, not in the manifest"]


def test_a_signature_from_another_key_fails(package: Path, tmp_path: Path) -> None:
    other = Ed25519PrivateKey.generate()
    resigned = rewrite(
        package,
        tmp_path / "t.zip",
        {"manifest.sig": sign(other, member(package, "manifest.json"))},
    )
    verdict = verify_package(resigned)
    assert not verdict.ok and "does not verify with the included key" in verdict.problems[0]


def test_a_package_resigned_whole_by_an_attacker_fails_against_the_trusted_key(
    package: Path, tmp_path: Path, settings: Settings
) -> None:
    attacker = Ed25519PrivateKey.generate()
    manifest = json.loads(member(package, "manifest.json"))
    key_pem = public_pem(attacker.public_key())
    import hashlib

    manifest["files"]["public_key.pem"] = hashlib.sha256(key_pem).hexdigest()
    manifest_bytes = json.dumps(manifest).encode()
    forged = rewrite(
        package,
        tmp_path / "t.zip",
        {
            "public_key.pem": key_pem,
            "manifest.json": manifest_bytes,
            "manifest.sig": sign(attacker, manifest_bytes),
        },
    )
    assert verify_package(forged).ok, "self-consistent: only the trusted key tells"
    trusted = public_pem(load_signing_key(settings.data_dir).public_key())
    verdict = verify_package(forged, trusted)
    assert not verdict.ok and verdict.signed_by_trusted_key is False
    assert "not signed by the given public key" in verdict.problems[0]


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../b", "c:\\x", "C:/x"])
def test_path_traversal_names_are_refused(package: Path, tmp_path: Path, name: str) -> None:
    assert not safe_name(name)
    verdict = verify_package(rewrite(package, tmp_path / "t.zip", {name: b"x"}))
    assert not verdict.ok and "unsafe file names" in verdict.problems[0]


def test_not_a_zip_is_a_clear_failure(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip")
    verdict = verify_package(bogus)
    assert not verdict.ok and "not a readable ZIP" in verdict.problems[0]


def test_cli_verify_exit_codes_and_report(
    package: Path, tmp_path: Path, settings: Settings
) -> None:
    runner = CliRunner()
    key = tmp_path / "installation.pem"
    key.write_bytes(public_pem(load_signing_key(settings.data_dir).public_key()))
    good = runner.invoke(app, ["verify", str(package), "--public-key", str(key)])
    assert good.exit_code == 0, good.output
    assert "VALID" in good.output and "signed by the given key" in good.output
    unpinned = runner.invoke(app, ["verify", str(package)])
    assert unpinned.exit_code == 0 and "re-sign" in unpinned.output
    broken = rewrite(package, tmp_path / "t.zip", {"metadata.json": b"{}"})
    bad = runner.invoke(app, ["verify", str(broken)])
    assert bad.exit_code == 1 and "NOT VALID" in bad.output and "metadata.json" in bad.output

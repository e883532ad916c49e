"""Small faults a user meets (issue 18, part 5): exports, CLI warnings, the tile rate, TensorFlow's
log lines, unreadable input, and the word on near-gray results (part 4)."""

import re
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import napari_colorize as nc


def test_hints_and_every_public_name_are_in_dir():
    names = dir(nc)
    assert "Hints" in names
    assert set(nc.__all__) <= set(names)
    assert nc.Hints.__name__ == "Hints"


def _cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed ``napari-colorize`` command, run as a user runs it."""
    exe = Path(sys.executable).parent / "napari-colorize"
    if not exe.is_file():
        pytest.skip("the napari-colorize entry point is not installed")
    return subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=300, env=env)


def test_cli_warnings_are_one_clean_line(tmp_path, coffee):
    color = tmp_path / "coffee.png"
    iio.imwrite(color, (coffee * 255).astype(np.uint8))
    hints = tmp_path / "h.csv"
    hints.write_text("y,x,r,g,b\n50,60,200,120,40\n")
    r = _cli(
        "colorize",
        str(color),
        "--model",
        "propagate",
        "--hints",
        str(hints),
        "--out-dir",
        str(tmp_path / "o"),
    )
    assert r.returncode == 0, r.stderr
    lines = [line for line in re.split(r"[\r\n]", r.stderr) if "tile" not in line and line.strip()]
    assert len(lines) == 1, r.stderr  # the progress bar aside
    assert lines[0].startswith("napari-colorize colorize: warning: ") and "color image" in lines[0]
    assert "sys.exit" not in r.stderr and "Warning:" not in r.stderr


def _rates(text: str) -> list[float]:
    """Tiles per second in tqdm's text (it writes ``2.50tile/s`` or ``1.20s/tile``)."""
    out = [float(v) for v in re.findall(r"([\d.]+)tile/s", text)]
    out += [1.0 / float(v) for v in re.findall(r"([\d.]+)s/tile", text)]
    return out


def test_the_tile_rate_counts_the_time_the_tiles_took(capsys):
    from napari_colorize.progress import tqdm_progress

    progress = tqdm_progress("coffee.png")
    time.sleep(0.3)  # the first (and only) tile takes 0.3 s or more; its report comes after it
    progress(1, 1)
    rates = _rates(capsys.readouterr().err)
    assert rates and max(rates) < 1 / 0.3 + 0.01, rates

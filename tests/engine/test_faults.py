"""Small faults a user meets (issue 18, part 5): exports, CLI warnings, the tile rate, TensorFlow's
log lines, unreadable input, and the word on near-gray results (part 4)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import napari_colorize as nc
from napari_colorize.catalogue import DEFAULT_MODEL, builtin_models


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


# -- TensorFlow's log lines ------------------------------------------------------------------------
#: what TensorFlow 2.21 prints while it loads, whatever TF_CPP_MIN_LOG_LEVEL says
_TF_LINE = re.compile(r"absl|oneDNN|cpu_feature_guard|tensorflow|^[IWEF]\d{4} ", re.M | re.I)

_API = (
    "import numpy as np, napari_colorize as nc; "
    "r = nc.colorize(np.linspace(0, 1, 64 * 64, dtype='float32').reshape(64, 64), 'default'); "
    "print(r.ab.shape)"
)


@pytest.fixture
def env_without_tf_level():
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


@pytest.fixture
def gray_png(tmp_path, coffee):
    from napari_colorize.color import L2gray, rgb2L

    p = tmp_path / "coffee.png"
    iio.imwrite(p, (L2gray(rgb2L(coffee)) * 255 + 0.5).astype(np.uint8))
    return p


@pytest.mark.skipif(DEFAULT_MODEL not in builtin_models(), reason="the built-in default model is not here")
@pytest.mark.parametrize("entry", ["demo", "colorize", "api"])
def test_no_tensorflow_log_lines_on_any_entry_point(entry, tmp_path, gray_png, env_without_tf_level):
    env = env_without_tf_level
    if entry == "demo":
        r = _cli("demo", "--samples", "rocket", "--hints", "3", "--out", str(tmp_path / "d"), env=env)
    elif entry == "colorize":
        r = _cli("colorize", str(gray_png), "--out-dir", str(tmp_path / "o"), env=env)
    else:
        r = subprocess.run([sys.executable, "-c", _API], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert not _TF_LINE.search(r.stderr), r.stderr


@pytest.mark.skipif(DEFAULT_MODEL not in builtin_models(), reason="the built-in default model is not here")
def test_verbose_shows_tensorflows_log(tmp_path, gray_png, env_without_tf_level):
    r = _cli(
        "--verbose", "colorize", str(gray_png), "--out-dir", str(tmp_path / "o"), env=env_without_tf_level
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"^[IWEF]\d{4} ", r.stderr, re.M) or "absl" in r.stderr, r.stderr


def test_the_tensorflow_log_filter_keeps_other_lines():
    from napari_colorize.backends import _keep_line

    info = "I0000 00:00:1796204192.402425    9113 port.cc:153] oneDNN custom operations are on.\n"
    error = "E0000 00:00:1796204192.402425    9113 cuda_dnn.cc:8310] Unable to register cuDNN factory\n"
    assert not _keep_line(info, 2) and _keep_line(info, 0)
    assert _keep_line(error, 2) and not _keep_line(error, 3)
    assert not _keep_line("WARNING: All log messages before absl::InitializeLog() is called ...\n", 2)
    assert _keep_line("Traceback (most recent call last):\n", 3)


# -- unreadable input fails before TensorFlow ----------------------------------------------------------
_PROBE = (
    "import sys; from napari_colorize.cli import main; rc = main(sys.argv[1:]); "
    "print(rc, 'tensorflow' in sys.modules)"
)


@pytest.fixture
def bad_images(tmp_path, gray_png):
    """Unreadable files of each kind a user meets: garbage, a cut PNG, JPEG and TIFF."""
    d = tmp_path / "bad"
    d.mkdir()
    (d / "garbage.png").write_bytes(b"garbage")
    png = gray_png.read_bytes()
    (d / "cut.png").write_bytes(png[: len(png) // 2])
    gray = iio.imread(gray_png)
    iio.imwrite(tmp_path / "whole.jpg", gray)
    jpg = (tmp_path / "whole.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])
    tifffile.imwrite(tmp_path / "whole.tif", np.stack([gray] * 3))
    tif = (tmp_path / "whole.tif").read_bytes()
    (d / "cut.tif").write_bytes(tif[: len(tif) - 100])
    return d


@pytest.mark.parametrize("name", ["garbage.png", "cut.png", "cut.jpg", "cut.tif"])
@pytest.mark.parametrize("command", ["colorize", "train"])
def test_unreadable_input_is_one_line_before_tensorflow(command, name, tmp_path, gray_png, bad_images):
    bad = bad_images / name
    if command == "colorize":  # the bad file after a good one: nothing is colorized
        argv = ["colorize", str(gray_png), str(bad), "--model", "default", "--out-dir", str(tmp_path / "o")]
    else:
        argv = [
            "train",
            "--method",
            "window",
            "--images",
            str(gray_png),
            str(bad),
            "--out",
            str(tmp_path / "m"),
        ]
    r = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=300)
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read image" in lines[0] and name in lines[0], r.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "m").exists()


def test_readable_images_pass_the_check(gray_png, tmp_path):
    from napari_colorize.io import check_image

    gray = iio.imread(gray_png)
    for name, write in {
        "g.jpg": lambda p: iio.imwrite(p, gray),
        "g.tif": lambda p: tifffile.imwrite(p, np.stack([gray] * 3)),
        "t.tif": lambda p: tifffile.imwrite(p, np.zeros((600, 600), np.uint16), tile=(256, 256)),
    }.items():
        write(tmp_path / name)
        check_image(tmp_path / name)
    check_image(gray_png)

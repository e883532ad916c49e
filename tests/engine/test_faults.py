"""Small faults a user meets (issue 18, part 5): exports, CLI warnings, the tile rate, TensorFlow's
log lines, unreadable input, and the word on near-gray results (part 4)."""

import os
import re
import subprocess
import sys
import time
import warnings
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
    tifffile.imwrite(tmp_path / "whole.tif", np.stack([gray] * 3), photometric="rgb", planarconfig="separate")
    tif = (tmp_path / "whole.tif").read_bytes()
    (d / "cut.tif").write_bytes(tif[: len(tif) - 100])
    return d


@pytest.mark.parametrize("name", ["garbage.png", "cut.png", "cut.jpg", "cut.tif"])
@pytest.mark.parametrize("command", ["colorize", "train"])
def test_unreadable_input_is_one_line_before_tensorflow(command, name, tmp_path, gray_png, bad_images):
    bad = bad_images / name
    if command == "colorize":  # a batch with bad files goes on (test_safety); one bad input stops here
        argv = ["colorize", str(bad), "--model", "default", "--out-dir", str(tmp_path / "o")]
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
        "g.tif": lambda p: tifffile.imwrite(
            p, np.stack([gray] * 3), photometric="rgb", planarconfig="separate"
        ),
        "t.tif": lambda p: tifffile.imwrite(p, np.zeros((600, 600), np.uint16), tile=(256, 256)),
    }.items():
        write(tmp_path / name)
        check_image(tmp_path / name)
    check_image(gray_png)


# -- say what the model knows: near-gray results --------------------------------------------------------
@pytest.fixture(scope="module")
def colorful(coffee):
    return nc.train("lookup", [coffee])


@pytest.fixture(scope="module")
def dull(coffee):
    """A lookup model trained on a washed-out photo: its colors are nearly gray."""
    from napari_colorize.color import lab2rgb, rgb2lab

    lab = rgb2lab(coffee)
    lab[..., 1:] *= 0.03
    return nc.train("lookup", [lab2rgb(lab)])


@pytest.fixture(scope="module")
def gray_coffee(coffee):
    from napari_colorize.color import L2gray, rgb2L

    return L2gray(rgb2L(coffee))


def _dot(shape):
    return nc.Hints.from_pixels(shape, [[50, 60]], [[30.0, 40.0]])


def test_a_nearly_gray_automatic_result_says_so(dull, gray_coffee):
    from napari_colorize.color import NEAR_GRAY_CHROMA

    with pytest.warns(nc.NearGrayWarning, match="nearly gray.*hints.*trained on similar images"):
        res = nc.colorize(gray_coffee, dull)
    assert res.mean_chroma < NEAR_GRAY_CHROMA
    assert "nearly gray" in res.near_gray and "mean chroma" in res.near_gray


def test_colorful_results_and_guided_ones_say_nothing(colorful, dull, gray_coffee):
    from napari_colorize.color import NEAR_GRAY_CHROMA

    with warnings.catch_warnings():
        warnings.simplefilter("error", nc.NearGrayWarning)
        res = nc.colorize(gray_coffee, colorful)
        assert res.near_gray is None and res.mean_chroma > NEAR_GRAY_CHROMA
        # gray asked for: the model's colors are judged, not the saturation the user chose
        assert nc.colorize(gray_coffee, colorful, saturation=0).near_gray is None
        # hints given: the result is not automatic
        assert nc.colorize(gray_coffee, dull, hints=_dot(gray_coffee.shape)).near_gray is None


def test_propagate_without_hints_warns(gray_coffee):
    with pytest.warns(nc.NearGrayWarning, match="propagate gives gray without color hints"):
        res = nc.colorize(gray_coffee, "propagate")
    assert res.near_gray.startswith("propagate gives gray")
    with warnings.catch_warnings():
        warnings.simplefilter("error", nc.NearGrayWarning)
        assert nc.colorize(gray_coffee, "propagate", hints=_dot(gray_coffee.shape)).near_gray is None


def test_low_confidence_counts_as_nearly_gray(colorful, gray_coffee, monkeypatch):
    from napari_colorize.color import NEAR_GRAY_CONFIDENCE
    from napari_colorize.methods.lookup import LookupColorizer

    def unsure(self, L, *, hints=None):
        return np.full(np.shape(L), NEAR_GRAY_CONFIDENCE / 2, np.float32)

    monkeypatch.setattr(LookupColorizer, "predict_confidence", unsure, raising=False)
    with pytest.warns(nc.NearGrayWarning, match="mean confidence"):
        res = nc.colorize(gray_coffee, colorful, confidence=True)
    assert "confidence" in res.near_gray


def test_the_cli_names_the_nearly_gray_file(tmp_path, gray_png):
    r = _cli("colorize", str(gray_png), "--model", "propagate", "--out-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    lines = [line for line in re.split(r"[\r\n]", r.stderr) if "tile" not in line and line.strip()]
    assert lines == [
        "napari-colorize colorize: warning: coffee.png: propagate gives gray without color hints: "
        "it only spreads the colors of hints; give a few"
    ], r.stderr


# the command line prints the warning (as a "warning:" line): shown as outside the tests, not an error
def test_the_cli_says_a_dull_model_knows_little(tmp_path, gray_png, dull, capsys):
    from napari_colorize.cli import main

    dull.save(tmp_path / "dull")
    argv = ["colorize", str(gray_png), "--model", str(tmp_path / "dull"), "--out-dir", str(tmp_path / "o")]
    assert main(argv) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(err) == 1 and "coffee.png: the automatic result is nearly gray" in err[0], err
    assert "hints" in err[0] and "trained on similar images" in err[0]


def test_the_worker_returns_near_gray_for_the_status_line(gray_coffee):
    import dask.array as da

    from napari_colorize.client import Worker

    w = Worker(stop_grace=5.0)
    try:
        res = w.colorize(gray_coffee, "propagate")
        assert res["near_gray"].startswith("propagate gives gray")
        assert w.colorize(gray_coffee, "propagate", hints=_dot(gray_coffee.shape))["near_gray"] is None
        stack = da.from_array(np.stack([gray_coffee] * 2), chunks=(1, 200, 300))
        assert w.colorize(stack, "propagate")["near_gray"].startswith("propagate gives gray")
    finally:
        w.shutdown()


# -- the demo's pictures ----------------------------------------------------------------------------------
def test_demo_pictures_have_captions_and_ring_the_hints(tmp_path, capsys):
    from napari_colorize.demo import (
        CAPTION_HEIGHT,
        HINT_RING,
        PANEL_GAP,
        hints_from_truth,
        load_sample,
        run_demo,
    )

    res = run_demo(tmp_path, samples=["rocket"], model="propagate", n_hints=5)
    out = capsys.readouterr().out
    assert "rocket: propagate gives gray without color hints" in out  # the demo says so
    assert res["per_image"]["rocket"]["near_gray"].startswith("propagate gives gray")
    truth = iio.imread(tmp_path / "rocket_truth.png")
    guided = iio.imread(tmp_path / "rocket_hints.png")
    row = iio.imread(tmp_path / "rocket_side_by_side.png")
    h, w = truth.shape[:2]
    assert row.shape == (h + CAPTION_HEIGHT, 4 * w + 3 * PANEL_GAP, 3)  # a caption strip above the panels
    strip = row[:CAPTION_HEIGHT].min(axis=-1)
    for i in range(4):  # a caption over every panel: dark text on white
        x0 = i * (w + PANEL_GAP)
        assert strip[:, x0 : x0 + w].min() < 100 and np.median(strip[:, x0 : x0 + w]) > 200
    panels = row[CAPTION_HEIGHT:]
    x0 = 2 * (w + PANEL_GAP)
    np.testing.assert_array_equal(
        panels[:, :w], np.repeat(iio.imread(tmp_path / "rocket_gray.png")[..., None], 3, -1)
    )
    hints = hints_from_truth(load_sample("rocket"), 5, seed=0)
    for y, x in np.argwhere(hints.mask > 0):  # a black-edged white ring around each hint
        ring = []
        for dy, dx in ((-HINT_RING + 1, 0), (HINT_RING - 1, 0), (0, -HINT_RING + 1), (0, HINT_RING - 1)):
            if 0 <= y + dy < h and 0 <= x + dx < w:
                ring.append(panels[y + dy, x0 + x + dx])
        assert ring and all((p == 255).all() for p in ring), (y, x, ring)
        assert (panels[y, x0 + x] == guided[y, x]).all()  # the hint's own pixel stays visible


def test_a_batch_reports_its_unreadable_files_and_colorizes_the_others(tmp_path, gray_png, bad_images):
    argv = ["colorize", str(gray_png), *map(str, sorted(bad_images.iterdir()))]
    argv += ["--model", "propagate", "--out-dir", str(tmp_path / "o")]
    r = subprocess.run([sys.executable, "-m", "napari_colorize.cli", *argv], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    named = sorted(p.name for p in bad_images.iterdir() if any(p.name in e for e in errors))
    assert named == sorted(p.name for p in bad_images.iterdir()), r.stderr
    assert (tmp_path / "o" / f"{gray_png.stem}_rgb.png").is_file()


import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_colorize.cli import main


@pytest.fixture
def ref_png(tmp_path, coffee):
    p = tmp_path / "ref" / "coffee.png"
    p.parent.mkdir()
    iio.imwrite(p, (coffee * 255).astype(np.uint8))
    return p


@pytest.fixture
def lookup_model(tmp_path, ref_png):
    out = tmp_path / "model"
    assert main(["train", "--method", "lookup", "--images", str(ref_png.parent), "--out", str(out)]) == 0
    return out


def test_methods_lists_every_method_with_options(capsys):
    assert main(["methods", "--json"]) == 0
    methods = json.loads(capsys.readouterr().out)
    assert "lookup" in methods
    assert {"n_levels", "policy", "texture"} <= {f["name"] for f in methods["lookup"]}
    assert main(["methods"]) == 0
    assert "policy" in capsys.readouterr().out


# the command line prints the warning for a color input (as a "warning:" line): shown as outside
# the tests, not an error
def test_train_colorize_evaluate_round_trip(tmp_path, lookup_model, ref_png, coffee, capsys):
    assert json.loads((lookup_model / "config.json").read_text())["method"] == "lookup"
    gray = tmp_path / "in" / "coffee.png"
    gray.parent.mkdir()
    iio.imwrite(gray, (coffee.mean(-1) * 255).astype(np.uint8))
    tif = tmp_path / "in" / "stack.tif"
    tifffile.imwrite(
        tif, np.stack([(coffee.mean(-1) * 65535).astype(np.uint16)] * 2), photometric="minisblack"
    )
    out = tmp_path / "out"
    assert (
        main(
            ["colorize", str(gray.parent), "--model", str(lookup_model), "--out-dir", str(out), "--save-lab"]
        )
        == 0
    )
    rgb = iio.imread(out / "coffee_rgb.png")
    assert rgb.shape == (200, 300, 3) and rgb.dtype == np.uint8
    assert tifffile.imread(out / "stack_rgb.tif").shape == (2, 200, 300, 3)
    assert tifffile.imread(out / "coffee_L.tif").shape == (200, 300)
    assert tifffile.imread(out / "coffee_ab.tif").shape == (200, 300, 2)
    # a color input is reduced to gray first (with a warning), so users can test on color photos
    assert (
        main(["colorize", str(ref_png), "--model", str(lookup_model), "--out-dir", str(tmp_path / "o2")]) == 0
    )
    capsys.readouterr()
    js = tmp_path / "m.json"
    assert (
        main(["evaluate", "--pred", str(out / "coffee_rgb.png"), "--truth", str(ref_png), "--json", str(js)])
        == 0
    )
    table = capsys.readouterr().out
    assert "CIEDE2000" in table and "mean" in table
    metrics = json.loads(js.read_text())
    assert set(metrics["mean"]) == {
        "psnr",
        "ssim",
        "delta_e2000",
        "colorfulness",
        "delta_colorfulness",
        "auc",
    }
    # pairing by stem, ignoring the _rgb suffix
    assert main(["evaluate", "--pred", str(out), "--truth", str(ref_png.parent)]) == 0
    assert "coffee_rgb.png" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["train", "--method", "lookup", "--images", "MISSING", "--out", "OUT"], "no such file"),
        (["train", "--method", "nope", "--images", "REF", "--out", "OUT"], "unknown method"),
        (
            ["train", "--method", "lookup", "--images", "REF", "--out", "OUT", "--config", "bogus=1"],
            "unknown config key",
        ),
        (["train", "--method", "lookup", "--images", "EMPTY", "--out", "OUT"], "no images"),
        (["colorize", "CORRUPT", "--model", "MODEL", "--out-dir", "OUT"], "cannot read image"),
        (["colorize", "REF", "--model", "EMPTY", "--out-dir", "OUT"], "not a model folder"),
    ],
)
def test_bad_input_is_one_line_error_with_status_2(tmp_path, lookup_model, ref_png, capsys, argv, msg):
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.png").write_bytes(b"garbage")
    subs = {
        "MISSING": str(tmp_path / "missing.png"),
        "REF": str(ref_png),
        "OUT": str(tmp_path / "o"),
        "EMPTY": str(tmp_path / "empty"),
        "CORRUPT": str(tmp_path / "corrupt.png"),
        "MODEL": str(lookup_model),
    }
    code = main([subs.get(a, a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert msg in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_entry_point_runs_and_exits_cleanly(tmp_path):
    exe = Path(sys.executable).parent / "napari-colorize"
    r = subprocess.run(
        [str(exe), "colorize", str(tmp_path / "x.png"), "--model", str(tmp_path), "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no such file" in r.stderr


_PROBE = (
    "import sys; from napari_colorize.cli import main; rc = main(sys.argv[1:]); "
    "print(rc, 'tensorflow' in sys.modules)"
)


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["train", "--method", "no-such-method", "--images", "REF", "--out", "OUT"], "unknown method"),
        (["train", "--method", "window", "--images", "REF", "--out", "OUT", "--config", "bogus=1"], "bogus"),
        (["colorize", "REF", "--model", "default", "--out-dir", "OUT", "--tile", "-8"], "tile"),
        (["colorize", "REF", "--model", "default", "--out-dir", "OUT", "--tile", "big"], "tile"),
        (["colorize", "MISSING", "--model", "default", "--out-dir", "OUT"], "no such file"),
        (["colorize", "REF", "--model", "no-such-model", "--out-dir", "OUT"], "no-such-model"),
        (["colorize", "REF", "--model", "default", "--out-dir", "OUT", "--blend", "soft"], "blend"),
        (
            ["colorize", "REF", "--model", "default", "--out-dir", "OUT", "--percentiles", "50", "5"],
            "--percentiles must satisfy 0 <= low < high",
        ),
        (["--no-such-option"], "error"),
        (["--backend", "nope", "methods"], "unknown Keras backend"),
    ],
)
def test_bad_invocations_print_one_line_and_never_import_tensorflow(tmp_path, ref_png, argv, msg):
    subs = {"REF": str(ref_png), "OUT": str(tmp_path / "o"), "MISSING": str(tmp_path / "missing.tif")}
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, *[subs.get(a, a) for a in argv]],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr, r.stderr


@pytest.mark.parametrize("argv", [["--version"], ["methods"], ["methods", "--json"]])
def test_version_and_methods_never_import_tensorflow(argv):
    r = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split()[-2:] == ["0", "False"], (r.stdout, r.stderr)
    assert r.stderr == ""


def test_verbose_is_accepted_before_and_after_the_command():
    from napari_colorize.cli import build_parser

    assert build_parser().parse_args(["--verbose", "methods"]).verbose is True
    assert build_parser().parse_args(["methods", "-v"]).verbose is True
    assert build_parser().parse_args(["methods"]).verbose is False


def test_evaluate_mean_skips_infinite_psnr_and_writes_strict_json(tmp_path, ref_png, capsys):
    js = tmp_path / "m.json"
    # identical images: PSNR is infinite
    assert main(["evaluate", "--pred", str(ref_png), "--truth", str(ref_png), "--json", str(js)]) == 0
    text = js.read_text()
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text)
    assert data["mean"]["psnr"] is None and data["mean"]["delta_e2000"] == pytest.approx(0, abs=1e-6)


def test_normalize_records_limits_in_the_tiff(tmp_path, lookup_model, coffee):
    from napari_colorize.color import L2gray, rgb2L

    g8 = (L2gray(rgb2L(coffee)) * 255 + 0.5).astype(np.uint8)
    g12 = (g8.astype(np.uint16) * 16).astype(np.uint16)  # 12-bit range in uint16
    tifffile.imwrite(tmp_path / "g12.tif", g12)
    out = tmp_path / "o"
    argv = ["colorize", str(tmp_path / "g12.tif"), "--model", str(lookup_model), "--out-dir", str(out)]
    assert main([*argv, "--normalize", "percentile", "--percentiles", "0", "100"]) == 0
    with tifffile.TiffFile(out / "g12_rgb.tif") as tif:
        meta = tif.shaped_metadata[0]
    assert meta["normalize"] == "percentile"
    assert meta["limits"] == [float(g12.min()), float(g12.max())]


@pytest.fixture
def hints_files(tmp_path):
    """A 40 x 50 gray PNG, a 3-plane TIFF stack and hint files, good and bad."""
    gray = np.tile(np.linspace(30, 220, 50, dtype=np.uint8), (40, 1))
    iio.imwrite(tmp_path / "gray.png", gray)
    iio.imwrite(tmp_path / "gray2.png", gray)
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([gray] * 3), photometric="minisblack")
    files = {
        "good.csv": "y,x,r,g,b\n5,5,200,30,30\n",
        "header.csv": "row,col,r,g,b\n5,5,200,30,30\n",
        "text.csv": "y,x,r,g,b\n5,five,200,30,30\n",
        "range.csv": "y,x,r,g,b\n5,5,300,30,30\n",
        "outside.csv": "y,x,r,g,b\n45,5,200,30,30\n",
        "plane.csv": "plane,y,x,r,g,b\n3,5,5,200,30,30\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    marked = np.repeat(gray[..., None], 3, axis=-1)
    iio.imwrite(tmp_path / "small_marked.png", marked[:30])
    return tmp_path


@pytest.mark.parametrize(
    "inputs,flag,hints,msg",
    [
        (["gray.png"], "--hints", "header.csv", "header"),
        (["gray.png"], "--hints", "text.csv", "not a number"),
        (["gray.png"], "--hints", "range.csv", "out of range"),
        (["gray.png"], "--hints", "outside.csv", "outside the image"),
        (["stack.tif"], "--hints", "plane.csv", "3 planes"),
        (["gray.png"], "--hints", "missing.csv", "no such hints file"),
        (["gray.png"], "--hints-image", "small_marked.png", "differ in size"),
        (["gray.png", "gray2.png"], "--hints", "good.csv", "single input"),
    ],
)
def test_bad_hints_are_one_line_errors_before_tensorflow(hints_files, inputs, flag, hints, msg):
    d = hints_files
    argv = ["colorize", *[str(d / f) for f in inputs], "--model", "propagate", flag, str(d / hints)]
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv, "--out-dir", str(d / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.stdout.split() == ["2", "False"], (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr, r.stderr
    assert not (d / "out").exists() or not any((d / "out").iterdir())


def test_hints_and_hints_image_exclude_each_other(hints_files, capsys):
    d = hints_files
    argv = ["colorize", str(d / "gray.png"), "--model", "propagate", "--out-dir", str(d / "o")]
    assert main([*argv, "--hints", str(d / "good.csv"), "--hints-image", str(d / "small_marked.png")]) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_stack_smoothing_on_the_command_line(hints_files, capsys):
    d = hints_files
    argv = ["colorize", str(d / "stack.tif"), "--model", "propagate", "--out-dir", str(d / "o")]
    assert main([*argv, "--stack-smoothing", "-1"]) == 2
    assert "stack_smoothing" in capsys.readouterr().err
    csv = d / "stack.csv"
    csv.write_text("plane,y,x,r,g,b\n0,5,5,200,30,30\n")
    assert main([*argv, "--stack-smoothing", "2", "--hints", str(csv)]) == 0
    assert tifffile.imread(d / "o" / "stack_rgb.tif").shape == (3, 40, 50, 3)


def test_devices_reports_the_backend_and_where_it_computes(capsys):
    from napari_colorize.cli import main

    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "backend tensorflow" in out and "computes on the" in out

"""The built-in default model for users: the default name, saturation, confidence, the honest demo."""

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import napari_colorize as nc
from napari_colorize import engine
from napari_colorize.catalogue import DEFAULT_MODEL, MODELS_ENV, builtin_models
from napari_colorize.cli import main
from napari_colorize.color import L2gray, gray2L, rgb2L, rgb2lab
from napari_colorize.demo import HELDOUT_SAMPLES, hints_from_truth, run_demo
from napari_colorize.errors import ConfigError
from napari_colorize.methods.lookup import LookupColorizer

REPO = Path(__file__).resolve().parents[2]


def _fake_confidence(self, L, *, hints=None):
    """A stand-in confidence: high where the image is bright, 1 at hinted pixels."""
    conf = np.clip(np.asarray(L, np.float32) / 100.0, 0, 1)
    if hints is not None:
        conf = np.maximum(conf, np.asarray(hints.mask, np.float32))
    return conf


@pytest.fixture(scope="module")
def lookup(coffee):
    return nc.train("lookup", [coffee])


@pytest.fixture
def confident(monkeypatch):
    """Lookup models get a ``predict_confidence`` for the test (as siggraph17 has)."""
    monkeypatch.setattr(LookupColorizer, "predict_confidence", _fake_confidence, raising=False)


@pytest.fixture
def stand_in_default(tmp_path, monkeypatch, lookup):
    """A lookup model saved as the user model ``default`` (it shadows a built-in one)."""
    models = tmp_path / "models"
    lookup.save(models / DEFAULT_MODEL)
    monkeypatch.setenv(MODELS_ENV, str(models))
    return models / DEFAULT_MODEL


@pytest.fixture
def gray_png(tmp_path, coffee):
    p = tmp_path / "in" / "coffee.png"
    p.parent.mkdir()
    iio.imwrite(p, (L2gray(rgb2L(coffee)) * 255 + 0.5).astype(np.uint8))
    return p


# -- saturation --------------------------------------------------------------------------------
def test_saturation_one_is_the_models_output_exactly(lookup, coffee):
    gray = L2gray(rgb2L(coffee))
    plain = nc.colorize(gray, lookup)
    same = nc.colorize(gray, lookup, saturation=1.0)
    np.testing.assert_array_equal(plain.ab, same.ab)
    np.testing.assert_array_equal(plain.rgb, same.rgb)


def test_saturation_zero_gives_the_gray_input(lookup, coffee):
    gray = L2gray(rgb2L(coffee))
    res = nc.colorize(gray, lookup, saturation=0, normalize="none")
    assert not np.any(res.ab)
    np.testing.assert_allclose(res.rgb, np.repeat(gray[..., None], 3, axis=-1), atol=2e-3)


def test_saturation_scales_chroma_also_lazily(lookup, coffee):
    import dask.array as da

    gray = L2gray(rgb2L(coffee))
    plain = nc.colorize(gray, lookup)
    more = nc.colorize(gray, lookup, saturation=1.5)
    np.testing.assert_allclose(more.ab, 1.5 * plain.ab, rtol=1e-6, atol=1e-5)
    lazy = nc.colorize(da.from_array(gray, chunks=(100, 150)), lookup, saturation=1.5)
    np.testing.assert_allclose(np.asarray(lazy.ab), more.ab, atol=1e-4)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), "vivid", True])
def test_bad_saturation_is_refused(lookup, bad):
    with pytest.raises(ConfigError, match="saturation"):
        nc.colorize(np.zeros((16, 16), np.float32), lookup, saturation=bad)


# -- confidence --------------------------------------------------------------------------------
def test_confidence_of_a_model_without_one_is_a_clear_error(lookup):
    with pytest.raises(ConfigError, match="no confidence"):
        nc.colorize(np.zeros((16, 16), np.float32), lookup, confidence=True)


def test_confidence_per_plane_with_its_hints(lookup, confident, coffee):
    gray = L2gray(rgb2L(coffee))
    stack = np.stack([gray, gray[::-1]])
    hints = nc.Hints.from_pixels(stack.shape, [[1, 5, 7]], [[0.0, 0.0]])  # one gray hint on plane 1
    res = nc.colorize(stack, lookup, hints=hints, confidence=True, normalize="none")
    assert res.confidence.shape == stack.shape and res.confidence.dtype == np.float32
    assert 0 <= res.confidence.min() and res.confidence.max() <= 1
    L = gray2L(stack, limits=(0, 1))
    np.testing.assert_allclose(res.confidence[0], np.clip(L[0] / 100, 0, 1), atol=1e-5)
    assert res.confidence[1, 5, 7] == 1.0  # the hint reached its own plane only
    assert res.confidence[0, 5, 7] < 1.0
    assert nc.colorize(gray, lookup).confidence is None


# -- command line --------------------------------------------------------------------------------
def test_colorize_without_model_uses_the_default(tmp_path, gray_png, stand_in_default, lookup, capsys):
    out = tmp_path / "out"
    assert main(["colorize", str(gray_png), "--out-dir", str(out)]) == 0
    named = tmp_path / "named"
    assert main(["colorize", str(gray_png), "--model", DEFAULT_MODEL, "--out-dir", str(named)]) == 0
    np.testing.assert_array_equal(iio.imread(out / "coffee_rgb.png"), iio.imread(named / "coffee_rgb.png"))
    hints = tmp_path / "h.csv"
    hints.write_text("y,x,r,g,b,radius\n50,60,0,200,0,4\n")
    guided = tmp_path / "guided"
    argv = [
        "colorize",
        str(gray_png),
        "--model",
        DEFAULT_MODEL,
        "--hints",
        str(hints),
        "--out-dir",
        str(guided),
    ]
    assert main(argv) == 0
    assert not np.array_equal(iio.imread(guided / "coffee_rgb.png"), iio.imread(out / "coffee_rgb.png"))


def test_missing_default_is_a_one_line_error(tmp_path, gray_png, monkeypatch, capsys):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "no-models"))
    monkeypatch.setattr("napari_colorize.catalogue.builtin_models", lambda: {})
    assert main(["colorize", str(gray_png), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and DEFAULT_MODEL in err and "--model" in err


def test_cli_saturation_and_confidence(tmp_path, gray_png, stand_in_default, confident, capsys):
    gray8 = iio.imread(gray_png)
    out = tmp_path / "o"
    argv = ["colorize", str(gray_png), "--out-dir", str(out), "--saturation", "0", "--save-confidence"]
    assert main(argv) == 0
    rgb = iio.imread(out / "coffee_rgb.png")
    assert np.abs(rgb.astype(int) - gray8[..., None].astype(int)).max() <= 1  # gray
    conf = iio.imread(out / "coffee_confidence.png")
    assert conf.dtype == np.uint8 and conf.shape == gray8.shape
    # TIFF input gives a float32 confidence in 0..1
    tif = tmp_path / "in" / "g.tif"
    tifffile.imwrite(tif, gray8)
    assert main(["colorize", str(tif), "--out-dir", str(out), "--save-confidence"]) == 0
    c = tifffile.imread(out / "g_confidence.tif")
    assert c.dtype == np.float32 and c.shape == gray8.shape and 0 <= c.min() and c.max() <= 1


def test_cli_refuses_bad_saturation_and_a_model_without_confidence(
    tmp_path, gray_png, stand_in_default, capsys
):
    assert main(["colorize", str(gray_png), "--out-dir", str(tmp_path), "--saturation", "-1"]) == 2
    assert "saturation" in capsys.readouterr().err
    assert main(["colorize", str(gray_png), "--out-dir", str(tmp_path / "o"), "--save-confidence"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no confidence" in err and "\n" not in err
    assert not (tmp_path / "o" / "coffee_rgb.png").exists()  # refused before anything was written


# -- the demo --------------------------------------------------------------------------------------
def test_demo_samples_are_the_corpus_held_out_photos():
    manifest = REPO / "scripts" / "corpus_manifest.json"
    if not manifest.is_file():
        pytest.skip("no scripts/corpus_manifest.json in this tree")
    split = {im["name"]: im["split"] for im in json.loads(manifest.read_text())["images"]}
    for name in HELDOUT_SAMPLES:
        assert split[f"skimage/{name}"] == "heldout"


def test_hints_from_truth_are_seeded_patch_means(coffee):
    a = hints_from_truth(coffee, 20, seed=3)
    b = hints_from_truth(coffee, 20, seed=3)
    assert 15 <= len(a) <= 20
    np.testing.assert_array_equal(a.ab, b.ab)
    y, x = np.argwhere(a.mask > 0)[0]
    true_ab = rgb2lab(coffee)[..., 1:]
    win = true_ab[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 2).mean(0)
    np.testing.assert_allclose(a.ab[y, x], win, atol=1e-3)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_hints_from_truth_read_the_truth_in_any_dtype(coffee, dtype):
    """uint8 and uint16 photos (as files and the corpus give them) are not read as 0..1 floats."""
    from napari_colorize.color import to_float01

    f01 = to_float01(coffee)
    truth = {"uint8": (f01 * 255).round().astype(np.uint8), "uint16": (f01 * 65535).round().astype(np.uint16)}
    a = hints_from_truth(truth.get(dtype, f01), 20, seed=3, radius=2)
    b = hints_from_truth(f01, 20, seed=3, radius=2)
    both = (a.mask > 0) & (b.mask > 0)
    assert both.sum() >= 0.98 * max((a.mask > 0).sum(), (b.mask > 0).sum())  # 8 bits move an L edge a hair
    np.testing.assert_allclose(a.ab[both], b.ab[both], atol=0.5)


def test_demo_says_unseen_and_hints_improve_the_score(tmp_path, capsys):
    # propagate: untrained, fast; the real default is exercised in test_demo_with_the_default
    assert main(["demo", "--out", str(tmp_path / "d"), "--model", "propagate", "--samples", "rocket"]) == 0
    text = capsys.readouterr().out
    assert "never seen" in text and "held out" in text and "20 hints" in text
    m = json.loads((tmp_path / "d" / "metrics.json").read_text())
    r = m["per_image"]["rocket"]
    assert r["seen_in_training"] is False
    assert r["with_hints"]["delta_e2000"] < r["automatic"]["delta_e2000"]
    for suffix in ("_gray.png", "_auto.png", "_hints.png", "_truth.png", "_side_by_side.png"):
        assert (tmp_path / "d" / f"rocket{suffix}").is_file()


def test_demo_on_a_sample_from_training_does_not_claim_it_is_unseen(tmp_path, capsys):
    assert (
        main(["demo", "--out", str(tmp_path), "--model", "propagate", "--samples", "coffee", "--hints", "5"])
        == 0
    )
    text = capsys.readouterr().out
    assert "never seen" not in text and "may have been seen" in text


def test_demo_with_a_users_model_makes_no_claim_about_its_training(tmp_path, stand_in_default, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--samples", "rocket", "--hints", "3"]) == 0
    text = capsys.readouterr().out
    assert "never seen" not in text and "held out of the built-in models' training" in text


def test_demo_refuses_unknown_samples_and_negative_hints(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--samples", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--hints", "-1"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(DEFAULT_MODEL not in builtin_models(), reason="the built-in default model is not here")
def test_demo_with_the_default(tmp_path, capsys):
    res = run_demo(tmp_path)
    assert set(res["per_image"]) == set(HELDOUT_SAMPLES)
    text = capsys.readouterr().out
    assert "never seen" in text
    mean = res["mean"]
    assert mean["with_hints"]["delta_e2000"] < mean["automatic"]["delta_e2000"]
    assert mean["with_hints"]["delta_e2000"] < mean["gray"]["delta_e2000"]


def test_engine_confidence_refuses_a_wrong_shape(lookup, monkeypatch):
    monkeypatch.setattr(
        LookupColorizer, "predict_confidence", lambda self, L, hints=None: L[:2], raising=False
    )
    with pytest.raises(ConfigError, match="shape"):
        engine.predict_confidence(np.zeros((8, 8), np.float32), lookup)

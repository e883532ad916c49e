"""Hints never hurt: a property test over every method that takes hints, natively or fused.

A person picks true colors and clicks them with a radius; the result must never be worse
than the same model without hints, and near each hint it must take the hint's color.  Swept
over hint radii 0..5 (the widget's default radius is 3), hint counts and photos that ship
with scikit-image, for the built-in models and for every trainable method (trained for a
few seconds on another photo: weak models are the ones hints must not make worse).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import napari_colorize as nc
from napari_colorize.color import lab2rgb, rgb2lab
from napari_colorize.metrics import delta_e2000_lab

pytestmark = pytest.mark.slow

RADII = (0, 1, 2, 3, 5)
COUNTS = (1, 5, 20)

#: a few seconds of training per method, on chelsea (the tests colorize other photos)
QUICK = {
    "lookup": {},
    "window": {"arch": "mlp", "epochs": 1, "samples_per_epoch": 4096, "n_colors": 8},
    "autoencoder": {"epochs": 1, "steps_per_epoch": 4, "crop_size": 64, "input_size": 64, "val_split": 0},
    "vgg_autoencoder": {
        "epochs": 1, "steps_per_epoch": 2, "crop_size": 64, "input_size": 64, "val_split": 0, "batch_size": 2,
    },
    "eccv16": {
        "epochs": 1, "width": 0.125, "crop_size": 64, "input_size": 64, "val_split": 0, "crops_per_image": 4,
    },
    "siggraph17": {"epochs": 1, "width": 0.125, "crop_size": 64, "val_split": 0, "crops_per_image": 4},
}


def _photo(name: str, side: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """(gray image whose L* is the truth's, truth Lab) for a scikit-image photo."""
    from skimage import data
    from skimage.transform import resize

    rgb = getattr(data, name)()
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    rgb = resize(rgb, (round(h * s), round(w * s)), anti_aliasing=True).astype(np.float32)
    lab = rgb2lab(rgb)
    gray = lab2rgb(np.stack([lab[..., 0], 0 * lab[..., 0], 0 * lab[..., 0]], -1))[..., 0]
    return gray.astype(np.float32), lab


PHOTOS = {name: _photo(name) for name in ("coffee", "astronaut", "rocket")}


def _points(truth_lab: np.ndarray, n: int, radius: int, seed: int) -> np.ndarray:
    """``n`` hints a person would give: a pixel, the true color there (3x3 mean), a radius."""
    rng = np.random.default_rng(seed)
    H, W = truth_lab.shape[:2]
    rgb = lab2rgb(truth_lab) * 255
    rows = []
    for _ in range(n):
        y, x = int(rng.integers(1, H - 1)), int(rng.integers(1, W - 1))
        rows.append([y, x, *rgb[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(0), radius])
    return np.asarray(rows, np.float64)


def _de(truth_lab: np.ndarray, ab: np.ndarray) -> float:
    pred = np.concatenate([truth_lab[..., :1], ab], axis=-1)
    return float(delta_e2000_lab(truth_lab, pred).mean())


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, object]:
    out: dict[str, object] = {"default": "default", "imagenet": "imagenet"}
    out["propagate"] = "propagate"
    ref = tmp_path_factory.mktemp("ref") / "chelsea.png"
    from skimage import data, io

    io.imsave(ref, data.chelsea()[::2, ::2], check_contrast=False)
    for method, cfg in QUICK.items():
        out[method] = nc.train(method, [str(ref)], config=cfg)
    return out


#: the ImageNet-encoder built-in (issue 23) misses the property on astronaut: 5 one-pixel hints
#: give 10.72 against 10.34 without (its automatic colours are colourful, and the fusion starts
#: from them); reported in docs/quality.md, kept here so that a fix shows up as XPASS
IMAGENET = pytest.param(
    "imagenet",
    marks=pytest.mark.xfail(reason="imagenet: 5 hints worsen astronaut (10.72 > 10.34)", strict=False),
)


@pytest.mark.parametrize("model_name", ["default", IMAGENET, "propagate", *QUICK])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_hints_from_the_truth_never_make_a_result_worse(models, model_name, photo):
    gray, truth = PHOTOS[photo]
    model = models[model_name]
    with warnings.catch_warnings():
        # an automatic result may be nearly gray (several here are: quickly trained models, the
        # built-in default on coffee and rocket): the hints are measured against it all the same
        warnings.simplefilter("ignore", nc.NearGrayWarning)
        base = None if model_name == "propagate" else _de(truth, nc.colorize(gray, model).ab)
    gray_de = _de(truth, np.zeros(truth.shape[:2] + (2,), np.float32))
    failures = []
    # propagate starts from gray and fills a hint's whole region of similar L (Levin et al.'s
    # model): a single hint can tint most of a photo (astronaut: 11.3 -> 17.1 CIEDE2000), a known
    # limit of the method, so it is held to the property from 5 hints on.  Models fuse hints with
    # their own prediction and are held to it from one hint on.
    counts = COUNTS[1:] if model_name == "propagate" else COUNTS
    for radius in RADII:
        for n in counts:
            pts = _points(truth, n, radius, seed=100 * n + radius)
            res = nc.colorize(gray, model, hints=pts)
            de = _de(truth, res.ab)
            ref = gray_de if base is None else base
            # never worse than without hints (a hair of solver noise allowed)
            if de > ref + 0.05:
                failures.append(f"r={radius} n={n}: {de:.2f} > {ref:.2f} without hints")
            # at the hint centres, the result takes the hint's colour
            hint_ab = rgb2lab(pts[:, None, 2:5].astype(np.float32) / 255)[:, 0, 1:]
            yx = pts[:, :2].astype(int)
            got = res.ab[yx[:, 0], yx[:, 1]]
            err = float(np.abs(got - hint_ab).max())
            if err > 2.0:
                failures.append(f"r={radius} n={n}: a hint centre is {err:.1f} ab units off its colour")
    assert not failures, f"{model_name} on {photo}: " + "; ".join(failures)


@pytest.mark.parametrize("builtin", ["default", "imagenet"])
def test_wide_hints_are_no_worse_than_narrow_ones_with_the_default_model(builtin):
    """The widget's radius (3) must not lose to radius 1 (the failure that turned photos teal)."""
    means = {}
    for radius in (1, 3):
        des = []
        for gray, truth in PHOTOS.values():
            pts = _points(truth, 20, radius, seed=7)
            pts[:, 5] = radius
            des.append(_de(truth, nc.colorize(gray, builtin, hints=pts).ab))
        means[radius] = float(np.mean(des))
    assert means[3] <= means[1] + 0.05, means

"""Metrics against hand-computed values and published reference data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import color as skcolor

from napari_colorize import metrics
from napari_colorize.errors import InputError


def _const(shape, rgb, dtype=np.uint8):
    return np.broadcast_to(np.asarray(rgb, dtype=dtype), tuple(shape) + (3,)).copy()


# ---------------------------------------------------------------- PSNR


def test_psnr_constant_error_uint8():
    truth = _const((16, 20), (100, 100, 100))
    pred = _const((16, 20), (110, 110, 110))
    # every value off by 10/255: MSE = (10/255)^2, PSNR = 20 log10(255/10)
    assert metrics.psnr(pred, truth) == pytest.approx(20 * math.log10(255 / 10), abs=1e-4)  # float32 inputs


def test_psnr_error_in_one_channel_only():
    truth = np.zeros((8, 8, 3), np.float64)
    pred = truth.copy()
    pred[..., 1] = 0.5  # MSE = 0.25 / 3
    assert metrics.psnr(pred, truth) == pytest.approx(10 * math.log10(3 / 0.25), abs=1e-5)


def test_psnr_identical_is_inf():
    img = _const((5, 5), (1, 2, 3))
    assert metrics.psnr(img, img) == math.inf


# ---------------------------------------------------------------- SSIM


def test_ssim_identical_is_one():
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3)).astype(np.float32)
    assert metrics.ssim(img, img) == pytest.approx(1.0)


def test_ssim_constant_images_by_hand():
    # flat images: variances and covariance vanish, SSIM is the luminance term
    # (2 a b + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * data_range)^2
    a, b = 0.5, 0.6
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    got = metrics.ssim(np.full((20, 20, 3), b), np.full((20, 20, 3), a))
    assert got == pytest.approx(expected, abs=1e-6)


def test_ssim_small_images_use_smaller_window():
    rng = np.random.default_rng(1)
    img = rng.random((5, 6, 3))
    assert metrics.ssim(img, img) == pytest.approx(1.0)
    with pytest.raises(InputError):
        metrics.ssim(img[:2], img[:2])


# ---------------------------------------------------------------- CIEDE2000

# Sharma, Wu & Dalal (2005), table 1: pairs 1, 2, 3, 7, 17, 25 and 26
SHARMA = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
]


@pytest.mark.parametrize("lab1, lab2, expected", SHARMA)
def test_delta_e2000_sharma_table(lab1, lab2, expected):
    d = metrics.delta_e2000_lab(np.array([lab1]), np.array([lab2]))
    assert d.shape == (1,)
    assert d[0] == pytest.approx(expected, abs=1e-4)


def test_delta_e2000_rgb_matches_sharma_pair_25():
    # pair 25 lies inside the sRGB gamut: through RGB and back we must get
    # the published difference (up to float32 round-off)
    lab1, lab2, expected = SHARMA[5]
    rgb1 = skcolor.lab2rgb(np.array(lab1)[None, None])
    rgb2 = skcolor.lab2rgb(np.array(lab2)[None, None])
    assert 0 < rgb1.min() and rgb1.max() < 1 and 0 < rgb2.min() and rgb2.max() < 1
    img1 = np.broadcast_to(rgb1, (4, 4, 3))
    img2 = np.broadcast_to(rgb2, (4, 4, 3))
    assert metrics.delta_e2000(img1, img2) == pytest.approx(expected, abs=2e-3)


def test_delta_e2000_identical_is_zero():
    rng = np.random.default_rng(2)
    img = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    assert metrics.delta_e2000(img, img) == 0.0


def test_delta_e2000_is_a_mean_over_pixels():
    a = _const((4, 4), (128, 128, 128))
    b = a.copy()
    b[:2] = (200, 40, 40)  # half the pixels differ
    full = metrics.delta_e2000(_const((4, 4), (200, 40, 40)), a)
    assert metrics.delta_e2000(b, a) == pytest.approx(full / 2, rel=1e-6)


# ---------------------------------------------------------------- colorfulness


def test_colorfulness_by_hand():
    # two red and two blue pixels, in 0..255:
    # rg = R - G = [255, 0, 255, 0];  yb = (R + G) / 2 - B = [127.5, -255, 127.5, -255]
    img = np.array([[[255, 0, 0], [0, 0, 255]], [[255, 0, 0], [0, 0, 255]]], np.uint8)
    std_rg, mean_rg = 127.5, 127.5
    std_yb, mean_yb = 191.25, -63.75
    expected = math.sqrt(std_rg**2 + std_yb**2) + 0.3 * math.sqrt(mean_rg**2 + mean_yb**2)
    assert metrics.colorfulness(img) == pytest.approx(expected, rel=1e-9)


def test_colorfulness_constant_color_is_mean_term_only():
    img = _const((3, 3), (200, 100, 50))
    rg, yb = 100.0, 150.0 - 50.0
    assert metrics.colorfulness(img) == pytest.approx(0.3 * math.hypot(rg, yb), rel=1e-6)  # float32


def test_colorfulness_gray_is_zero_and_delta():
    gray = _const((6, 6), (90, 90, 90))
    color = _const((6, 6), (200, 100, 50))
    assert metrics.colorfulness(gray) == 0.0
    assert metrics.delta_colorfulness(gray, color) == pytest.approx(-metrics.colorfulness(color))
    assert metrics.delta_colorfulness(color, gray) == pytest.approx(metrics.colorfulness(color))


# ---------------------------------------------------------------- AuC


@pytest.mark.parametrize("da, db", [(3.0, 4.0), (7.3, 0.0), (0.0, 0.0), (100.0, 100.0), (0.0, 150.0)])
def test_auc_constant_ab_error_by_hand(da, db):
    truth = np.zeros((10, 12, 2))
    truth[..., 0] = 20.0
    pred = truth + np.array([da, db])
    d = math.hypot(da, db)
    # every pixel is within threshold t for the integer t in ceil(d)..150
    n_within = max(0, 150 - math.ceil(d) + 1)
    assert metrics.auc_ab(pred, truth) == pytest.approx(n_within / 151, abs=1e-12)


def test_auc_mixture_by_hand():
    truth = np.zeros((2, 2, 2))
    pred = truth.copy()
    pred[0, 0] = (200.0, 0.0)  # never within 150
    pred[0, 1] = (0.0, 10.0)  # within for t = 10..150 (141 thresholds)
    expected = (0 + 141 / 151 + 1 + 1) / 4
    assert metrics.auc_ab(pred, truth) == pytest.approx(expected, abs=1e-12)


def test_auc_matches_its_definition_on_random_errors():
    rng = np.random.default_rng(3)
    truth = rng.normal(0, 30, (40, 40, 2))
    pred = truth + rng.normal(0, 40, (40, 40, 2))
    err = np.linalg.norm(pred - truth, axis=-1)
    by_definition = np.mean([np.mean(err <= t) for t in range(151)])
    assert metrics.auc_ab(pred, truth) == pytest.approx(by_definition, abs=1e-12)


def test_auc_rgb_identical_is_one_and_gray_is_lower():
    rng = np.random.default_rng(4)
    img = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
    assert metrics.auc(img, img) == pytest.approx(1.0)
    lab = skcolor.rgb2lab(img)
    lab[..., 1:] = 0
    gray = skcolor.lab2rgb(lab)
    assert metrics.auc(gray, img) < 1.0


# ---------------------------------------------------------------- evaluate_pair


def test_evaluate_pair_keys_and_types():
    rng = np.random.default_rng(5)
    truth = rng.random((32, 40, 3)).astype(np.float32)
    pred = np.clip(truth + rng.normal(0, 0.05, truth.shape), 0, 1).astype(np.float32)
    res = metrics.evaluate_pair(pred, truth)
    assert tuple(res) == metrics.METRICS
    assert all(type(v) is float for v in res.values())
    assert res["psnr"] == pytest.approx(metrics.psnr(pred, truth))
    assert res["ssim"] == pytest.approx(metrics.ssim(pred, truth))
    assert res["delta_e2000"] == pytest.approx(metrics.delta_e2000(pred, truth))
    assert res["colorfulness"] == pytest.approx(metrics.colorfulness(pred))
    assert res["delta_colorfulness"] == pytest.approx(metrics.delta_colorfulness(pred, truth))
    assert res["auc"] == pytest.approx(metrics.auc(pred, truth))
    assert 0 < res["ssim"] < 1 and 0 < res["auc"] < 1 and res["delta_e2000"] > 0


def test_evaluate_pair_accepts_uint8_uint16_float_and_rgba():
    rng = np.random.default_rng(6)
    t8 = (rng.random((12, 12, 3)) * 255).astype(np.uint8)
    p8 = (rng.random((12, 12, 3)) * 255).astype(np.uint8)
    ref = metrics.evaluate_pair(p8, t8)
    as16 = metrics.evaluate_pair(p8.astype(np.uint16) * 257, t8.astype(np.uint16) * 257)
    asf = metrics.evaluate_pair(p8 / 255.0, t8.astype(np.float32) / 255)
    rgba = np.concatenate([p8, np.full((12, 12, 1), 255, np.uint8)], axis=-1)
    asrgba = metrics.evaluate_pair(rgba, t8)
    for other in (as16, asf, asrgba):
        for k in metrics.METRICS:
            assert other[k] == pytest.approx(ref[k], rel=1e-4, abs=1e-4), k


def test_gray_prediction_scores_worse_than_truth_itself():
    from skimage import data
    from skimage.transform import resize

    truth = resize(data.coffee(), (100, 150), anti_aliasing=True)
    lab = skcolor.rgb2lab(truth)
    lab[..., 1:] = 0
    gray = np.clip(skcolor.lab2rgb(lab), 0, 1)
    res = metrics.evaluate_pair(gray, truth)
    assert res["delta_e2000"] > 5
    assert res["auc"] < 0.95
    assert res["colorfulness"] == pytest.approx(0.0, abs=0.5)
    assert res["delta_colorfulness"] < -10


@pytest.mark.parametrize(
    "pred, truth",
    [
        (np.zeros((8, 8, 3)), np.zeros((8, 9, 3))),  # size mismatch
        (np.zeros((8, 8)), np.zeros((8, 8))),  # gray, not RGB
        (np.zeros((8, 8, 2)), np.zeros((8, 8, 2))),  # two channels
        (np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 3))),  # a stack
        (np.full((8, 8, 3), np.nan), np.zeros((8, 8, 3))),  # NaN
        (np.zeros((0, 8, 3)), np.zeros((0, 8, 3))),  # empty
    ],
)
def test_bad_input_raises_input_error(pred, truth):
    with pytest.raises(InputError):
        metrics.evaluate_pair(pred, truth)


def test_shape_mismatch_message_is_clear():
    with pytest.raises(InputError, match="differ in size"):
        metrics.psnr(np.zeros((8, 8, 3)), np.zeros((9, 8, 3)))
    with pytest.raises(InputError, match="RGB"):
        metrics.colorfulness(np.zeros((8, 8)))


def test_mean_metrics_skips_infinite_psnr():
    rows = [
        {"psnr": math.inf, "auc": 1.0},
        {"psnr": 20.0, "auc": 0.5},
        {"psnr": 30.0, "auc": 0.75},
    ]
    m = metrics.mean_metrics(rows)
    assert m == {"psnr": 25.0, "auc": 0.75}
    with pytest.raises(InputError):
        metrics.mean_metrics([])

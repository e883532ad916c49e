"""Tests of :mod:`napari_colorize.quantize` (ab bins, soft-encoding, rebalancing, annealed mean)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from skimage import color as skcolor

from napari_colorize import quantize as Q
from napari_colorize.errors import ConfigError, InputError

HALF_DIAG = 10 * np.sqrt(2) / 2


@pytest.fixture(scope="module")
def bins():
    return Q.load_bins(10)


def test_shipped_table_shape(bins):
    assert bins.dtype == np.float32 and bins.ndim == 2 and bins.shape[1] == 2
    assert 255 <= len(bins) <= 275  # 261 on the sRGB gamut with this alignment
    assert np.all(bins % 10 == 0)  # centres on multiples of the grid
    assert len(np.unique(bins, axis=0)) == len(bins)
    order = np.lexsort((bins[:, 1], bins[:, 0]))
    np.testing.assert_array_equal(order, np.arange(len(bins)))  # sorted by a, then b


def test_random_srgb_colors_near_a_bin(bins):
    rgb = np.random.default_rng(0).integers(0, 256, (200_000, 1, 3)).astype(np.float64) / 255
    ab = skcolor.rgb2lab(rgb).reshape(-1, 3)[:, 1:]
    d, _ = cKDTree(bins).query(ab)
    assert d.max() <= HALF_DIAG + 1e-6


@pytest.mark.slow
def test_table_matches_rule_over_whole_gamut(bins):
    """Re-run the generator over all 256**3 colors; every color lies within half a bin diagonal."""
    ab = Q.srgb_gamut_ab()
    assert ab.shape == (256**3, 2)
    fresh = Q.gamut_bins(10, ab=ab)
    np.testing.assert_array_equal(fresh, bins)  # the shipped file is the rule's output
    # the rule, counted independently: distinct rounded cells (as integer ids)
    c = np.floor(ab.astype(np.float64) / 10 + 0.5).astype(np.int64)
    ids = np.unique((c[:, 0] + 100) * 1000 + (c[:, 1] + 100))
    assert len(ids) == len(bins)
    d, _ = cKDTree(bins).query(ab, workers=2)
    assert d.max() <= HALF_DIAG + 1e-6
    # no bin is empty: some color lies inside each bin's cell
    d_bins, _ = cKDTree(ab).query(bins, p=np.inf)
    assert d_bins.max() <= 5.0 + 1e-6


def test_gamut_bins_rule_on_small_input():
    ab = np.array([[0.0, 0.0], [4.9, -4.9], [5.1, 0.0], [-15.2, 24.0]], np.float32)
    out = Q.gamut_bins(10, ab=ab)
    np.testing.assert_array_equal(out, np.array([[-20, 20], [0, 0], [10, 0]], np.float32))
    with pytest.raises(ConfigError):
        Q.gamut_bins(0, ab=ab)


def test_soft_encoding(bins):
    rng = np.random.default_rng(0)
    ab = rng.uniform(-80, 80, (7, 11, 2)).astype(np.float32)
    for k in (1, 5, 10):
        z = Q.soft_encode(ab, bins, k=k, sigma=5.0)
        assert z.shape == (7, 11, len(bins)) and z.dtype == np.float32
        np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-5)
        assert np.all((z > 0).sum(-1) == k)
        # the largest weight is on the nearest bin
        np.testing.assert_array_equal(z.argmax(-1), Q.nearest_bin(ab, bins))
    # a value exactly on a bin centre with k=1 is one-hot
    z = Q.soft_encode(bins[:3], bins, k=1)
    np.testing.assert_array_equal(z.argmax(-1), [0, 1, 2])
    assert np.all(z.max(-1) == 1)
    # Gaussian weights: between two equidistant bins they are equal
    two = np.array([[0, 0], [10, 0]], np.float32)
    np.testing.assert_allclose(Q.soft_encode(np.array([5.0, 0.0]), two, k=2), [0.5, 0.5])
    w = Q.soft_encode(np.array([2.0, 0.0]), two, k=2, sigma=5.0)
    np.testing.assert_allclose(w[0] / w[1], np.exp(-(4 - 64) / 50), rtol=1e-5)
    with pytest.raises(ConfigError):
        Q.soft_encode(ab, bins, k=0)
    with pytest.raises(InputError):
        Q.soft_encode(np.zeros((3, 3)), bins)


def test_soft_encoding_matches_training_loss_targets(bins):
    """The Keras loss's soft targets equal :func:`soft_encode` of the pooled ab."""
    from keras import ops

    from napari_colorize.methods.eccv16 import network as K

    rng = np.random.default_rng(1)
    ab = rng.uniform(-60, 60, (2, 8, 8, 2)).astype(np.float32)
    pooled = ab.reshape(2, 2, 4, 2, 4, 2).mean((2, 4))
    z = Q.soft_encode(pooled, bins, k=5, sigma=5.0)
    logits = rng.normal(size=(2, 2, 2, len(bins))).astype(np.float32)
    loss = ops.convert_to_numpy(K.make_loss(bins, None, k=5, sigma=5.0)(ab, logits))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(z * logp).sum(-1).mean((1, 2))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    # with weights: each pixel weighted by its nearest bin's weight
    w = rng.uniform(0.5, 2, len(bins)).astype(np.float32)
    lw = ops.convert_to_numpy(K.make_loss(bins, w, k=5, sigma=5.0)(ab, logits))
    expected_w = (-(z * logp).sum(-1) * w[Q.nearest_bin(pooled, bins)]).mean((1, 2))
    np.testing.assert_allclose(lw, expected_w, rtol=1e-4)


def test_rebalancing_weights(bins):
    rng = np.random.default_rng(2)
    # a skewed prior: mostly near-gray colors
    ab = np.concatenate([rng.normal(0, 4, (20000, 2)), rng.uniform(-80, 80, (500, 2))]).astype(np.float32)
    prior = Q.empirical_prior(ab, bins)
    assert prior.shape == (len(bins),) and abs(prior.sum() - 1) < 1e-9
    w = Q.rebalance_weights(prior, bins, sigma=5.0, lam=0.5)
    p_s = Q.smooth_prior(prior, bins, sigma=5.0)
    assert abs(p_s.sum() - 1) < 1e-9
    assert abs(float(np.sum(p_s * w)) - 1.0) < 1e-5  # expected weight 1 under the (smoothed) prior
    # rare colors weigh more than common ones
    gray = int(np.argmin(np.abs(bins).sum(1)))
    assert w[gray] == w.min() and w.max() > 5 * w[gray]
    # lam = 1: uniform mixture only -> all weights 1
    np.testing.assert_allclose(Q.rebalance_weights(prior, bins, lam=1.0), 1.0, rtol=1e-6)
    # unnormalised weights are bounded by Q / lam (reached by an empty bin)
    norm = np.sum(p_s / ((1 - 0.5) * p_s + 0.5 / len(bins)))
    assert w.max() <= len(bins) / 0.5 / norm * (1 + 1e-5)
    with pytest.raises(ConfigError):
        Q.rebalance_weights(prior, bins, lam=2)


def test_annealed_mean_limits():
    bins = np.array([[-50, 0], [0, 0], [10, 20], [40, -30]], np.float32)
    p = np.array([0.1, 0.2, 0.45, 0.25])
    mean = (p[:, None] * bins).sum(0)
    np.testing.assert_allclose(Q.annealed_mean(p, bins, T=1.0), mean, atol=1e-4)
    np.testing.assert_allclose(Q.annealed_mean(p, bins, T=1e-3), bins[2], atol=1e-3)  # the mode
    # in between, it moves monotonically from the mean towards the mode
    d = [np.linalg.norm(Q.annealed_mean(p, bins, T=t) - bins[2]) for t in (1.0, 0.7, 0.38, 0.1)]
    assert all(a > b for a, b in zip(d, d[1:]))
    # along another axis, and with batch dims
    batch = np.stack([p, p[::-1]], axis=0)[:, :, None]  # (2, Q, 1)
    out = Q.annealed_mean(batch, bins, T=1.0, axis=1)
    assert out.shape == (2, 1, 2)
    np.testing.assert_allclose(out[0, 0], mean, atol=1e-4)
    with pytest.raises(ConfigError):
        Q.annealed_mean(p, bins, T=0)


def test_keras_decoding_matches_numpy_annealed_mean():
    """The model's decoding layer (softmax(logits / T) then the bins 1x1 conv) is the annealed mean."""
    from napari_colorize.methods.eccv16 import network as K

    bins = Q.load_bins(10)
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (1, 3, 4, len(bins))).astype(np.float32)
    layer = K.AnnealedMean(bins, 110.0)
    layer.build(logits.shape)
    for T in (1.0, 0.38):
        got = np.asarray(layer(logits, temperature=T))
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_allclose(got, Q.annealed_mean(p, bins, T=T), atol=1e-3)

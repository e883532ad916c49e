"""Method ``propagate`` (Levin et al. 2004) and its solver."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.color import rgb2lab

from napari_colorize.edge_aware_solver import PropagationOptions, laplacian, propagate
from napari_colorize.errors import ConfigError, InputError
from napari_colorize.hints import Hints
from napari_colorize.methods import get_config_class, get_method, load_model
from napari_colorize.methods.propagate import PropagateColorizer, PropagateConfig

RED, BLUE = (220, 30, 30), (30, 60, 220)


def _ab(rgb255):
    return rgb2lab(np.asarray(rgb255, np.float64).reshape(1, 1, 3) / 255.0)[0, 0, 1:]


def _two_regions(h=64, w=96, noise=0.3, seed=0):
    """A dark disc on a bright background (L 30 / 75) with a little noise."""
    yy, xx = np.mgrid[:h, :w]
    inside = (yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (h / 3) ** 2
    L = np.where(inside, 30.0, 75.0).astype(np.float32)
    L += np.random.default_rng(seed).normal(0, noise, L.shape).astype(np.float32)
    return L, inside


@pytest.mark.parametrize("solver", ["direct", "multiscale"])
def test_two_regions_take_their_hint_colors_and_the_edge_holds(solver):
    L, inside = _two_regions()
    hints = Hints.from_points([(32, 32, RED), (10, 85, BLUE)], L.shape)
    model = PropagateColorizer(solver=solver, coarse_pixels=1024)  # multiscale: two coarser levels
    ab = model.predict_ab(L, hints=hints)
    assert ab.shape == L.shape + (2,) and ab.dtype == np.float32
    # away from the boundary (2 px), each region has its hint's color
    from scipy.ndimage import binary_erosion

    core_in = binary_erosion(inside, iterations=2)
    core_out = binary_erosion(~inside, iterations=2)
    err_in = np.linalg.norm(ab[core_in] - _ab(RED), axis=-1)
    err_out = np.linalg.norm(ab[core_out] - _ab(BLUE), axis=-1)
    assert np.median(err_in) < 3 and np.median(err_out) < 3
    assert np.percentile(err_in, 95) < 10 and np.percentile(err_out, 95) < 10
    # the edge is respected: the pixels right next to it on each side keep their side's color
    from scipy.ndimage import binary_dilation

    ring_in = inside & binary_dilation(~inside)
    ring_out = ~inside & binary_dilation(inside)
    d = np.linalg.norm(_ab(RED) - _ab(BLUE))
    assert np.median(np.linalg.norm(ab[ring_in] - _ab(RED), axis=-1)) < 0.25 * d
    assert np.median(np.linalg.norm(ab[ring_out] - _ab(BLUE), axis=-1)) < 0.25 * d


def test_no_hints_gives_gray():
    L, _ = _two_regions()
    m = PropagateColorizer()
    for h in (None, Hints.none(L.shape)):
        ab = m.predict_ab(L, hints=h)
        assert ab.shape == L.shape + (2,) and not ab.any()
    assert not m.predict_ab(np.stack([L, L])).any()


def test_stack_with_hints_on_its_first_plane_is_colored_on_its_last():
    L, inside = _two_regions(h=32, w=48)
    T = 6
    # the disc drifts right by one pixel per plane
    stack = np.stack([np.roll(L, t, axis=1) for t in range(T)])
    hints = Hints.from_points([(0, 16, 16, RED), (0, 4, 44, BLUE)], stack.shape)
    ab = PropagateColorizer().predict_ab(stack, hints=hints)
    last_in = np.roll(inside, T - 1, axis=1)
    from scipy.ndimage import binary_erosion

    core_in = binary_erosion(last_in, iterations=2)
    core_out = binary_erosion(~last_in, iterations=2)
    assert np.median(np.linalg.norm(ab[-1][core_in] - _ab(RED), axis=-1)) < 5
    assert np.median(np.linalg.norm(ab[-1][core_out] - _ab(BLUE), axis=-1)) < 5
    # without the stack affinities the last plane gets nothing
    alone = PropagateColorizer(stack_weight=0.0).predict_ab(stack, hints=hints)
    assert np.abs(alone[-1]).max() < 1


def test_multiscale_agrees_with_the_exact_solve():
    """On an image of regions (random discs of random lightness), coarse-to-fine ~ the exact solve."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:120, :160]
    L = np.full((120, 160), 50.0, np.float32)
    for cy, cx, r, lum in zip(
        rng.integers(0, 120, 8), rng.integers(0, 160, 8), rng.integers(10, 35, 8), rng.integers(5, 95, 8)
    ):
        L[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = lum
    L += rng.normal(0, 0.3, L.shape).astype(np.float32)
    pts = [
        (int(y), int(x), tuple(int(c) for c in rng.integers(0, 256, 3)))
        for y, x in zip(rng.integers(0, 120, 12), rng.integers(0, 160, 12))
    ]
    hints = Hints.from_points(pts, L.shape)
    exact = PropagateColorizer(solver="direct").predict_ab(L, hints=hints)
    fast = PropagateColorizer(coarse_pixels=1200).predict_ab(L, hints=hints)  # three coarser levels
    err = np.linalg.norm(fast - exact, axis=-1)
    # between several hints of one region the interpolation is harmonic, and a point hint is a
    # coarse pixel wide on the coarse grid: the two differ a little there, not in the regions' colors
    size = np.linalg.norm(exact, axis=-1).mean()
    assert np.median(err) < 0.15 * size and err.mean() < 0.2 * size
    np.testing.assert_allclose(fast[hints.mask > 0], hints.ab[hints.mask > 0], atol=1e-4)


def test_laplacian_is_symmetric_with_zero_row_sums():
    L = np.random.default_rng(0).normal(50, 10, (3, 7, 9)).astype(np.float32)
    A = laplacian(L)
    assert A.shape == (L.size, L.size)
    assert abs(A - A.T).max() < 1e-6
    np.testing.assert_allclose(A @ np.ones(L.size, np.float32), 0, atol=1e-4)
    assert (A.diagonal() > 0).all()


def test_bad_input():
    m = PropagateColorizer()
    L, _ = _two_regions()
    with pytest.raises(InputError, match="image has shape"):
        m.predict_ab(L, hints=Hints.from_points([(1, 1, RED)], (8, 8)))
    with pytest.raises(InputError):
        m.predict_ab(np.zeros(10, np.float32))
    with pytest.raises(InputError):
        propagate(L, np.zeros((3, 3, 2)), np.zeros((3, 3)))
    with pytest.raises(ConfigError):
        PropagateColorizer(sigma=0)
    with pytest.raises(ConfigError):
        PropagateColorizer(solver="magic")
    with pytest.raises(ConfigError):
        PropagationOptions(data_weight=0)


def test_config_round_trips_and_registry():
    c = PropagateConfig(sigma=2.5, stack_weight=0.5, solver="direct")
    assert PropagateConfig.from_json(c.to_json()) == c
    assert get_config_class("propagate") is PropagateConfig
    assert get_method("propagate") is PropagateColorizer
    assert PropagateColorizer.native_hints is True


def test_needs_no_training_and_a_folder_round_trips(tmp_path):
    m = PropagateColorizer(sigma=4.0)
    assert m.fit(None) == {}
    path = m.save(tmp_path / "prop")
    info = json.loads((path / "config.json").read_text())
    assert info["method"] == "propagate" and info["config"]["sigma"] == 4.0
    back = load_model(path)
    assert isinstance(back, PropagateColorizer) and back.config == m.config
    L, _ = _two_regions(h=24, w=24)
    hints = Hints.from_points([(5, 5, RED)], L.shape)
    np.testing.assert_array_equal(back.predict_ab(L, hints=hints), m.predict_ab(L, hints=hints))


@pytest.mark.slow
def test_a_large_image_goes_coarse_to_fine_and_keeps_the_regions():
    L, inside = _two_regions(h=1024, w=1536, noise=0.5)
    hints = Hints.from_points([(512, 512, RED, 3), (100, 1400, BLUE, 3)], L.shape)
    ab = PropagateColorizer().predict_ab(L, hints=hints)
    from scipy.ndimage import binary_erosion

    core_in = binary_erosion(inside, iterations=3)
    core_out = binary_erosion(~inside, iterations=3)
    assert np.median(np.linalg.norm(ab[core_in] - _ab(RED), axis=-1)) < 3
    assert np.median(np.linalg.norm(ab[core_out] - _ab(BLUE), axis=-1)) < 3


def test_coarse_global_solve_then_tiles_refined_with_halos_agree_at_the_seams():
    """The engine's anchor pass: solve a downscaled image once, upsample, refine tile by tile."""
    from napari_colorize.edge_aware_solver import block_mean, refine, upsample

    L, inside = _two_regions(h=192, w=256, noise=0.5)
    hints = Hints.from_points([(96, 85, RED, 2), (20, 240, BLUE, 2)], L.shape)
    opts = PropagationOptions()
    full = propagate(L, hints.ab, hints.mask, options=opts)
    small = (48, 64)
    Lc = block_mean(L[..., None], small)[..., 0]
    hc = hints.resize(small)
    init = upsample(propagate(Lc, hc.ab, hc.mask, options=opts), Lc, L, sigma=opts.sigma)
    out = np.empty_like(init)
    tile, halo = 64, 16
    pixel = opts.data_weight / L.size  # the whole image's pull, not the tile's
    for y0 in range(0, L.shape[0], tile):
        for x0 in range(0, L.shape[1], tile):
            ys = slice(max(0, y0 - halo), min(L.shape[0], y0 + tile + halo))
            xs = slice(max(0, x0 - halo), min(L.shape[1], x0 + tile + halo))
            part = refine(L[ys, xs], init[ys, xs], hints.ab[ys, xs], hints.mask[ys, xs], pixel_weight=pixel)
            iy, ix = y0 - ys.start, x0 - xs.start
            out[y0 : y0 + tile, x0 : x0 + tile] = part[iy : iy + tile, ix : ix + tile]
    err = np.linalg.norm(out - full, axis=-1)
    assert np.median(err) < 2
    # no seams: the jump across a tile border is no larger than across the columns beside it
    jumps = np.linalg.norm(np.diff(out, axis=1), axis=-1)[~(inside[:, 1:] ^ inside[:, :-1])]
    seam_cols = np.linalg.norm(out[:, 64] - out[:, 63], axis=-1)
    assert seam_cols[~(inside[:, 64] ^ inside[:, 63])].max() <= jumps.max() + 1e-3
    assert np.percentile(seam_cols, 50) < 1

"""Live previews: the downscaled grid, the gray plane's block means, hints moved onto the blocks."""

from __future__ import annotations

import numpy as np
import pytest

from napari_colorize.color import intensity_limits
from napari_colorize.edge_aware_solver import block_mean
from napari_colorize.errors import InputError
from napari_colorize.hints import Hints, downscale_points
from napari_colorize.preview import PREVIEW_SIZE, preview_request, preview_shape

RED, BLUE, GREEN = (220, 30, 30), (30, 60, 220), (40, 200, 60)


@pytest.mark.parametrize(
    ("shape", "size", "grid"),
    [
        ((512, 512), 512, None),  # not larger: no preview
        ((300, 200), 512, None),
        ((2048, 2048), 512, (512, 512)),
        ((8192, 8192), 512, (512, 512)),
        ((1000, 600), 512, (512, 307)),  # the aspect ratio is kept
        ((600, 1000), 512, (307, 512)),
        ((3, 5000), 512, (1, 512)),
        ((4, 7, 2000, 1000), 250, (250, 125)),  # the last two axes count
    ],
)
def test_preview_shape(shape, size, grid):
    assert preview_shape(shape, size) == grid


def test_preview_shape_default_and_bad_size():
    assert PREVIEW_SIZE == 512 and preview_shape((1024, 1024)) == (512, 512)
    with pytest.raises(InputError, match="at least 1"):
        preview_shape((100, 100), 0)


def test_block_mean_matches_the_plain_mean_of_each_block():
    rng = np.random.default_rng(0)
    x = rng.random((60, 90, 2)).astype(np.float32)
    out = block_mean(x, (20, 30))
    expect = x.reshape(20, 3, 30, 3, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(out, expect, rtol=1e-5)
    # uneven blocks (59 rows into 7, 89 columns into 11), weighted: each block's weighted mean
    x = x[:59, :89]
    w = (rng.random((59, 89)) > 0.5).astype(np.float32)
    out_w = block_mean(x, (7, 11), weights=w)
    by, bx = (np.arange(59) * 7) // 59, (np.arange(89) * 11) // 89
    for i, j in [(0, 0), (3, 5), (6, 10)]:
        sel = (by[:, None] == i) & (bx[None, :] == j)
        expect = (x[sel] * w[sel][:, None]).sum(0) / w[sel].sum()
        np.testing.assert_allclose(out_w[i, j], expect, rtol=1e-5)


def test_preview_request_gray_is_block_means_with_the_full_plane_limits():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (600, 900), dtype=np.uint8)
    small, hints, limits = preview_request(img, (200, 300))
    assert small.shape == (200, 300) and small.dtype == np.float32
    np.testing.assert_allclose(small, img.reshape(200, 3, 300, 3).mean(axis=(1, 3)), rtol=1e-5)
    assert hints is None
    assert limits == (0.0, 255.0)  # uint8: its dtype range, as the full run takes it (the preview is float)
    # a 12-bit camera image: percentiles of the plane (a strided sample), not of the softer block means
    cam = rng.normal(1500, 300, (600, 900)).clip(0, 4095).astype(np.uint16)
    _, _, lim = preview_request(cam, (200, 300), normalize="auto", percentiles=(1, 99))
    full = intensity_limits(cam, normalize="auto", percentiles=(1, 99))
    np.testing.assert_allclose(lim, full, rtol=0.02)
    soft = intensity_limits(block_mean(cam[..., None], (200, 300))[..., 0], percentiles=(1, 99))
    assert lim[1] - lim[0] > 1.5 * (soft[1] - soft[0])
    # explicit limits (the layer's contrast limits) and booleans
    assert preview_request(cam, (200, 300), limits=(100, 3000))[2] == (100.0, 3000.0)
    mask = np.zeros((40, 60), bool)
    mask[:, 30:] = True
    sm, _, lim_b = preview_request(mask, (20, 30))
    assert lim_b == (0.0, 255.0) and sm[0, 0] == 0 and sm[0, -1] == 255
    with pytest.raises(InputError, match="one plane"):
        preview_request(np.zeros((2, 40, 60)), (20, 30))


def test_downscale_points_lands_on_the_blocks_hints_resize_marks():
    shape, small = (600, 900), (200, 300)
    table = np.array(
        [
            [10, 20, *RED],
            [301, 455, *BLUE],
            [599, 899, *GREEN],
        ],
        float,
    )
    moved = downscale_points(table, shape, small)
    np.testing.assert_array_equal(moved[:, :2], [[3, 6], [100, 151], [199, 299]])
    np.testing.assert_array_equal(moved[:, 2:], table[:, 2:])  # colors unchanged
    a = Hints.from_points(moved, small)
    b = Hints.from_points(table, shape).resize(small)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.ab, b.ab, atol=1e-4)


@pytest.mark.parametrize("radius", [1, 3, 7, 20])
def test_downscale_points_shrinks_discs_inside_the_resized_ones(radius):
    shape, small = (640, 960), (160, 240)  # factor 4
    table = np.array([[100, 100, *RED, radius], [500, 800, *BLUE, radius]], float)
    moved = downscale_points(table, shape, small)
    np.testing.assert_allclose(moved[:, 5], radius / 4)
    a = Hints.from_points(moved, small)
    b = Hints.from_points(table, shape).resize(small)
    assert a.mask.sum() >= 2 and np.all(b.mask[a.mask > 0] > 0)  # a subset of the resized disc
    np.testing.assert_allclose(a.ab[a.mask > 0], b.ab[a.mask > 0], atol=1e-3)


def test_downscale_points_on_a_stack_tuples_and_bad_shapes():
    moved = downscale_points([(1, 40, 80, RED, 4.0)], (3, 400, 800), (100, 200))
    np.testing.assert_allclose(moved, [[1, 10, 20, *RED, 1.0]])
    assert len(downscale_points(np.zeros((0, 6)), (40, 40), (10, 10))) == 0
    with pytest.raises(InputError, match="smaller"):
        downscale_points([(1, 1, RED)], (40, 40), (80, 80))


def test_preview_request_moves_point_tables_and_dense_hints():
    img = np.random.default_rng(2).integers(0, 256, (300, 450), dtype=np.uint8)
    table = np.array([[150, 225, *RED, 3.0]])
    _, moved, _ = preview_request(img, (100, 150), hints=table)
    np.testing.assert_allclose(moved, downscale_points(table, (300, 450), (100, 150)))
    dense = Hints.from_points(table, (300, 450))
    _, small, _ = preview_request(img, (100, 150), hints=dense)
    assert isinstance(small, Hints) and small.shape == (100, 150) and small.mask[50, 75] == 1
    with pytest.raises(InputError, match="shape"):
        preview_request(img, (100, 150), hints=Hints.none((10, 10)))


@pytest.mark.parametrize("size", [128, 200, 333, 512])
@pytest.mark.parametrize("seconds", [0.01, 0.1, 0.25, 0.3, 0.36, 0.6, 1.5, 10.0])
def test_next_preview_size_moves_toward_the_target_time(size, seconds):
    """Work grows with the pixels: a side that takes longer than the target shrinks, and the
    predicted time of the next preview lies between the target and the last one's."""
    from napari_colorize.preview import PREVIEW_SECONDS, PREVIEW_SIZE, PREVIEW_SMALLEST, next_preview_size

    new = next_preview_size(size, seconds)
    assert PREVIEW_SMALLEST <= new <= PREVIEW_SIZE
    assert size / 2 - 1 <= new <= 2 * size + 1  # one step moves at most a factor 2
    predicted = seconds * (new / size) ** 2
    if seconds > PREVIEW_SECONDS * 1.25:
        assert new < size or new == PREVIEW_SMALLEST
        assert predicted >= PREVIEW_SECONDS * 0.99 or new == size // 2 or new == PREVIEW_SMALLEST
    elif seconds < PREVIEW_SECONDS / 1.25:
        assert new > size or new == PREVIEW_SIZE
    else:  # close enough: a busy machine's noise does not change the size
        assert new == size


def test_next_preview_size_bad_input():
    from napari_colorize.errors import InputError
    from napari_colorize.preview import next_preview_size

    with pytest.raises(InputError, match="smallest <= largest"):
        next_preview_size(100, 0.5, smallest=200, largest=100)
    assert next_preview_size(300, float("nan")) == 300  # no time measured: unchanged

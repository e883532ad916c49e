import numpy as np
import pytest
from skimage import color as skcolor

from napari_colorize import color
from napari_colorize.color import gray2L, rgb2lab
from napari_colorize.errors import InputError


def test_rgb_lab_round_trip_float32_any_leading_shape():
    rng = np.random.default_rng(0)
    rgb = rng.random((2, 3, 5, 7, 3), dtype=np.float32)
    lab = color.rgb2lab(rgb)
    assert lab.dtype == np.float32 and lab.shape == rgb.shape
    np.testing.assert_allclose(lab, skcolor.rgb2lab(rgb), atol=1e-3)
    back = color.lab2rgb(lab)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, rgb, atol=1e-4)


def test_known_lab_values():
    # reference values: white is L=100, black L=0, sRGB red is (53.24, 80.09, 67.20)
    lab = color.rgb2lab(np.array([[1, 1, 1], [0, 0, 0], [1, 0, 0]], np.float32))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=1e-2)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=1e-2)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)


@pytest.mark.parametrize("dtype,maxval", [(np.uint8, 255), (np.uint16, 65535)])
def test_gray2L_matches_rgb2lab_of_gray_rgb(dtype, maxval):
    g = np.linspace(0, maxval, 64 * 64).astype(dtype).reshape(64, 64)
    L = color.gray2L(g)
    ref = color.rgb2lab(np.repeat(g[..., None], 3, axis=-1))[..., 0]
    assert L.dtype == np.float32 and L.shape == g.shape
    np.testing.assert_allclose(L, ref, atol=1e-3)


def test_gray2L_float_and_gray_rgba_without_warning(recwarn):
    g = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    rgba = np.stack([g, g, g, np.ones_like(g)], axis=-1)
    np.testing.assert_allclose(color.gray2L(rgba), color.gray2L(g), atol=1e-3)
    assert not [w for w in recwarn if issubclass(w.category, color.GrayWarning)]


def test_color_image_as_gray_warns_and_uses_luminance(coffee):
    with pytest.warns(color.GrayWarning):
        L = color.gray2L(coffee)
    np.testing.assert_allclose(L, skcolor.rgb2lab(coffee)[..., 0], atol=1e-3)


def test_stack_of_gray_planes():
    g = np.random.default_rng(1).integers(0, 255, (4, 16, 16), dtype=np.uint8)
    L = color.gray2L(g)  # last axis 16 is spatial, not color
    assert L.shape == (4, 16, 16)


@pytest.mark.parametrize(
    "bad", [np.zeros((0, 5)), np.array([[np.nan, 1.0]]), np.zeros((3, 3), np.int16) - 1, np.array(["a"])]
)
def test_bad_inputs_raise_input_error(bad):
    with pytest.raises(InputError):
        color.gray2L(bad)


def test_normalisation_round_trip_uses_the_given_scale():
    ab = np.array([[-110.0, 55.0]], np.float32)
    n = color.ab2norm(ab, ab_scale=110)
    np.testing.assert_allclose(n, [[-1.0, 0.5]])
    np.testing.assert_allclose(color.norm2ab(n, ab_scale=110), ab)
    np.testing.assert_allclose(color.ab2norm(ab, ab_scale=128), ab / 128)
    L = np.array([0, 50, 100], np.float32)
    np.testing.assert_allclose(color.L2norm(L), [-0.5, 0, 0.5])
    np.testing.assert_allclose(color.norm2L(color.L2norm(L)), L)


def test_Lab2rgb_shape_mismatch():
    with pytest.raises(InputError):
        color.Lab2rgb(np.zeros((4, 4)), np.zeros((4, 5, 2)))


def test_L2gray_is_the_inverse_of_gray2L():
    from napari_colorize.color import L2gray

    L = np.linspace(0, 100, 1001, dtype=np.float32).reshape(7, 143)
    g = L2gray(L)
    assert g.dtype == np.float32 and g.min() >= 0 and g.max() <= 1
    np.testing.assert_allclose(gray2L(g), L, atol=1e-3)
    # the gray whose L* is an RGB image's lightness
    rgb = np.random.default_rng(0).random((5, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(gray2L(L2gray(rgb2lab(rgb)[..., 0])), rgb2lab(rgb)[..., 0], atol=1e-3)


def test_intensity_limits_modes():
    from napari_colorize.color import intensity_limits

    rng = np.random.default_rng(1)
    g12 = rng.integers(0, 4096, (64, 64)).astype(np.uint16)
    assert intensity_limits(g12.astype(np.uint8), normalize="auto") == (0.0, 255.0)
    assert intensity_limits(g12 > 100) == (0.0, 1.0)
    assert intensity_limits(g12, normalize="dtype") == (0.0, 65535.0)
    assert intensity_limits(g12, normalize="none") == (0.0, 1.0)
    lo, hi = intensity_limits(g12)  # auto: percentiles for uint16
    np.testing.assert_allclose((lo, hi), np.percentile(g12, [1, 99.8]), rtol=1e-5)
    assert intensity_limits(g12, percentiles=(0, 100)) == (float(g12.min()), float(g12.max()))
    assert intensity_limits(g12, limits=(10, 20)) == (10.0, 20.0)
    f = g12.astype(np.float32) * 0.37 - 5
    np.testing.assert_allclose(intensity_limits(f), np.array([lo, hi]) * 0.37 - 5, rtol=1e-5)
    # a constant image falls back to the dtype range
    assert intensity_limits(np.full((4, 4), 7, np.uint16)) == (0.0, 65535.0)


def test_one_hot_pixel_does_not_move_the_limits():
    from napari_colorize.color import image2L

    g12 = np.random.default_rng(2).integers(100, 4000, (100, 100)).astype(np.uint16)
    hot = g12.copy()
    hot[50, 50] = 65535
    L, lims = image2L(g12)
    Lh, lims_h = image2L(hot)
    np.testing.assert_allclose(lims_h, lims, rtol=1e-5)  # a min-max stretch would move to 65535
    mask = np.ones(L.shape, bool)
    mask[50, 50] = False
    np.testing.assert_allclose(Lh[mask], L[mask], atol=0.01)


def test_a_stack_shares_one_pair_of_limits():
    from napari_colorize.color import image2L

    a = np.random.default_rng(3).integers(0, 4096, (40, 50)).astype(np.uint16)
    stack = np.stack([a, a // 4])
    L, lims = image2L(stack)
    assert L[1].mean() < L[0].mean() - 10  # the dim plane stays dim
    np.testing.assert_array_equal(L[0], image2L(a, limits=lims)[0])


@pytest.mark.parametrize(
    "kw,err",
    [
        (dict(normalize="minmax"), "unknown normalize"),
        (dict(percentiles=(50, 5)), "percentiles"),
        (dict(limits=(5, 5)), "low < high"),
    ],
)
def test_bad_normalisation_options_are_clear_errors(kw, err):
    from napari_colorize.color import intensity_limits
    from napari_colorize.errors import ColorizeError

    with pytest.raises(ColorizeError, match=err):
        intensity_limits(np.zeros((4, 4), np.uint16), **kw)

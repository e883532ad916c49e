"""Hints: constructors, CSV round trip, geometry, bad input; fusion with a model's output; stack smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from napari_colorize.errors import InputError
from napari_colorize.hints import Hints, fuse_hints, smooth_stack

RED, BLUE = (220, 30, 30), (30, 60, 220)


def _ab(rgb255):
    return rgb2lab(np.asarray(rgb255, np.float64).reshape(1, 1, 3) / 255.0)[0, 0, 1:]


def _two_regions(h=48, w=64, noise=0.3, seed=0):
    L = np.full((h, w), 35.0, np.float32)
    L[:, w // 2 :] = 70.0
    L += np.random.default_rng(seed).normal(0, noise, L.shape).astype(np.float32)
    return L


# -- constructors -------------------------------------------------------------------------------------
def test_from_points_tuples_and_table_agree_and_keep_only_ab():
    a = Hints.from_points([(3, 4, RED), (10, 20, BLUE, 2)], (16, 32))
    b = Hints.from_points(np.array([[3, 4, *RED, 0], [10, 20, *BLUE, 2]], float), (16, 32))
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.ab, b.ab)
    assert a.ab.dtype == np.float32 and a.mask.dtype == np.float32
    np.testing.assert_allclose(a.ab[3, 4], _ab(RED), atol=0.05)
    assert len(a) == 1 + 13  # one pixel + a disc of radius 2
    assert a.mask[10, 22] == 1 and a.mask[12, 22] == 0
    # a dark red is still red (ab only; the hint carries no L)
    dark = Hints.from_points([(0, 0, (0.5, 0.1, 0.1))], (4, 4))
    assert dark.ab[0, 0, 0] > 20 and dark.mask.shape == (4, 4)
    assert Hints.none((4, 4)).empty and not dark.empty


def test_from_points_colors_in_0_1_and_stack_planes():
    h = Hints.from_points([(2, 1, 1, (1.0, 0.0, 0.0))], (3, 4, 5))
    assert h.shape == (3, 4, 5) and h.mask[2, 1, 1] == 1 and len(h) == 1
    np.testing.assert_allclose(h.ab[2, 1, 1], _ab((255, 0, 0)), atol=0.05)
    assert h.plane(2).mask[1, 1] == 1 and h.plane(0).empty
    assert Hints.from_points([], (4, 4)).empty


def test_from_marked_image_finds_the_painted_pixels():
    gray = (np.linspace(0, 1, 20 * 30).reshape(20, 30) * 200).astype(np.uint8)
    marked = np.repeat(gray[..., None], 3, axis=-1)
    marked[5, 6] = RED
    marked[10:12, 20] = BLUE
    h = Hints.from_marked_image(marked, gray)
    assert set(zip(*np.nonzero(h.mask))) == {(5, 6), (10, 20), (11, 20)}
    np.testing.assert_allclose(h.ab[5, 6], _ab(RED), atol=0.05)
    h3 = Hints.from_marked_image(marked, np.repeat(gray[..., None], 3, axis=-1))
    np.testing.assert_array_equal(h3.mask, h.mask)


def test_csv_round_trip(tmp_path):
    h = Hints.from_points([(3, 4, RED), (10, 20, BLUE, 1.5), (0, 31, (0, 200, 0))], (16, 32))
    path = h.to_csv(tmp_path / "hints.csv")
    back = Hints.from_csv(path, (16, 32))
    np.testing.assert_array_equal(back.mask, h.mask)
    np.testing.assert_allclose(back.ab, h.ab, atol=0.05)
    # a stack round-trips with its plane column
    s = Hints.from_points([(1, 2, 3, RED)], (2, 8, 8))
    back = Hints.from_csv(s.to_csv(tmp_path / "stack.csv"), (2, 8, 8))
    np.testing.assert_array_equal(back.mask, s.mask)
    np.testing.assert_allclose(back.ab, s.ab, atol=0.05)


def test_csv_written_by_hand_with_radius_and_any_column_order(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("x,y,r,g,b,radius\n4,3,220,30,30,1\n")
    h = Hints.from_csv(p, (10, 10))
    assert len(h) == 5 and h.mask[3, 4] == 1 and h.mask[2, 4] == 1 and h.mask[3, 3] == 1


@pytest.mark.parametrize(
    ("text", "shape", "match"),
    [
        ("y,x,red,g,b\n1,1,1,1,1\n", (8, 8), "header"),
        ("1,1,200,0,0\n", (8, 8), "header"),
        ("", (8, 8), "header"),
        ("y,x,r,g,b\n1,1,abc,0,0\n", (8, 8), "line 2, column r: 'abc' is not a number"),
        ("y,x,r,g,b\n1,1,0,0,0\n1,1,300,0,0\n", (8, 8), "line 3, column r: 300 is out of range"),
        ("y,x,r,g,b,radius\n1,1,0,0,0,-2\n", (8, 8), "column radius"),
        ("y,x,r,g,b\n1,1,0,0\n", (8, 8), "expected 5 values"),
        ("y,x,r,g,b\n9,1,0,0,0\n", (8, 8), "outside the image"),
        ("y,x,r,g,b\n1,1,0,0,0\n", (2, 8, 8), "plane"),
        ("plane,y,x,r,g,b\n5,1,1,0,0,0\n", (2, 8, 8), "2 planes"),
    ],
)
def test_csv_bad_input_gives_one_line_errors(tmp_path, text, shape, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as e:
        Hints.from_csv(p, shape)
    assert "\n" not in str(e.value)


def test_bad_points_marked_image_and_planes():
    with pytest.raises(InputError, match="outside the image"):
        Hints.from_points([(3, 40, RED)], (16, 32))
    with pytest.raises(InputError, match="outside the image"):
        Hints.from_points([(-1, 4, RED)], (16, 32))
    with pytest.raises(InputError, match="3 planes"):
        Hints.from_points([(3, 1, 1, RED)], (3, 8, 8))
    with pytest.raises(InputError, match="0..255"):
        Hints.from_points([(1, 1, (300, 0, 0))], (8, 8))
    with pytest.raises(InputError, match="differ in size"):
        Hints.from_marked_image(np.zeros((10, 12, 3)), np.zeros((10, 13)))
    with pytest.raises(InputError, match="not in the stack"):
        Hints.none((2, 4, 4)).plane(2)
    with pytest.raises(InputError, match="image has shape"):
        Hints.none((4, 4)).check_shape((4, 5))
    with pytest.raises(InputError, match="mask shape"):
        Hints(np.zeros((4, 4, 2)), np.zeros((4, 5)))
    with pytest.raises(InputError, match="no such hints file"):
        Hints.from_csv("/nonexistent/hints.csv", (4, 4))


def test_crop_and_resize():
    h = Hints.from_points([(1, 1, RED), (6, 7, BLUE)], (8, 8))
    c = h.crop(4, 8, 4, 8)
    assert c.shape == (4, 4) and len(c) == 1 and c.mask[2, 3] == 1
    r = h.resize((4, 4))
    assert r.shape == (4, 4) and r.mask[0, 0] == 1 and r.mask[3, 3] == 1 and len(r) == 2
    # mask-weighted mean: the block's one hint keeps its full color
    np.testing.assert_allclose(r.ab[0, 0], h.ab[1, 1], atol=1e-4)
    s = Hints.from_points([(1, 6, 7, BLUE)], (2, 8, 8)).resize((2, 2))
    assert s.shape == (2, 2, 2) and s.mask[1, 1, 1] == 1 and len(s) == 1
    with pytest.raises(InputError):
        h.crop(4, 4, 0, 8)


# -- fusion -----------------------------------------------------------------------------------------
def test_fusion_without_hints_is_the_model_output_exactly():
    L = _two_regions()
    ab_model = np.random.default_rng(1).normal(0, 20, L.shape + (2,)).astype(np.float32)
    for h in (None, Hints.none(L.shape)):
        out = fuse_hints(L, ab_model, h)
        np.testing.assert_array_equal(out, ab_model)


def test_fusion_takes_the_hints_and_does_not_worsen_away_from_them():
    """A model right on the left region, wrong on the right: a hint on the right fixes the right
    and leaves the left as good as it was (to within noise)."""
    L = _two_regions(noise=0.5)
    truth = np.zeros(L.shape + (2,), np.float32)
    truth[:, :32] = _ab(RED)
    truth[:, 32:] = _ab(BLUE)
    rng = np.random.default_rng(2)
    ab_model = truth.copy()
    ab_model[:, 32:] = _ab((200, 200, 40))  # wrong color on the right
    ab_model += rng.normal(0, 1.0, ab_model.shape).astype(np.float32)
    hints = Hints.from_points([(24, 48, BLUE)], L.shape)
    out = fuse_hints(L, ab_model, hints, model_weight=1e-4)
    err = lambda ab, sl: float(np.linalg.norm(ab[:, sl] - truth[:, sl], axis=-1).mean())  # noqa: E731 - a one-line measure, local to this test
    left, right = slice(0, 30), slice(34, 64)
    assert err(out, left) <= err(ab_model, left) + 0.5
    assert err(out, right) < 0.3 * err(ab_model, right)
    np.testing.assert_allclose(out[24, 48], _ab(BLUE), atol=0.05)


def test_fusion_checks_shapes():
    L = _two_regions()
    with pytest.raises(InputError, match="image has shape"):
        fuse_hints(L, np.zeros(L.shape + (2,)), Hints.from_points([(1, 1, RED)], (8, 8)))


# -- temporal smoothing -----------------------------------------------------------------------------
def test_smooth_stack_reduces_flicker_where_L_is_still_and_keeps_changes():
    rng = np.random.default_rng(3)
    T = 8
    L = np.full((T, 16, 16), 50.0, np.float32)
    L[:, :, 8:] = np.linspace(10, 90, T, dtype=np.float32)[:, None, None]  # right half changes fast
    ab = np.zeros(L.shape + (2,), np.float32)
    ab[:, :, 8:, 0] = np.linspace(-40, 40, T, dtype=np.float32)[:, None, None]
    noisy = ab + rng.normal(0, 5, ab.shape).astype(np.float32)
    out = smooth_stack(L, noisy, weight=4.0)
    flicker = lambda x: float(np.abs(np.diff(x[:, :, :8], axis=0)).mean())  # noqa: E731 - a one-line measure, local to this test
    assert flicker(out) < 0.5 * flicker(noisy)
    # where L changes a lot between planes, the planes are not tied: the ramp survives
    np.testing.assert_allclose(
        out[:, :, 8:, 0].mean(axis=(1, 2)), noisy[:, :, 8:, 0].mean(axis=(1, 2)), atol=1
    )
    np.testing.assert_array_equal(smooth_stack(L, noisy, weight=0.0), noisy)
    with pytest.raises(InputError):
        smooth_stack(L[0], noisy[0])


@pytest.mark.slow
def test_the_hints_benchmark_runs(capsys):
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path.insert(0, str(bench))
    import importlib

    hb = importlib.import_module("hints")
    assert hb.main(["--quick", "--images", "1", "--sizes", "256", "--no-lookup"]) == 0
    out = capsys.readouterr().out
    assert "propagate" in out and "CIEDE2000" in out and "flicker" in out

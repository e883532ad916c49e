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


def test_resize_of_the_pixels_equals_the_dense_block_means():
    from napari_colorize.edge_aware_solver import _block_max, block_mean

    rng = np.random.default_rng(1)
    mask = (rng.random((2, 37, 53)) < 0.2) * rng.uniform(0.2, 1.0, (2, 37, 53))
    ab = rng.uniform(-60, 60, (2, 37, 53, 2))
    h = Hints(ab, mask)
    for shape in ((10, 13), (37, 1), (5, 53)):
        r = h.resize(shape)
        np.testing.assert_array_equal(r.mask, _block_max(h.mask, shape))
        np.testing.assert_allclose(r.ab, block_mean(h.ab, shape, weights=h.mask), atol=1e-4)
    # factor=: blocks of whole factors trimmed to the shape (the global anchor's layout)
    f = h.plane(0).resize((9, 13), factor=(4, 4))
    np.testing.assert_array_equal(f.mask, _block_max(h.mask[0, :36, :52], (9, 13)))
    np.testing.assert_allclose(
        f.ab, block_mean(h.ab[0, :36, :52], (9, 13), weights=h.mask[0, :36, :52]), atol=1e-4
    )
    assert h.resize((37, 53)) is h


def test_from_pixels_is_the_dense_constructor_of_the_same_pixels():
    dense = Hints.from_points([(3, 4, RED), (10, 20, BLUE, 2)], (16, 32))
    h = Hints.from_pixels((16, 32), dense.coords[::-1], dense.pixel_ab[::-1], dense.pixel_mask[::-1])
    np.testing.assert_array_equal(h.coords, dense.coords)  # C order, as np.nonzero of the mask
    np.testing.assert_array_equal(h.ab, dense.ab)
    np.testing.assert_array_equal(h.mask, dense.mask)
    # a pixel given twice keeps its last value; weight 0 is no hint
    h = Hints.from_pixels((4, 4), [[1, 1], [2, 2], [1, 1]], [[1, 1], [2, 2], [3, 3]], [1, 0, 0.5])
    assert len(h) == 1 and h.mask[1, 1] == 0.5 and tuple(h.ab[1, 1]) == (3, 3)
    assert len(Hints.none((3, 5))) == 0 and Hints.none((3, 5)).mask.shape == (3, 5)
    with pytest.raises(InputError, match="outside the image"):
        Hints.from_pixels((4, 4), [[4, 0]], [[0, 0]])
    with pytest.raises(InputError, match="0..1"):
        Hints.from_pixels((4, 4), [[0, 0]], [[0, 0]], [2.0])
    with pytest.raises(InputError, match="integers"):
        Hints.from_pixels((4, 4), [[0.5, 0]], [[0, 0]])
    # the dense arrays are the hints' own, read only
    with pytest.raises(ValueError):
        h.mask[0, 0] = 1


def test_box_of_a_region_equals_the_dense_crop():
    rng = np.random.default_rng(2)
    pts = [(int(rng.integers(3)), int(rng.integers(60)), int(rng.integers(90)), RED, 3) for _ in range(25)]
    h = Hints.from_points(pts, (3, 60, 90))
    full_ab, full_mask = np.array(h.ab), np.array(h.mask)
    for y0, x0, y1, x1 in ((0, 0, 60, 90), (10, 20, 41, 77), (59, 89, 60, 90)):
        b = h.box((y0, x0, y1, x1))
        assert b.shape == (3, y1 - y0, x1 - x0)
        np.testing.assert_array_equal(b.ab, full_ab[:, y0:y1, x0:x1])
        np.testing.assert_array_equal(b.mask, full_mask[:, y0:y1, x0:x1])
        np.testing.assert_array_equal(h.crop(y0, y1, x0, x1).mask, b.mask)
    # a box reaching past the image pads it with no hints
    np.testing.assert_array_equal(h.box((50, 80, 70, 100)).mask[:, :10, :10], full_mask[:, 50:, 80:])
    np.testing.assert_array_equal(h.plane(1).mask, full_mask[1])


def _huge_disc_hints():
    side, n = 40_000, 200
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.integers(0, side, (n, 2)), rng.integers(0, 256, (n, 3)), np.full(n, 6.0)])
    return Hints.from_points(pts.astype(np.float64), (side, side)), pts


def test_hints_over_a_huge_image_cost_what_their_pixels_cost():
    import pickle
    import tracemalloc

    tracemalloc.start()
    try:
        h, pts = _huge_disc_hints()
        box = h.box((int(pts[0, 0]) - 8, int(pts[0, 1]) - 8, int(pts[0, 0]) + 9, int(pts[0, 1]) + 9))
        small = box.mask  # only the box is made dense
        blob = pickle.dumps(h)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert h.shape == (40_000, 40_000) and 200 * 100 < len(h) <= 200 * 113  # discs of radius 6
    assert h._dense is None  # the 19 GB dense arrays were never made
    assert h.nbytes == len(h) * (2 * 8 + 2 * 4 + 4)
    assert peak < 20 * h.nbytes + 2**20
    assert small.shape == (17, 17) and small[8, 8] == 1
    assert len(blob) < 2 * h.nbytes
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.coords, h.coords)
    np.testing.assert_array_equal(back.pixel_ab, h.pixel_ab)
    # a pickle carries the pixels only, also once the dense arrays were made
    tiny = Hints.from_points([(1, 1, RED)], (400, 400))
    assert tiny.mask.sum() == 1 and len(pickle.dumps(tiny)) < 2000


def test_the_wire_round_trip_builds_no_dense_array(tmp_path):
    import itertools
    import tracemalloc

    from napari_colorize.protocol import decode_arrays, decode_hints, encode_arrays, encode_hints, hints_plane

    h, _ = _huge_disc_hints()
    tracemalloc.start()
    try:
        wire = encode_arrays(encode_hints(h), tmp_path, itertools.count())
        back = decode_hints(decode_arrays(wire), h.shape)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(back, Hints) and back.shape == h.shape and back._dense is None
    assert peak < 20 * h.nbytes + 2**20
    np.testing.assert_array_equal(back.coords, h.coords)
    np.testing.assert_array_equal(back.pixel_ab, h.pixel_ab)
    np.testing.assert_array_equal(back.pixel_mask, h.pixel_mask)
    # a stack's pixels split plane by plane
    s = Hints.from_points([(0, 1, 2, RED), (2, 3, 4, BLUE)], (3, 5, 6))
    p = decode_hints(hints_plane(encode_hints(s), 2), (5, 6))
    np.testing.assert_array_equal(p.mask, s.mask[2])
    np.testing.assert_array_equal(p.ab, s.ab[2])


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

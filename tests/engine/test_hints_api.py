"""Color hints through the engine, ``nc.colorize`` and the command line (tiles, stacks, dask, errors)."""

from __future__ import annotations

import numpy as np
import pytest

import napari_colorize as nc
from napari_colorize import engine
from napari_colorize.color import rgb2lab
from napari_colorize.errors import ConfigError, InputError

RED, BLUE = (220, 40, 40), (40, 60, 220)


def hue_ab(rgb255: tuple[int, int, int]) -> np.ndarray:
    """The ab of an sRGB color given in 0..255."""
    return rgb2lab(np.asarray(rgb255, np.float32).reshape(1, 1, 3) / 255)[0, 0, 1:]


def two_regions(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """L of two flat regions (left dark, right light) split by a wavy vertical edge, with faint noise."""
    y, x = np.mgrid[:h, :w]
    edge = w / 2 + 6 * np.sin(y / 9)
    L = np.where(x < edge, 35.0, 70.0)
    L += np.random.default_rng(seed).normal(0, 0.3, L.shape)
    return L.astype(np.float32), edge


def L2gray8(L: np.ndarray) -> np.ndarray:
    """An 8-bit gray image whose lightness is L (what a user would load)."""
    from napari_colorize.color import L2gray

    return np.clip(np.round(L2gray(L) * 255), 0, 255).astype(np.uint8)


class HintEcho:
    """A stand-in model whose ab is its hints where hinted and 0 elsewhere (records what it saw)."""

    block_size = 1
    receptive_field = 0
    default_tile = 64
    default_overlap = 16

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], int]] = []

    def predict_ab(self, L: np.ndarray, *, hints=None) -> np.ndarray:
        n = 0 if hints is None else int(np.count_nonzero(hints.mask))
        self.calls.append((L.shape, n))
        ab = np.zeros(L.shape + (2,), np.float32)
        if hints is not None:
            assert hints.mask.shape == L.shape
            ab += hints.ab * hints.mask[..., None]
        return ab


class NoHintKeyword:
    """An old-style model whose predict_ab takes no hints keyword."""

    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        return np.stack([L * 0.1, -L * 0.1], axis=-1).astype(np.float32)


@pytest.fixture
def propagate_model():
    return nc.make_model("propagate")


# -- the engine with stand-ins -----------------------------------------------------------------


def test_tiles_get_their_own_hints_cropped_to_the_read_box():
    L = np.full((70, 90), 50, np.float32)
    pts = [(3, 4, RED), (40, 50, BLUE), (69, 89, (0, 200, 0)), (31, 33, (200, 200, 0))]
    hints = nc.Hints.from_points(pts, L.shape)
    whole = engine.colorize(L, HintEcho(), hints=hints).ab
    for y, x, color in pts:
        np.testing.assert_allclose(whole[y, x], hue_ab(color), atol=0.05)
    assert np.count_nonzero(np.abs(whole).sum(-1)) == len(pts)
    model = HintEcho()
    tiled = engine.colorize(L, model, hints=hints, tile=24, overlap=8, halo=4)
    np.testing.assert_allclose(tiled.ab, whole, atol=1e-4)
    # tiles without a hint went through the plain path (no hints keyword)
    assert sum(n for _, n in model.calls) >= len(pts) and any(n == 0 for _, n in model.calls)


def test_no_hints_calls_models_without_the_keyword_and_changes_nothing():
    L = np.random.default_rng(1).uniform(0, 100, (2, 40, 50)).astype(np.float32)
    a = engine.colorize(L, NoHintKeyword()).ab
    b = engine.colorize(L, NoHintKeyword(), hints=nc.Hints.none(L.shape), tile=16).ab
    np.testing.assert_array_equal(a, engine.colorize(L, NoHintKeyword(), hints=None).ab)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_hints_of_another_shape_are_refused():
    L = np.zeros((30, 40), np.float32)
    with pytest.raises(InputError, match="shape"):
        engine.colorize(L, HintEcho(), hints=nc.Hints.none((30, 41)))
    with pytest.raises(InputError, match="Hints"):
        engine.colorize(L, HintEcho(), hints=np.zeros((30, 40)))


def test_stack_hints_go_to_their_plane():
    L = np.full((3, 20, 30), 50, np.float32)
    hints = nc.Hints.from_points([(2, 5, 6, RED)], L.shape)
    ab = engine.colorize(L, HintEcho(), hints=hints).ab
    assert np.abs(ab[:2]).max() == 0
    np.testing.assert_allclose(ab[2, 5, 6], hue_ab(RED), atol=0.05)


def test_dask_with_hints_equals_numpy():
    da = pytest.importorskip("dask.array")
    L = np.full((2, 80, 100), 50, np.float32)
    hints = nc.Hints.from_points([(0, 10, 10, RED), (1, 70, 90, BLUE)], L.shape, radius=2)
    for opts in ({}, {"tile": 32, "overlap": 8}):
        want = engine.colorize(L, HintEcho(), hints=hints, **opts).ab
        got = engine.colorize(da.from_array(L, chunks=(1, 40, 50)), HintEcho(), hints=hints, **opts).ab
        np.testing.assert_allclose(got.compute(), want, atol=1e-5)


def test_hints_resize_by_factor_as_by_shape():
    rng = np.random.default_rng(3)
    shape = (48, 64)
    pts = [(int(rng.integers(48)), int(rng.integers(64)), tuple(rng.integers(0, 256, 3))) for _ in range(30)]
    hints = nc.Hints.from_points(pts, shape, radius=1)
    small = hints.resize((12, 16), factor=(4, 4))
    ref = hints.resize((12, 16))
    np.testing.assert_allclose(small.mask, ref.mask)
    on = ref.mask > 0
    np.testing.assert_allclose(small.ab[on], ref.ab[on], atol=1e-3)


def test_stack_smoothing_removes_flicker_where_L_is_still():
    rng = np.random.default_rng(0)
    L = np.repeat(np.linspace(20, 80, 40, dtype=np.float32)[None, None], 30, axis=1)
    L = np.repeat(L, 8, axis=0)  # 8 identical planes
    L[5:, :, 30:] += 30  # from plane 5 on, the right part changes

    class Flicker(NoHintKeyword):
        def predict_ab(self, L):
            return (super().predict_ab(L) + rng.normal(0, 5, (2,))).astype(np.float32)

    raw = engine.colorize(L, Flicker()).ab
    smooth = engine.colorize(L, Flicker(), stack_smoothing=5.0).ab
    flicker = lambda ab: np.abs(np.diff(ab[:5, :, :30], axis=0)).mean()  # noqa: E731 - a one-line measure, local to this test
    assert flicker(smooth) < 0.5 * flicker(raw)
    with pytest.raises(ConfigError, match="stack_smoothing"):
        engine.colorize(L, Flicker(), stack_smoothing=-1)


def test_stack_smoothing_of_dask_equals_numpy():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(2)
    L = rng.uniform(20, 80, (2, 6, 30, 40)).astype(np.float32)
    L[:, 1:] = L[:, :1] + rng.normal(0, 0.5, (2, 5, 30, 40)).astype(np.float32)
    want = engine.colorize(L, NoHintKeyword(), stack_smoothing=3.0).ab
    assert np.abs(want - engine.colorize(L, NoHintKeyword()).ab).max() > 0.01
    got = engine.colorize(da.from_array(L, chunks=(1, 2, 15, 20)), NoHintKeyword(), stack_smoothing=3.0)
    np.testing.assert_allclose(got.ab.compute(), want, atol=1e-4)


# -- propagate through nc.colorize --------------------------------------------------------------


def test_two_regions_take_their_hint_colors_and_keep_the_edge(propagate_model):
    L, edge = two_regions()
    gray = L2gray8(L)
    hints = nc.Hints.from_points([(20, 15, RED), (80, 115, BLUE)], L.shape, radius=1)
    res = nc.colorize(gray, propagate_model, hints=hints)
    y, x = np.mgrid[: L.shape[0], : L.shape[1]]
    left = x < edge - 3
    right = x > edge + 3
    for region, color in ((left, RED), (right, BLUE)):
        err = np.linalg.norm(res.ab[region] - hue_ab(color), axis=-1)
        assert np.percentile(err, 95) < 5, np.percentile(err, 95)


def test_tiled_propagate_matches_untiled(propagate_model, monkeypatch):
    from skimage import data
    from skimage.transform import resize

    rgb = resize(data.coffee(), (150, 200), anti_aliasing=True).astype(np.float32)
    lab = rgb2lab(rgb)
    rng = np.random.default_rng(5)
    ys, xs = rng.integers(0, 150, 25), rng.integers(0, 200, 25)
    ab, mask = np.zeros((150, 200, 2), np.float32), np.zeros((150, 200), np.float32)
    ab[ys, xs], mask[ys, xs] = lab[ys, xs, 1:], 1
    hints = nc.Hints(ab, mask)
    gray = L2gray8(lab[..., 0])
    whole = nc.colorize(gray, propagate_model, hints=hints).ab
    # small enough for a full-resolution anchor: the tiles agree with the global solve up to
    # propagate's pull towards gray, which is per plane (a tile pulls a little harder); measured
    # |difference| mean 0.12, 99th percentile 3.8 ab units on this photo
    tiled = nc.colorize(gray, propagate_model, hints=hints, tile=48, overlap=16).ab
    d = np.abs(tiled - whole)
    assert d.mean() < 0.3 and np.percentile(d, 99) < 6, (d.mean(), np.percentile(d, 99))
    # a half-resolution anchor (as on images above engine.anchor.BORDER_ANCHOR_PIXELS):
    # measured mean 1.15, 99th percentile 10.1
    monkeypatch.setattr(engine.anchor, "BORDER_ANCHOR_PIXELS", 150 * 200 // 4)
    coarse = nc.colorize(gray, propagate_model, hints=hints, tile=48, overlap=16).ab
    d = np.abs(coarse - whole)
    assert d.mean() < 1.6 and np.percentile(d, 99) < 13, (d.mean(), np.percentile(d, 99))
    # without the anchor, tiles far from every hint would stay gray
    far = engine.colorize(rgb2lab(rgb)[..., 0], _Unanchored(propagate_model), hints=hints, tile=48).ab
    assert np.abs(far - whole).mean() > 3 * d.mean()


class _Unanchored:
    """A model's predict_ab without its ``needs_global_anchor`` flag."""

    block_size = 1
    receptive_field = 0

    def __init__(self, model) -> None:
        self.model = model

    def predict_ab(self, L, *, hints=None):
        return self.model.predict_ab(L, hints=hints)


def test_hints_on_the_first_plane_color_the_last(propagate_model):
    L, edge = two_regions(48, 64)
    stack = np.stack([np.roll(L, k, axis=1) for k in range(5)])  # the scene moves right
    hints = nc.Hints.from_points([(0, 20, 8, RED), (0, 30, 56, BLUE)], stack.shape, radius=1)
    res = nc.colorize(L2gray8(stack), propagate_model, hints=hints)
    last = res.ab[-1]
    y, x = np.mgrid[:48, :64]
    left = x < edge[:48, :64] - 3 + 4
    right = x > edge[:48, :64] + 3 + 4
    left &= x > 4  # np.roll wrapped the right region in at the left
    assert np.linalg.norm(last[left].mean(0) - hue_ab(RED)) < 8
    assert np.linalg.norm(last[right].mean(0) - hue_ab(BLUE)) < 8
    # tiled, planes are apart: a warning says so
    with pytest.warns(UserWarning, match="untiled"):
        nc.colorize(L2gray8(stack), propagate_model, hints=hints, tile=32)


def test_hints_as_a_csv_path(tmp_path, propagate_model):
    L, _ = two_regions(40, 50)
    p = tmp_path / "hints.csv"
    p.write_text("y,x,r,g,b\n10,5,220,40,40\n30,45,40,60,220\n")
    a = nc.colorize(L2gray8(L), propagate_model, hints=p)
    b = nc.colorize(L2gray8(L), propagate_model, hints=nc.Hints.from_csv(p, L.shape))
    np.testing.assert_array_equal(a.ab, b.ab)
    p.write_text("y,x,red,g,b\n1,1,1,1,1\n")
    with pytest.raises(InputError, match="header"):
        nc.colorize(L2gray8(L), propagate_model, hints=p)


# -- any method: lookup + hints ----------------------------------------------------------------


@pytest.fixture(scope="module")
def lookup_model():
    from skimage import data
    from skimage.transform import resize

    ref = resize(data.coffee(), (100, 150), anti_aliasing=True).astype(np.float32)
    return nc.train("lookup", ref)


def test_lookup_without_hints_is_the_models_output(lookup_model, coffee):
    gray = L2gray8(rgb2lab(coffee)[..., 0])
    plain = nc.colorize(gray, lookup_model)
    empty = nc.colorize(gray, lookup_model, hints=nc.Hints.none(gray.shape))
    np.testing.assert_array_equal(plain.ab, empty.ab)
    L = plain.L
    np.testing.assert_array_equal(plain.ab, lookup_model.predict_ab(L))


def test_lookup_with_hints_moves_the_color_at_the_hint(lookup_model, coffee):
    gray = L2gray8(rgb2lab(coffee)[..., 0])
    plain = nc.colorize(gray, lookup_model)
    hints = nc.Hints.from_points([(100, 150, (40, 200, 60))], gray.shape, radius=3)
    res = nc.colorize(gray, lookup_model, hints=hints)
    target = hue_ab((40, 200, 60))
    assert np.linalg.norm(res.ab[100, 150] - target) < 2
    assert np.linalg.norm(res.ab[100, 150] - target) < np.linalg.norm(plain.ab[100, 150] - target) - 10
    # far from the hint the model's colors stay
    far = np.abs(res.ab[:20, :20] - plain.ab[:20, :20]).mean()
    assert far < 3


# -- the command line --------------------------------------------------------------------------


def test_cli_hints_round_trip(tmp_path, capsys):
    import imageio.v3 as iio

    from napari_colorize.cli import main

    L, _ = two_regions()
    gray = tmp_path / "gray.png"
    iio.imwrite(gray, L2gray8(L))
    csv = tmp_path / "hints.csv"
    csv.write_text("y,x,r,g,b,radius\n20,15,220,40,40,1\n80,115,40,60,220,1\n")
    out = tmp_path / "out"
    assert (
        main(["colorize", str(gray), "--model", "propagate", "--hints", str(csv), "--out-dir", str(out)]) == 0
    )
    rgb = iio.imread(out / "gray_rgb.png").astype(np.float32) / 255
    ab = rgb2lab(rgb)[..., 1:]
    for (y, x), color in (((20, 15), RED), ((80, 115), BLUE), ((60, 20), RED), ((10, 110), BLUE)):
        want = hue_ab(color)
        cos = ab[y, x] @ want / (np.linalg.norm(ab[y, x]) * np.linalg.norm(want))
        assert cos > 0.95, (y, x, ab[y, x], want)
    # a marked image (Levin's format) gives the same hints
    marked = np.repeat(L2gray8(L)[..., None], 3, axis=-1)
    marked[19:22, 14:17] = RED
    marked[79:82, 114:117] = BLUE
    iio.imwrite(tmp_path / "marked.png", marked)
    out2 = tmp_path / "out2"
    argv = ["colorize", str(gray), "--model", "propagate", "--hints-image", str(tmp_path / "marked.png")]
    assert main([*argv, "--out-dir", str(out2)]) == 0
    rgb2 = iio.imread(out2 / "gray_rgb.png").astype(np.float32) / 255
    assert np.abs(rgb2lab(rgb2)[..., 1:] - ab).mean() < 3


def test_propagate_is_a_built_in_model_without_training(tmp_path, monkeypatch):
    from napari_colorize import catalogue
    from napari_colorize.api import resolve_model

    monkeypatch.setenv(catalogue.MODELS_ENV, str(tmp_path / "user"))
    folder = catalogue.resolve_model_path("propagate")
    assert folder == catalogue.untrained_models()["propagate"]
    assert "propagate" in catalogue.list_models() and "propagate" not in catalogue.builtin_models()
    model = resolve_model("propagate")
    assert model.name == "propagate" and model.config == type(model.config)()  # the defaults
    # a user's own folder of that name wins, as for every built-in model
    nc.make_model("propagate", sigma=5.0).save(tmp_path / "user" / "propagate")
    assert catalogue.resolve_model_path("propagate") == tmp_path / "user" / "propagate"


@pytest.mark.slow
def test_hints_on_a_process_cluster_equal_the_numpy_path(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import cloudpickle
    import dask.array as da

    monkeypatch.setattr(engine.lazy, "DASK_CHUNK", 64)
    L, _ = two_regions(150, 200)
    gray = L2gray8(L)
    hints = nc.Hints.from_points([(20, 15, RED), (130, 180, BLUE)], L.shape, radius=1)
    nc.make_model("propagate").save(tmp_path / "propagate")
    opts = dict(tile=64, overlap=16, hints=hints)
    ref = nc.colorize(gray, tmp_path / "propagate", **opts)
    with (
        distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = nc.colorize(da.from_array(gray, chunks=(75, 100)), tmp_path / "propagate", **opts)
        # the graph holds the hints as points, not as dense arrays
        assert len(cloudpickle.dumps(dict(res.ab.__dask_graph__()))) < 200_000
        ab = client.compute(res.ab, sync=True)
    np.testing.assert_allclose(ab, ref.ab, atol=1e-3)


def test_the_callers_hints_stay_small_after_an_untiled_call():
    hints = nc.Hints.from_points([(10, 10, RED)], (40, 50), radius=2)
    engine.colorize(np.full((40, 50), 50, np.float32), HintEcho(), hints=hints)
    assert hints._dense is None  # the whole plane's dense arrays went with the call

"""The tiling engine: exactness against untiled, seams, dask, stacks, errors (no TensorFlow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from napari_colorize import engine
from napari_colorize.engine.tile_plan import seam_measure
from napari_colorize.errors import Cancelled, ConfigError, InputError
from napari_colorize.tiling import BLENDS, TilePlan

RTOL, ATOL = 1e-5, 2e-4  # float32 rounding of Lab values up to ~100


class Pointwise:
    """A stand-in Colorizer whose ab is a pointwise function of L."""

    block_size = 1
    receptive_field = 0
    default_tile = 64
    default_overlap = 16

    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        self.seen.append(L.shape)
        L = np.asarray(L, np.float32)
        return np.stack([40 * np.sin(L / 9), 0.5 * L - 25], axis=-1).astype(np.float32)


class LinearConv(Pointwise):
    """A linear convolutional stand-in: ab = two fixed kernels of radius r applied to L."""

    def __init__(self, r: int = 5, block: int = 1) -> None:
        super().__init__()
        self.r = r
        self.block_size = block
        rng = np.random.default_rng(42)
        k = 2 * r + 1
        self.kernels = rng.normal(0, 1, (2, k, k)).astype(np.float32) / k

    @property
    def receptive_field(self) -> int:
        return self.r

    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        assert L.shape[0] % self.block_size == 0 and L.shape[1] % self.block_size == 0, L.shape
        self.seen.append(L.shape)
        L = np.asarray(L, np.float64) - 50
        return np.stack([ndimage.convolve(L, k, mode="reflect") for k in self.kernels], -1).astype(np.float32)


class TileMean(Pointwise):
    """Depends on which tile it sees: a pointwise part plus the tile's mean L (color drift)."""

    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        base = super().predict_ab(L) * 0.2
        m = float(np.mean(L))
        return (base + np.array([0.8 * (m - 50), 30 - 0.6 * m], np.float32)).astype(np.float32)


@pytest.fixture(scope="module")
def L_img() -> np.ndarray:
    """A real photo's L (astronaut, 200 x 300) with an odd width."""
    from skimage import data
    from skimage.transform import resize

    from napari_colorize.color import rgb2L

    rgb = resize(data.astronaut(), (200, 301), anti_aliasing=True).astype(np.float32)
    return rgb2L(rgb)


@pytest.fixture(scope="module")
def lookup_model():
    from skimage import data

    from napari_colorize.methods.lookup import LookupColorizer

    m = LookupColorizer()
    m.fit([data.coffee()[::2, ::2], data.chelsea()[::2, ::2]])
    return m


# -- exactness -----------------------------------------------------------------------------


@pytest.mark.parametrize("blend", BLENDS)
def test_pointwise_tiled_equals_untiled(L_img, blend):
    m = Pointwise()
    ref = engine.colorize(L_img, m).ab
    res = engine.colorize(L_img, m, tile=64, overlap=20, blend=blend)
    assert res.plan is not None and len(res.plan) > 4
    assert res.ab.dtype == np.float32 and res.ab.shape == L_img.shape + (2,)
    np.testing.assert_allclose(res.ab, ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("blend", BLENDS)
def test_lookup_tiled_equals_untiled(L_img, lookup_model, blend):
    from napari_colorize.color import Lab2rgb
    from napari_colorize.io import to_uint8

    ref = engine.colorize(L_img, lookup_model).ab
    res = engine.colorize(L_img, lookup_model, tile=96, overlap=0.25, blend=blend)
    np.testing.assert_allclose(res.ab, ref, rtol=RTOL, atol=ATOL)
    d = np.abs(to_uint8(Lab2rgb(L_img, res.ab)).astype(int) - to_uint8(Lab2rgb(L_img, ref)).astype(int))
    assert d.max() <= 1


@pytest.mark.parametrize("blend", BLENDS)
@pytest.mark.parametrize("r", [1, 5])
def test_linear_conv_tiled_equals_untiled_with_default_halo(L_img, blend, r):
    m = LinearConv(r)
    ref = engine.colorize(L_img, m).ab
    res = engine.colorize(L_img, m, tile=48, overlap=8, blend=blend)
    assert res.plan.halo == r  # the default halo is the receptive field (capped at tile/4 = 12)
    np.testing.assert_allclose(res.ab, ref, rtol=RTOL, atol=ATOL)


def test_linear_conv_without_halo_is_not_exact(L_img):
    """The halo is what makes it exact: without it, tile borders differ."""
    m = LinearConv(5)
    ref = engine.colorize(L_img, m).ab
    res = engine.colorize(L_img, m, tile=48, overlap=8, blend="crop", halo=0)
    assert np.abs(res.ab - ref).max() > 1e-2


def test_block_size_alignment(L_img):
    m = LinearConv(3, block=8)
    res = engine.colorize(L_img, m, tile=60, overlap=10)
    # tile rounded down, overlap and halo up, to multiples of 8; the model asserts its inputs are too
    assert (
        all(v % 8 == 0 and v <= 56 for v in res.plan.tile) and res.plan.overlap == 16 and res.plan.halo == 8
    )
    assert all(s[0] % 8 == 0 and s[1] % 8 == 0 for s in m.seen)
    ref = engine.colorize(L_img, LinearConv(3, block=1)).ab
    # write boxes away from the image's bottom/right edges (where padding differs) are exact
    np.testing.assert_allclose(res.ab[:190, :290], ref[:190, :290], rtol=RTOL, atol=ATOL)


def test_image_smaller_than_tile_padded_to_block():
    L = np.linspace(0, 100, 13 * 21, dtype=np.float32).reshape(13, 21)
    m = LinearConv(2, block=8)
    res = engine.colorize(L, m, tile=64)
    assert len(res.plan) == 1 and res.plan.tile == (13, 21)
    assert m.seen[-1] == (16, 24)  # reflect-padded to the block size, cropped back
    assert res.ab.shape == (13, 21, 2)
    padded = np.pad(L, ((0, 3), (0, 3)), mode="reflect")
    np.testing.assert_allclose(res.ab, m.predict_ab(padded)[:13, :21], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", [(1, 200), (150, 1), (1, 1)])
@pytest.mark.parametrize("tile", [None, 32])
def test_one_pixel_wide_images(shape, tile):
    L = np.linspace(0, 100, np.prod(shape), dtype=np.float32).reshape(shape)
    m = Pointwise()
    res = engine.colorize(L, m, tile=tile, overlap=8 if tile else None)
    np.testing.assert_allclose(res.ab, m.predict_ab(L), rtol=RTOL, atol=ATOL)


# -- seams and the global anchor ------------------------------------------------------------


def _gradient_image(h: int = 256, w: int = 384) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (10 + 80 * x / w + 5 * np.sin(y / 7) + 5 * np.sin(x / 5)).astype(np.float32)


def test_seams_crop_vs_gaussian():
    L = _gradient_image()
    m = TileMean()
    crop = engine.colorize(L, m, tile=64, overlap=32, blend="crop")
    gauss = engine.colorize(L, m, tile=64, overlap=32, blend="gaussian")
    s_crop = seam_measure(crop.ab, crop.plan)
    s_gauss = seam_measure(gauss.ab, gauss.plan)
    # the measure of the seamless untiled result on the same borders (the image's own texture)
    s_none = seam_measure(engine.colorize(L, m).ab, crop.plan)
    # crop leaves visible seams; gaussian blending brings the border jumps down to the seamless level
    assert s_crop > 3.0 * s_none
    assert s_gauss < 1.2 * s_none
    assert s_gauss < s_crop / 3


def test_global_anchor_removes_tile_drift():
    L = _gradient_image()
    m = TileMean()
    untiled = engine.colorize(L, m).ab
    plain = engine.colorize(L, m, tile=64, overlap=16, blend="crop")
    anchored = engine.colorize(L, m, tile=64, overlap=16, blend="crop", global_anchor=True)
    assert seam_measure(anchored.ab, anchored.plan) < 0.5 * seam_measure(plain.ab, plain.plan)

    # drift: spread over tiles of the tile-mean ab difference from the whole-image result
    def drift(ab: np.ndarray, plan: TilePlan) -> float:
        means = [
            np.mean(
                ab[t.core[0] : t.core[2], t.core[1] : t.core[3]]
                - untiled[t.core[0] : t.core[2], t.core[1] : t.core[3]],
                axis=(0, 1),
            )
            for t in plan
        ]
        return float(np.linalg.norm(np.std(means, axis=0)))

    assert drift(anchored.ab, anchored.plan) < 0.3 * drift(plain.ab, plain.plan)


def test_global_anchor_keeps_detail_of_pointwise_model(L_img):
    m = Pointwise()
    ref = engine.colorize(L_img, m).ab
    res = engine.colorize(L_img, m, tile=64, global_anchor=True)
    assert res.ab.shape == ref.shape and np.all(np.isfinite(res.ab))
    # high-frequency detail (the Laplacian) is kept from the tiles
    lap_ref = ndimage.laplace(ref[..., 1])
    lap = ndimage.laplace(res.ab[..., 1])
    assert np.corrcoef(lap_ref.ravel(), lap.ravel())[0, 1] > 0.9


# -- dask and stacks ------------------------------------------------------------------------


@pytest.mark.parametrize("blend", ["gaussian", "crop", "max"])
@pytest.mark.parametrize("global_anchor", [False, True])
def test_dask_equals_numpy(blend, global_anchor, monkeypatch):
    import dask.array as da

    monkeypatch.setattr(engine.lazy, "DASK_CHUNK", 128)  # several output chunks on a small image
    L = _gradient_image(300, 500)
    m = LinearConv(3)
    ref = engine.colorize(L, m, tile=64, overlap=16, blend=blend, global_anchor=global_anchor)
    res = engine.colorize(
        da.from_array(L, chunks=(100, 170)), m, tile=64, overlap=16, blend=blend, global_anchor=global_anchor
    )
    assert isinstance(res.ab, da.Array) and res.ab.numblocks[:2] != (1, 1)
    m.seen.clear()
    out = res.ab.compute()
    # lazily, the model only ever sees read boxes (or the small anchor), never the whole image
    assert max(s[0] * s[1] for s in m.seen) <= max(64 + 6, 80) ** 2 or global_anchor
    np.testing.assert_allclose(out, ref.ab, rtol=RTOL, atol=ATOL)
    assert res.plan == ref.plan


def test_dask_untiled_and_stack():
    import dask.array as da

    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (3, 40, 50)).astype(np.float32)
    m = LinearConv(2)
    ref = engine.colorize(L, m).ab
    res = engine.colorize(da.from_array(L, chunks=(1, 20, 25)), m)
    np.testing.assert_allclose(res.ab.compute(), ref, rtol=RTOL, atol=ATOL)
    res = engine.colorize(da.from_array(L, chunks=(1, 20, 25)), m, tile=16, overlap=4)
    np.testing.assert_allclose(res.ab.compute(), ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("tile", [None, 32])
def test_stack_equals_per_plane(tile):
    rng = np.random.default_rng(1)
    L = ndimage.gaussian_filter(rng.uniform(0, 100, (2, 3, 70, 90)), (0, 0, 2, 2)).astype(np.float32)
    m = TileMean()  # a model with tile-dependent output: planes must be tiled identically
    res = engine.colorize(L, m, tile=tile, overlap=8 if tile else None, global_anchor=bool(tile))
    assert res.ab.shape == L.shape + (2,)
    for idx in np.ndindex(2, 3):
        one = engine.colorize(L[idx], m, tile=tile, overlap=8 if tile else None, global_anchor=bool(tile))
        np.testing.assert_array_equal(res.ab[idx], one.ab)


# -- batching, progress, cancel, OOM ---------------------------------------------------------


def test_batches_same_shape_tiles(L_img):
    calls = []

    class Batched(Pointwise):
        def predict_ab_batch(self, L):
            calls.append(L.shape)
            return np.stack([self.predict_ab(x) for x in L])

    m = Batched()
    res = engine.colorize(L_img, m, tile=64, overlap=16, batch_size=4)
    assert calls and all(c[0] <= 4 and c[1:] == res.plan.read_shape for c in calls)
    assert sum(c[0] for c in calls) + (len(m.seen) - sum(c[0] for c in calls)) >= len(res.plan)


def test_progress_and_cancel(L_img):
    seen = []
    res = engine.colorize(
        L_img, Pointwise(), tile=64, batch_size=1, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (len(res.plan), len(res.plan))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        engine.colorize(L_img, Pointwise(), tile=64, batch_size=1, should_stop=stop)


class ResourceExhaustedError(Exception):
    """Named like tensorflow.errors.ResourceExhaustedError (the engine checks the class name)."""


def test_oom_retries_with_smaller_tiles(L_img):
    class Hungry(Pointwise):
        def predict_ab(self, L):
            if L.size > 40 * 40:
                raise ResourceExhaustedError("OOM when allocating tensor")
            return super().predict_ab(L)

    m = Hungry()
    with pytest.warns(engine.TileOOMWarning) as oom:  # smaller batches first (each said), then tiles
        res = engine.colorize(L_img, m, tile=128)
    assert any("retrying with tiles" in str(w.message) for w in oom)
    assert max(res.plan.tile) <= 40
    np.testing.assert_allclose(res.ab, Pointwise().predict_ab(L_img), rtol=RTOL, atol=ATOL)
    # untiled too: falls back to tiles
    with pytest.warns(engine.TileOOMWarning):
        res = engine.colorize(L_img, Hungry())
    assert res.plan is not None
    np.testing.assert_allclose(res.ab, Pointwise().predict_ab(L_img), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("model_cls", [Pointwise, LinearConv])
def test_dask_oom_predicts_the_tile_in_sub_tiles(L_img, model_cls):
    import dask.array as da

    class Hungry(model_cls):
        def predict_ab(self, L):
            if L.size > 48 * 48:
                raise ResourceExhaustedError("OOM when allocating tensor")
            return super().predict_ab(L)

    Ld = da.from_array(L_img, chunks=(100, 150))
    with pytest.warns(engine.TileOOMWarning, match="sub-tiles"):
        res = engine.colorize(Ld, Hungry(), tile=96, batch_size=1)
        ab = res.ab.compute()
    # the plan is kept; each tile is predicted in pieces with the same halo, so nothing changes
    ref = engine.colorize(L_img, model_cls(), tile=96)
    np.testing.assert_allclose(ab, ref.ab, rtol=RTOL, atol=ATOL)
    assert res.plan.tile == ref.plan.tile and max(res.plan.tile) > 48


def test_other_errors_are_not_swallowed(L_img):
    class Broken(Pointwise):
        def predict_ab(self, L):
            raise RuntimeError("boom")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="boom"):
            engine.colorize(L_img, Broken(), tile=64)


# -- bad input ------------------------------------------------------------------------------


def test_bad_input_errors(L_img):
    m = LinearConv(2, block=8)
    with pytest.raises(ConfigError, match="block size"):
        engine.colorize(L_img, m, tile=4)
    with pytest.raises(ConfigError, match="smaller than the tile"):
        engine.colorize(L_img, m, tile=64, overlap=64)
    with pytest.raises(ConfigError, match="smaller than the tile"):
        engine.colorize(L_img, m, tile=64, overlap=80)
    with pytest.raises(ConfigError, match="blend"):
        engine.colorize(L_img, m, tile=64, blend="median")
    for empty in (
        np.zeros((0, 10), np.float32),
        np.zeros((5, 0), np.float32),
        np.zeros((0, 5, 5), np.float32),
    ):
        with pytest.raises(InputError, match="empty"):
            engine.colorize(empty, m, tile=64)
    with pytest.raises(InputError):
        engine.colorize(np.zeros(10, np.float32), m)
    bad = L_img.copy()
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        engine.colorize(bad, Pointwise(), tile=64)
    with pytest.raises(InputError):
        engine.colorize(np.array([["a", "b"]]), Pointwise())


def test_tile_auto_uses_model_default(L_img):
    res = engine.colorize(L_img, Pointwise(), tile="auto")
    assert max(res.plan.tile) <= 64 and res.plan.overlap == 16 and len(res.plan) == 4 * 6


def test_dask_runs_each_tile_once(monkeypatch):
    """Tiles crossing dask chunk borders are shared between chunks, not run again."""
    import dask.array as da

    monkeypatch.setattr(engine.lazy, "DASK_CHUNK", 100)
    L = _gradient_image(300, 500)
    m = Pointwise()
    res = engine.colorize(da.from_array(L, chunks=(128, 128)), m, tile=64, overlap=16, halo=0)
    assert res.ab.numblocks[:2] != (1, 1)
    out = res.ab.compute(scheduler="sync")
    assert len(m.seen) == len(res.plan)
    np.testing.assert_allclose(out, m.predict_ab(L), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("blend", ["average", "hann", "crop"])
def test_a_band_keeps_only_the_strips_the_next_band_needs(blend, monkeypatch):
    """Computed band by band (as a whole slide is written), a band keeps of its last row of
    tiles only the strips that the next band merges, not whole tiles: whole tiles made that
    row grow with the slide's width (about 350 MB at 40,000 px with ``propagate``)."""
    import dask.array as da

    monkeypatch.setattr(engine.lazy, "DASK_CHUNK", 200)
    caches = []
    init = engine.tile_loop._TileCache.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        caches.append(self)

    monkeypatch.setattr(engine.tile_loop._TileCache, "__init__", spy)
    L = _gradient_image(420, 620)
    m = Pointwise()
    tile, overlap = 96, 16
    Ld = da.from_array(L, chunks=(256, 256))
    res = engine.colorize(Ld, m, tile=tile, overlap=overlap, halo=0, blend=blend)
    cut = res.ab.chunks[0][0]
    assert len(res.ab.chunks[0]) > 1 and len(res.ab.chunks[1]) > 1
    top = res.ab[:cut].compute(scheduler="sync")
    kept = caches[0].nbytes
    crossing = [t.write for t in res.plan.tiles if t.write[0] < cut < t.write[2]]
    strips = sum((w[2] - cut) * (w[3] - w[1]) * 2 * 4 for w in crossing)  # below the cut, float32 ab
    whole = sum((w[2] - w[0]) * (w[3] - w[1]) * 2 * 4 for w in crossing)
    assert kept <= strips < whole / 4
    if blend != "crop":
        assert kept > 0
    rest = res.ab[cut:].compute(scheduler="sync")
    assert caches[0].nbytes == 0  # everything kept was taken
    assert len(m.seen) == len(res.plan)  # each tile ran once
    np.testing.assert_allclose(np.concatenate([top, rest]), m.predict_ab(L), rtol=RTOL, atol=ATOL)


# -- files (pipeline.colorize_file) ---------------------------------------------------------


@pytest.fixture(scope="module")
def gray_u8() -> np.ndarray:
    from skimage import data

    return data.camera()[::2, ::2][:200, :250].copy()  # 200 x 250 uint8


def test_colorize_file_png_tiled_vs_untiled(tmp_path, gray_u8, lookup_model):
    import imageio.v3 as iio

    from napari_colorize.pipeline import colorize_file

    src = tmp_path / "gray.png"
    iio.imwrite(src, gray_u8)
    a = colorize_file(src, lookup_model, tmp_path / "untiled")
    b = colorize_file(
        src,
        lookup_model,
        tmp_path / "tiled",
        tile=64,
        overlap=16,
        blend="gaussian",
        tiles_json=tmp_path / "t.json",
    )
    assert a[0].name == "gray_rgb.png" and b[0].name == "gray_rgb.png"
    ra, rb = iio.imread(a[0]), iio.imread(b[0])
    assert ra.shape == (200, 250, 3) and ra.dtype == np.uint8
    assert np.abs(ra.astype(int) - rb.astype(int)).max() <= 1
    import json

    d = json.loads((tmp_path / "t.json").read_text())
    assert d["image"] == str(src) and len(d["plan"]["rectangles"]) == len(d["plan"]["tiles"]) > 1


def test_colorize_file_color_input_is_reduced_to_gray(tmp_path, lookup_model):
    import imageio.v3 as iio
    from skimage import data

    from napari_colorize.color import GrayWarning
    from napari_colorize.pipeline import colorize_file

    src = tmp_path / "color.jpg"
    iio.imwrite(src, data.astronaut()[::4, ::4])
    with pytest.warns(GrayWarning):
        out = colorize_file(src, lookup_model, tmp_path / "o")
    assert iio.imread(out[0]).shape == (128, 128, 3)


def test_colorize_file_tiff_stack_and_lab(tmp_path, gray_u8, lookup_model):
    import tifffile

    from napari_colorize.pipeline import colorize_file

    stack = np.stack([gray_u8, gray_u8[::-1], 255 - gray_u8])
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, stack, photometric="minisblack")  # three gray planes
    out = colorize_file(src, lookup_model, tmp_path / "o", save_lab=True, tile=96)
    assert [p.name for p in out] == ["stack_rgb.tif", "stack_L.tif", "stack_ab.tif"]
    rgb, L, ab = (tifffile.imread(p) for p in out)
    assert rgb.shape == (3, 200, 250, 3) and rgb.dtype == np.uint8
    assert L.shape == (3, 200, 250) and L.dtype == np.float32
    assert ab.shape == (3, 200, 250, 2) and ab.dtype == np.float32
    one = colorize_file(_save_png(tmp_path, gray_u8[::-1]), lookup_model, tmp_path / "o1", tile=96)
    import imageio.v3 as iio

    assert np.abs(iio.imread(one[0]).astype(int) - rgb[1].astype(int)).max() <= 1


def _save_png(tmp_path, img):
    import imageio.v3 as iio

    p = tmp_path / "plane.png"
    iio.imwrite(p, img)
    return p


@pytest.mark.parametrize("layout", ["strips", "tiles_zlib"])
@pytest.mark.parametrize("global_anchor", [False, True])
def test_big_tiff_lazy_path_equals_in_memory(
    tmp_path, gray_u8, lookup_model, layout, global_anchor, monkeypatch
):
    """The lazy big-TIFF path (forced by a low threshold) writes the same files, as tiled TIFFs."""
    import tifffile

    from napari_colorize import pipeline

    monkeypatch.setattr(engine.lazy, "DASK_CHUNK", 128)
    img = np.tile(gray_u8, (3, 3))[:550, :700]
    src = tmp_path / "big.tif"
    if layout == "strips":
        tifffile.imwrite(src, img, rowsperstrip=64)
    else:
        tifffile.imwrite(src, img, tile=(128, 128), compression="zlib")
    opts = dict(tile=128, overlap=32, save_lab=True, global_anchor=global_anchor)
    small = pipeline.colorize_file(src, lookup_model, tmp_path / "small", **opts)
    big = pipeline.colorize_file(
        src, lookup_model, tmp_path / "big", big_pixels=1000, tiles_json=tmp_path / "t.json", **opts
    )
    assert [p.name for p in big[:3]] == ["big_rgb.tif", "big_L.tif", "big_ab.tif"]
    for a, b in zip(small, big):
        A, B = tifffile.imread(a), tifffile.imread(b)
        assert A.shape == B.shape and A.dtype == B.dtype
        np.testing.assert_allclose(
            B.astype(np.float32), A.astype(np.float32), rtol=RTOL, atol=1 if A.dtype == np.uint8 else ATOL
        )
    with tifffile.TiffFile(big[0]) as t:
        assert t.pages[0].is_tiled and t.pages[0].photometric == tifffile.PHOTOMETRIC.RGB


def test_gray_warning_points_at_the_users_line(lookup_model):
    from skimage import data

    import napari_colorize as nc
    from napari_colorize.color import GrayWarning

    with pytest.warns(GrayWarning) as rec:
        nc.colorize(data.astronaut()[::8, ::8], lookup_model)
    assert [w.filename for w in rec if issubclass(w.category, GrayWarning)] == [__file__]


# -- intensity normalisation through the API -------------------------------------------------


@pytest.fixture(scope="module")
def stretched_u8(L_img) -> np.ndarray:
    """An 8-bit gray photo that fills its range (1 % black, 0.2 % white), like a well-exposed one."""
    from napari_colorize.color import L2gray

    g = L2gray(L_img)
    lo, hi = np.percentile(g, [1, 99.8])
    return (np.clip((g - lo) / (hi - lo), 0, 1) * 255 + 0.5).astype(np.uint8)


def test_a_12_bit_image_in_uint16_colorizes_like_its_8_bit_version(stretched_u8, lookup_model):
    import napari_colorize as nc
    from napari_colorize.io import to_uint8

    g12 = np.round(stretched_u8.astype(np.float64) * 4095 / 255).astype(np.uint16)
    ref = nc.colorize(stretched_u8, lookup_model)
    res = nc.colorize(g12, lookup_model)
    assert ref.limits == (0.0, 255.0) and res.limits == (0.0, 4095.0)
    diff = np.abs(to_uint8(res.rgb).astype(int) - to_uint8(ref.rgb).astype(int))
    assert diff.max() <= 3, diff.max()
    # by the dtype range the same image is almost black
    dark = nc.colorize(g12, lookup_model, normalize="dtype")
    assert to_uint8(dark.rgb).mean() < 40 < to_uint8(res.rgb).mean()
    # a float image in an arbitrary range gives the same
    f = nc.colorize(g12.astype(np.float32) * 0.5 + 100, lookup_model)
    np.testing.assert_allclose(f.rgb, res.rgb, atol=2e-3)


def test_one_hot_pixel_does_not_change_the_colorization(stretched_u8, lookup_model):
    import napari_colorize as nc

    g12 = (stretched_u8.astype(np.uint16) * 16).astype(np.uint16)
    hot = g12.copy()
    hot[10, 10] = 65535
    a = nc.colorize(g12, lookup_model).rgb
    b = nc.colorize(hot, lookup_model).rgb
    mask = np.ones(a.shape[:2], bool)
    mask[10, 10] = False
    np.testing.assert_allclose(b[mask], a[mask], atol=2e-3)


def test_a_stack_is_normalised_with_one_pair_of_limits_numpy_and_dask(stretched_u8, lookup_model):
    import dask.array as da

    import napari_colorize as nc

    g12 = (stretched_u8.astype(np.uint16) * 16).astype(np.uint16)
    stack = np.stack([g12, g12 // 3])
    res = nc.colorize(stack, lookup_model)
    one = nc.colorize(stack[1], lookup_model, limits=res.limits)
    np.testing.assert_allclose(res.rgb[1], one.rgb, atol=1e-6)
    assert res.L[1].mean() < res.L[0].mean() - 10
    lazy = nc.colorize(da.from_array(stack, chunks=(1, 100, 125)), lookup_model, tile=64)
    assert lazy.limits == pytest.approx(res.limits, rel=1e-6)
    np.testing.assert_allclose(np.asarray(lazy.L), res.L, atol=1e-4)


# -- tiling options as one value --------------------------------------------------------------


def test_tiling_options_given_as_one_value_or_keywords_agree(L_img):
    import napari_colorize as nc
    from napari_colorize.tiling import TilingOptions

    m = LinearConv(3)
    opts = TilingOptions(tile=64, overlap=16, blend="hann", global_anchor=True, batch_size=2)
    a = engine.colorize(L_img, m, opts).ab
    b = engine.colorize(L_img, m, tile=64, overlap=16, blend="hann", global_anchor=True, batch_size=2).ab
    c = engine.colorize(L_img, m, opts.to_dict()).ab
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ConfigError, match="not both"):
        nc.colorize(L_img, m, options=opts, tile=32)

"""Tile plans, blend windows and the merger (pure numpy, no TensorFlow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_colorize.engine.tile_loop import MIN_WEIGHT, Merger, blend_window
from napari_colorize.engine.tile_plan import plan_tiles, resolve_tiling, seam_measure
from napari_colorize.errors import ConfigError, InputError
from napari_colorize.tiling import BLENDS, TilePlan, pad_to_block


def _cover(plan: TilePlan, which: str) -> np.ndarray:
    count = np.zeros(plan.shape, int)
    for t in plan.tiles:
        y0, x0, y1, x1 = getattr(t, which)
        count[y0:y1, x0:x1] += 1
    return count


@pytest.mark.parametrize("shape", [(300, 517), (64, 64), (65, 1000), (1, 50), (37, 1)])
@pytest.mark.parametrize("tile,overlap,halo", [(64, 16, 8), (128, 0, 0), (100, 36, 30)])
def test_plan_geometry(shape, tile, overlap, halo):
    plan = plan_tiles(shape, tile=tile, overlap=overlap, halo=halo)
    H, W = shape
    # write boxes cover the image, cores partition it
    assert _cover(plan, "write").min() >= 1
    np.testing.assert_array_equal(_cover(plan, "core"), 1)
    reads = {t.read_shape for t in plan.tiles}
    assert len(reads) == 1, "all read boxes have one shape (so tiles batch)"
    for t in plan.tiles:
        ry0, rx0, ry1, rx1 = t.read
        wy0, wx0, wy1, wx1 = t.write
        # inside the image (edge tiles shifted inside, never padded)
        assert 0 <= ry0 <= wy0 < wy1 <= ry1 <= H and 0 <= rx0 <= wx0 < wx1 <= rx1 <= W
        assert t.write_shape == plan.tile and plan.tile[0] <= min(tile, H) and plan.tile[1] <= min(tile, W)
        # the halo is there wherever the image allows it
        assert wy0 - ry0 >= min(halo, wy0) and ry1 - wy1 >= min(halo, H - wy1)
        assert wx0 - rx0 >= min(halo, wx0) and rx1 - wx1 >= min(halo, W - wx1)
        assert t.core[0] >= wy0 and t.core[2] <= wy1 and t.core[1] >= wx0 and t.core[3] <= wx1
    # neighbouring write boxes overlap by at least `overlap` (edge tiles may overlap more)
    ys = sorted({t.write[0] for t in plan.tiles})
    for a, b in zip(ys[:-1], ys[1:]):
        assert a + plan.tile[0] - b >= overlap


def test_balanced_tiles():
    # 2048 px with tiles of at most 1024 and overlap 32: three tiles of 704, not 1024 + 1024 + a repeat
    plan = plan_tiles((2048, 1000), tile=1024, overlap=32)
    assert plan.tile == (704, 1000) and len(plan) == 3
    assert sorted({t.write[0] for t in plan.tiles}) == [0, 672, 1344]
    plain = plan_tiles((2048, 1000), tile=1024, overlap=32, balance=False)
    assert plain.tile == (1024, 1000) and len(plain) == 3
    # block alignment survives balancing
    plan = plan_tiles((1000, 777), tile=256, overlap=32, block_size=16)
    assert all(v % 16 == 0 and v <= 256 for v in plan.tile)


def test_plan_to_dict_json_and_rectangles():
    plan = plan_tiles((300, 517), tile=128, overlap=32, halo=16)
    d = json.loads(json.dumps(plan.to_dict()))
    assert (
        d["shape"] == [300, 517] and d["tile"] == list(plan.tile) and d["overlap"] == 32 and d["halo"] == 16
    )
    assert len(d["tiles"]) == len(plan) == len(d["rectangles"])
    for t, r in zip(plan.tiles, plan.rectangles()):
        assert r == [[t.write[0], t.write[1]], [t.write[2], t.write[3]]]
    assert TilePlan.from_dict(d) == plan
    whole = TilePlan.whole((5, 40, 30))
    assert whole.rectangles() == [[[0, 0], [40, 30]]]


def test_resolve_tiling_defaults_and_alignment():
    # default overlap is the model's, kept below the tile; halo = receptive field capped at tile/4
    assert resolve_tiling((1000, 1000), tile=256, block_size=1, receptive_field=10, default_overlap=64) == (
        256,
        64,
        10,
    )
    assert resolve_tiling((1000, 1000), tile=64, block_size=1, receptive_field=100, default_overlap=64) == (
        64,
        32,
        16,
    )
    # "auto" uses the model's default tile
    assert resolve_tiling((1000, 1000), tile="auto", default_tile=384)[0] == 384
    # fractions of the tile
    assert resolve_tiling((1000, 1000), tile=200, overlap=0.25)[1] == 50
    # block alignment: tile down, overlap and halo up to multiples of 8
    t, o, h = resolve_tiling((1000, 1000), tile=200, overlap=20, halo=5, block_size=8)
    assert (t, o, h) == (200, 24, 8)
    t, o, h = resolve_tiling((1000, 1000), tile=203, block_size=8, receptive_field=30, default_overlap=64)
    assert t % 8 == 0 and o % 8 == 0 and h % 8 == 0 and o < t and h <= t // 4


def test_resolve_tiling_errors():
    with pytest.raises(ConfigError, match="block size"):
        resolve_tiling((100, 100), tile=4, block_size=8)
    with pytest.raises(ConfigError, match="smaller than the tile"):
        resolve_tiling((100, 100), tile=64, overlap=64)
    with pytest.raises(ConfigError, match="smaller than the tile"):
        resolve_tiling((100, 100), tile=64, overlap=100)
    with pytest.raises(ConfigError):
        resolve_tiling((100, 100), tile=64, overlap=-1)
    with pytest.raises(ConfigError):
        resolve_tiling((100, 100), tile="big")
    with pytest.raises(ConfigError):
        resolve_tiling((100, 100), tile=0)
    with pytest.raises(InputError):
        plan_tiles((0, 10), tile=8)


@pytest.mark.parametrize("blend", BLENDS)
def test_blend_windows_positive(blend):
    for n in (1, 2, 7, 64, 513):
        w = blend_window(n, blend)
        assert w.dtype == np.float32 and w.shape == (n,)
        assert np.all(np.isfinite(w)) and w.min() >= MIN_WEIGHT and w.max() <= 1
    with pytest.raises(ConfigError):
        blend_window(8, "median")


@pytest.mark.parametrize("blend", BLENDS)
def test_merger_of_identical_tiles_is_exact(blend):
    rng = np.random.default_rng(1)
    ab = rng.normal(0, 30, (150, 210, 2)).astype(np.float32)
    plan = plan_tiles(ab.shape[:2], tile=64, overlap=24, halo=0)
    m = Merger(plan, blend)
    for t in plan.tiles:
        y0, x0, y1, x1 = t.write
        m.add(t, ab[y0:y1, x0:x1])
    np.testing.assert_allclose(m.result(), ab, rtol=1e-5, atol=1e-4)
    # a sub-region (as dask chunks use) gives the same pixels
    box = (40, 50, 120, 200)
    m2 = Merger(plan, blend, box)
    for t in plan.tiles_in(box):
        y0, x0, y1, x1 = t.write
        m2.add(t, ab[y0:y1, x0:x1])
    np.testing.assert_allclose(m2.result(), ab[40:120, 50:200], rtol=1e-5, atol=1e-4)


def test_merger_max_keeps_most_saturated():
    plan = plan_tiles((10, 18), tile=10, overlap=2, halo=0)
    assert len(plan) == 2
    m = Merger(plan, "max")
    a, b = plan.tiles
    m.add(a, np.full((10, 10, 2), [5.0, -5.0], np.float32))
    m.add(b, np.full((10, 10, 2), [-20.0, 1.0], np.float32))
    out = m.result()
    np.testing.assert_array_equal(out[:, :8], np.broadcast_to([5.0, -5.0], (10, 8, 2)))
    np.testing.assert_array_equal(out[:, 8:], np.broadcast_to([-20.0, 1.0], (10, 10, 2)))


def test_pad_to_block():
    x = np.arange(35, dtype=np.float32).reshape(1, 5, 7)
    p, hw = pad_to_block(x, 4)
    assert p.shape == (1, 8, 8) and hw == (5, 7)
    np.testing.assert_array_equal(p[:, :5, :7], x)
    one = np.ones((1, 1, 3), np.float32)
    p, _ = pad_to_block(one, 8)
    assert p.shape == (1, 8, 8) and np.all(p == 1)


def test_seam_measure():
    plan = plan_tiles((64, 64), tile=32, overlap=0, halo=0)
    smooth = np.zeros((64, 64, 2), np.float32)
    smooth[..., 0] = np.linspace(0, 10, 64)[None, :]
    assert seam_measure(smooth, plan) == pytest.approx(1.0, rel=0.05)
    step = smooth.copy()
    step[:, 32:, 1] += 20
    assert seam_measure(step, plan) > 10


def test_tiling_options_round_trip_through_json_and_reject_bad_values():

    from napari_colorize.tiling import TilingOptions

    opts = TilingOptions(tile=256, overlap=0.25, blend="crop", global_anchor=True, batch_size=4, halo=8)
    back = TilingOptions.from_dict(json.loads(json.dumps(opts.to_dict())))
    assert back == opts and back.tiled
    assert (
        TilingOptions.from_dict(json.loads(json.dumps(TilingOptions(tile="auto").to_dict()))).tile == "auto"
    )
    assert not TilingOptions().tiled
    assert opts.replace(tile=None) == TilingOptions(
        overlap=0.25, blend="crop", global_anchor=True, batch_size=4, halo=8
    )
    for bad in [
        dict(tile=0),
        dict(tile="big"),
        dict(tile=True),
        dict(overlap=-1),
        dict(overlap=float("nan")),
        dict(blend="soft"),
        dict(global_anchor="yes"),
        dict(batch_size=0),
        dict(halo=-2),
        dict(tiles=64),
    ]:
        with pytest.raises(ConfigError):
            TilingOptions.from_dict(bad)


def test_tiling_options_is_a_config_with_its_own_messages():
    from napari_colorize.config import Config
    from napari_colorize.tiling import TILING_KEYS, TilingOptions

    assert isinstance(TilingOptions(), Config)
    assert TILING_KEYS == ("tile", "overlap", "blend", "global_anchor", "batch_size", "halo")
    assert TilingOptions.from_json(TilingOptions(tile=64, overlap=0.5).to_json()) == TilingOptions(
        tile=64, overlap=0.5
    )
    # numpy scalars are taken (as from a napari spin box) and stored as Python values
    opts = TilingOptions(tile=np.int64(64), batch_size=np.int32(2), global_anchor=np.bool_(True))
    assert opts.to_dict() == {**TilingOptions().to_dict(), "tile": 64, "batch_size": 2, "global_anchor": True}
    assert type(opts.tile) is int and type(opts.global_anchor) is bool
    for overlap, kind in [(np.int64(8), int), (np.float32(0.25), float)]:  # and round-trip as JSON
        opts = TilingOptions(overlap=overlap)
        assert type(opts.overlap) is kind and TilingOptions.from_json(opts.to_json()) == opts
    for bad, message in [
        (dict(tile=True), "tile must be a positive whole number of pixels, got True"),
        (dict(tile="big"), "tile must be a number of pixels, 'auto' or None, got 'big'"),
        (dict(overlap=-1), "overlap must be pixels >= 0 or a fraction of the tile, got -1"),
        (dict(blend="soft"), "unknown blend 'soft'; choose one of average, max, gaussian, hann, crop"),
        (dict(global_anchor="yes"), "global_anchor must be true or false, got 'yes'"),
        (dict(batch_size=0), "batch_size must be a whole number >= 1, got 0"),
        (dict(halo=-2), "halo must be a whole number >= 0, got -2"),
        (
            dict(tiles=64, tile=8),
            "unknown tiling option(s) tiles; known: tile, overlap, blend, global_anchor, batch_size, halo",
        ),
    ]:
        with pytest.raises(ConfigError) as e:
            TilingOptions.from_dict(bad)
        assert str(e.value) == message
    # coerce: an instance, a dict or None, with keywords on top
    base = TilingOptions(tile=32)
    assert TilingOptions.coerce(base) is base
    assert TilingOptions.coerce(base, blend="crop") == TilingOptions(tile=32, blend="crop")
    assert TilingOptions.coerce({"tile": 32}, halo=4) == TilingOptions(tile=32, halo=4)
    assert TilingOptions.coerce(None) == TilingOptions()
    with pytest.raises(ConfigError, match="options must be TilingOptions or a dict, got int"):
        TilingOptions.coerce(3)

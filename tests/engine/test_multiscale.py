"""Whole-slide images: multiscale input in the API, OME-Zarr in and out on the command line."""

import errno
import json
import os

import numpy as np
import pytest

import napari_colorize as nc
from napari_colorize.cli import main
from napari_colorize.io import to_uint8

zarr = pytest.importorskip("zarr")
ome_writer = pytest.importorskip("ome_zarr.writer")


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    from skimage import data

    return data.camera()  # 512 x 512 uint8, a bundled photo


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, coffee):
    import imageio.v3 as iio

    d = tmp_path_factory.mktemp("ref")
    iio.imwrite(d / "coffee.png", (coffee * 255).astype(np.uint8))
    out = tmp_path_factory.mktemp("m") / "lookup"
    assert main(["train", "--method", "lookup", "--images", str(d), "--out", str(out)]) == 0
    return out


def _pyramid(img: np.ndarray, n: int = 3) -> list[np.ndarray]:
    return [img[:: 2**i, :: 2**i] for i in range(n)]


def _write_ome(path, levels, *, axes=("y", "x"), scale=None, transforms=None, omero=None):
    import warnings

    g = zarr.open_group(str(path), mode="w")
    kw = {}
    if omero is not None:
        kw["metadata"] = {"omero": omero}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ome_writer.write_multiscale(
            levels,
            g,
            axes=list(axes),
            scale=scale,
            coordinate_transformations=transforms,
            axes_units={"y": "micrometer", "x": "micrometer"} if "y" in axes else None,
            **kw,
        )
    return path


def _attrs(path) -> dict:
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    return attrs.get("ome", attrs)


# -- API -----------------------------------------------------------------------------------


def test_colorize_takes_a_multiscale_list_and_returns_one(camera, model_dir):
    levels = _pyramid(camera)
    res = nc.colorize(levels, model_dir, tile=128)
    assert [r.shape for r in res.rgb] == [(512, 512, 3), (256, 256, 3), (128, 128, 3)]
    assert all(hasattr(r, "dask") for r in res.rgb + res.ab + res.L)  # lazy
    assert res.plan is not None and len(res.plan) > 1  # level 0 went through the tiled path
    ref = nc.colorize(camera, model_dir)  # untiled, numpy
    d = np.abs(to_uint8(np.asarray(res.rgb[0])).astype(int) - to_uint8(ref.rgb).astype(int))
    assert d.max() <= 1  # the tiling tests' tolerance
    # a lower level: level 0's ab averaged over its 2x2 / 4x4 blocks, with its own L
    ab0 = np.asarray(res.ab[0])
    for k in (1, 2):
        f = 2**k
        want = ab0.reshape(512 // f, f, 512 // f, f, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(np.asarray(res.ab[k]), want, atol=1e-3)
        L_k = nc.colorize(levels[k], model_dir).L
        np.testing.assert_allclose(np.asarray(res.L[k]), L_k, atol=1e-4)


def test_multiscale_odd_shapes_and_bad_levels(camera, model_dir):
    from napari_colorize.errors import InputError
    from napari_colorize.multiscale import level_ab

    img = camera[:501, :333]
    levels = [img, img[::2, ::2], img[::3, ::3][:100]]  # 251 x 167, 100 x 111
    res = nc.colorize(levels, model_dir, tile=96)
    assert [r.shape[:2] for r in res.rgb] == [(501, 333), (251, 167), (100, 111)]
    assert np.isfinite(np.asarray(res.rgb[2])).all()
    # chunked block means equal the whole plane's (block_mean's own layout)
    from napari_colorize.edge_aware_solver import block_mean

    ab0 = np.asarray(res.ab[0])
    np.testing.assert_allclose(
        np.asarray(level_ab(res.ab[0], (100, 111), chunk=32)), block_mean(ab0, (100, 111)), atol=1e-4
    )
    with pytest.raises(InputError, match="larger than level 0"):
        nc.colorize([img[::2, ::2], img], model_dir)
    with pytest.raises(InputError, match="2-D gray levels"):
        nc.colorize([np.zeros((64, 64, 3), np.uint8)], model_dir)


# -- command line: OME-Zarr round trip -------------------------------------------------------


def test_cli_ome_zarr_round_trip(tmp_path, camera, model_dir, capsys):
    src = _write_ome(
        tmp_path / "SLIDE.zarr",
        [a[None] for a in _pyramid(camera)],  # one gray channel (c, y, x)
        axes=("c", "y", "x"),
        scale={"c": 1.0, "y": 0.25, "x": 0.5},
        omero={"channels": [{"label": "DAPI", "color": "FFFFFF"}]},
    )
    out_dir = tmp_path / "O"
    code = main(["colorize", str(src), "--model", str(model_dir), "--out-dir", str(out_dir), "--tile", "128"])
    assert code == 0
    out = out_dir / "SLIDE_rgb.zarr"
    assert str(out) in capsys.readouterr().out
    a_in, a_out = _attrs(src), _attrs(out)
    ms_in, ms_out = a_in["multiscales"][0], a_out["multiscales"][0]
    # same levels, same physical scale and translation (a c axis of 3 channels)
    assert len(ms_out["datasets"]) == 3
    assert [a["name"] for a in ms_out["axes"]] == ["c", "y", "x"]
    assert ms_out["axes"][1].get("unit") == "micrometer"
    for d_in, d_out in zip(ms_in["datasets"], ms_out["datasets"]):
        assert d_out["coordinateTransformations"] == d_in["coordinateTransformations"]
    assert [c["label"] for c in a_out["omero"]["channels"]] == ["red", "green", "blue"]
    assert ms_out["metadata"]["napari_colorize"]["source_channels"] == ["DAPI"]
    g = zarr.open_group(str(out), mode="r")
    shapes = [g[d["path"]].shape for d in ms_out["datasets"]]
    assert shapes == [(3, 512, 512), (3, 256, 256), (3, 128, 128)]
    assert g[ms_out["datasets"][0]["path"]].dtype == np.uint8
    # level 0 equals the untiled colorization within the tiling tests' tolerance
    ref = to_uint8(nc.colorize(camera, model_dir).rgb)
    lvl0 = np.moveaxis(np.asarray(g[ms_out["datasets"][0]["path"]]), 0, -1)
    assert np.abs(lvl0.astype(int) - ref.astype(int)).max() <= 1
    # ome-zarr's own reader reads it back as a 3-level image
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    node = next(iter(Reader(parse_url(str(out)))()))
    assert len(node.data) == 3
    # nothing else is left beside it (no temporary folder, no leftover ab)
    assert sorted(p.name for p in out_dir.iterdir() if not p.name.endswith(".lock")) == ["SLIDE_rgb.zarr"]
    assert not any("_ab0" in p.name for p in out.rglob("*"))
    # a second run replaces the earlier result
    assert main(["colorize", str(src), "--model", str(model_dir), "--out-dir", str(out_dir)]) == 0
    assert sorted(p.name for p in out_dir.iterdir() if not p.name.endswith(".lock")) == ["SLIDE_rgb.zarr"]


def test_cli_pyramidal_tiff_gives_ome_zarr(tmp_path, camera, model_dir):
    import tifffile

    src = tmp_path / "pyr.tif"
    with tifffile.TiffWriter(src) as tif:
        levels = _pyramid(camera)
        res = dict(resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER")  # 0.5 µm pixels
        tif.write(levels[0], subifds=2, tile=(128, 128), **res)
        for a in levels[1:]:
            tif.write(a, subfiletype=1, tile=(64, 64))
    assert main(["colorize", str(src), "--model", str(model_dir), "--out-dir", str(tmp_path / "O")]) == 0
    out = tmp_path / "O" / "pyr_rgb.zarr"
    ms = _attrs(out)["multiscales"][0]
    g = zarr.open_group(str(out), mode="r")
    assert [g[d["path"]].shape for d in ms["datasets"]] == [(3, 512, 512), (3, 256, 256), (3, 128, 128)]
    t0, t2 = (ms["datasets"][i]["coordinateTransformations"] for i in (0, 2))
    assert t0[0]["scale"] == pytest.approx([1.0, 0.5, 0.5])  # 0.5 µm pixels, from the resolution tags
    assert t2[0]["scale"] == pytest.approx([1.0, 2.0, 2.0])
    assert t2[1]["translation"] == pytest.approx([0.0, 0.75, 0.75])  # pixel centres line up with level 0's
    assert ms["axes"][1]["unit"] == "micrometer"


def _channels(tmp):
    return _write_ome(
        tmp / "rgb.zarr",
        [np.zeros((3, 64, 64), np.uint8), np.zeros((3, 32, 32), np.uint8)],
        axes=("c", "y", "x"),
        omero={"channels": [{"label": n} for n in ("R", "G", "B")]},
    )


def _time(tmp):
    return _write_ome(tmp / "t.zarr", [np.zeros((2, 64, 64), np.uint8)], axes=("t", "y", "x"))


def _missing(tmp):
    import shutil

    p = _write_ome(tmp / "m.zarr", [np.zeros((64, 64), np.uint8), np.zeros((32, 32), np.uint8)])
    shutil.rmtree(p / "s1")
    return p


def _scales(tmp):
    tr = [[{"type": "scale", "scale": [1.0, 1.0]}], [{"type": "scale", "scale": [1.0, 1.0]}]]
    return _write_ome(
        tmp / "s.zarr", [np.zeros((64, 64), np.uint8), np.zeros((32, 32), np.uint8)], transforms=tr
    )


def _plain_folder(tmp):
    p = tmp / "plain.zarr"
    p.mkdir()
    (p / "notes.txt").write_text("x")
    return p


@pytest.mark.parametrize(
    "make, msg",
    [
        (_channels, "has 3 channels (R, G, B), not one gray channel"),
        (_time, "has a time axis of 2 points"),
        (_missing, "level 's1' is listed in the metadata but missing"),
        (_scales, "inconsistent scales"),
        (_plain_folder, "not a Zarr store"),
    ],
)
def test_bad_ome_zarr_is_one_line_before_any_model_loads(tmp_path, make, msg, capsys):
    src = make(tmp_path)
    code = main(["colorize", str(src), "--model", "lookup-nonexistent", "--out-dir", str(tmp_path / "O")])
    err = capsys.readouterr().err
    assert code == 2 and msg in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "O").exists() or not any((tmp_path / "O").iterdir())


def test_output_that_is_not_a_store_is_kept(tmp_path, camera, model_dir, capsys):
    src = _write_ome(tmp_path / "SLIDE.zarr", _pyramid(camera, 2))
    keep = tmp_path / "O" / "SLIDE_rgb.zarr"
    keep.mkdir(parents=True)
    (keep / "precious.txt").write_text("mine")
    code = main(["colorize", str(src), "--model", str(model_dir), "--out-dir", str(tmp_path / "O")])
    err = capsys.readouterr().err
    assert code == 2 and "is not a Zarr store; refusing to replace it" in err
    errors = [x for x in err.replace("\r", "\n").splitlines() if "error" in x.lower()]
    assert len(errors) == 1 and "Traceback" not in err
    assert (keep / "precious.txt").read_text() == "mine"


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, camera, model_dir, monkeypatch, capsys):
    from zarr.storage import LocalStore

    src = _write_ome(tmp_path / "SLIDE.zarr", _pyramid(camera, 2))
    out_dir = tmp_path / "O"
    earlier = out_dir / "SLIDE_rgb.zarr"
    assert main(["colorize", str(src), "--model", str(model_dir), "--out-dir", str(out_dir)]) == 0
    before = sorted(str(p.relative_to(earlier)) for p in earlier.rglob("*"))
    capsys.readouterr()

    async def full(self, key, value, *a, **k):
        if key.startswith("s1/c"):  # a chunk of the second level: half written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return await orig(self, key, value, *a, **k)

    orig = LocalStore.set
    monkeypatch.setattr(LocalStore, "set", full)
    code = main(["colorize", str(src), "--model", str(model_dir), "--out-dir", str(out_dir)])
    err = capsys.readouterr().err
    assert code != 0 and "no space left" in err, err
    errors = [x for x in err.replace("\r", "\n").splitlines() if "error" in x.lower()]
    assert len(errors) == 1 and "Traceback" not in err
    # the earlier result is intact, no temporary folder is left
    assert sorted(p.name for p in out_dir.iterdir() if not p.name.endswith(".lock")) == ["SLIDE_rgb.zarr"]
    assert sorted(str(p.relative_to(earlier)) for p in earlier.rglob("*")) == before


def test_hints_json_and_tiles_json_for_ome_zarr(tmp_path, camera, model_dir):
    src = _write_ome(tmp_path / "SLIDE.zarr", _pyramid(camera, 2))
    csv = tmp_path / "h.csv"
    csv.write_text("y,x,r,g,b,radius\n100,100,255,0,0,20\n")
    tj = tmp_path / "tiles.json"
    args = [
        "colorize",
        str(src),
        "--model",
        "propagate",
        "--out-dir",
        str(tmp_path / "O"),
        "--hints",
        str(csv),
    ]
    assert main(args + ["--tiles-json", str(tj)]) == 0
    assert json.loads(tj.read_text())["plan"]
    g = zarr.open_group(str(tmp_path / "O" / "SLIDE_rgb.zarr"), mode="r")
    px = np.asarray(g["s0"][:, 100, 100]).astype(int)
    assert px[0] > px[1] + 30 and px[0] > px[2] + 30  # red where the hint is


def test_point_hints_on_a_multiscale_image_are_painted_near_each_point(camera):
    import dask.array as da

    levels = [da.from_array(a, chunks=128) for a in _pyramid(camera)]
    res = nc.colorize(levels, "propagate", hints=[(100, 100, (255, 0, 0), 12), (400, 300, (0, 0, 255), 12)])
    for k, f in ((0, 1), (2, 4)):
        rgb = np.asarray(res.rgb[k])
        red, blue = rgb[100 // f, 100 // f], rgb[400 // f, 300 // f]
        assert red[0] > red[2] + 0.1 and blue[2] > blue[0] + 0.1


def test_a_gray_result_and_a_relative_out_dir(tmp_path, camera, monkeypatch):
    """propagate without hints gives ab = 0 everywhere (no ab chunk is ever stored): still a full store."""
    _write_ome(tmp_path / "S.zarr", _pyramid(camera[:501, :333]))
    monkeypatch.chdir(tmp_path)
    assert main(["colorize", "S.zarr", "--model", "propagate", "--out-dir", "O", "--tile", "128"]) == 0
    g = zarr.open_group("O/S_rgb.zarr", mode="r")
    assert [g[f"s{i}"].shape for i in range(3)] == [(3, 501, 333), (3, 251, 167), (3, 126, 84)]
    lvl2 = np.asarray(g["s2"])
    assert np.abs(lvl2[0].astype(int) - lvl2[2].astype(int)).max() <= 1  # gray


def test_ome_zarr_v04_input_zarr_format_2(tmp_path, camera, model_dir):
    from ome_zarr.format import FormatV04

    from napari_colorize.multiscale import read_ome_zarr

    g = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    ome_writer.write_multiscale(_pyramid(camera, 2), g, axes=["y", "x"], fmt=FormatV04())
    img = read_ome_zarr(tmp_path / "old.zarr")
    assert [a.shape for a in img.levels] == [(512, 512), (256, 256)] and img.scale[1] == (2.0, 2.0)
    args = ["colorize", str(tmp_path / "old.zarr"), "--model", str(model_dir), "--out-dir", str(tmp_path)]
    assert main(args) == 0
    assert (tmp_path / "old_rgb.zarr" / "s1").is_dir()


def test_read_only_out_dir_is_one_line_and_nothing_is_written(tmp_path, camera, monkeypatch, capsys):
    """A folder the user may not write into (faked: the tests run as root, which may write anywhere)."""
    import tempfile

    from napari_colorize import io as nc_io

    src = _write_ome(tmp_path / "SLIDE.zarr", _pyramid(camera, 2))
    (tmp_path / "ro").mkdir()
    real = tempfile.TemporaryFile

    def denied(*a, dir=None, **k):
        if dir is not None and "ro" in str(dir):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(nc_io.tempfile, "TemporaryFile", denied)
    code = main(["colorize", str(src), "--model", "propagate", "--out-dir", str(tmp_path / "ro")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write into the --out-dir folder" in err and "Permission denied" in err
    assert len(err.strip().splitlines()) == 1
    assert list((tmp_path / "ro").iterdir()) == []


def test_level_0_written_band_by_band_equals_one_band(tmp_path, camera, model_dir, monkeypatch):
    """Level 0 is computed and written a band of rows at a time (memory follows the band)."""
    from napari_colorize import multiscale

    levels = _pyramid(camera[:500, :480])  # neither side a multiple of the chunk
    res = nc.colorize(levels, model_dir, tile=128)
    whole = multiscale.write_rgb_store(tmp_path / "whole.zarr", res.L, res.ab[0])
    monkeypatch.setattr(multiscale, "ZARR_CHUNK", 64)
    monkeypatch.setattr(multiscale, "BAND_ROWS", 128)  # 4 bands, the last one short
    banded = multiscale.write_rgb_store(tmp_path / "banded.zarr", res.L, res.ab[0])
    a, b = multiscale.open_rgb_store(whole)[0], multiscale.open_rgb_store(banded)[0]
    assert len(a) == len(b) == 3
    for la, lb in zip(a, b):
        np.testing.assert_array_equal(np.asarray(la), np.asarray(lb))
    assert np.asarray(b[0]).std() > 0  # a real picture, not zeros


@pytest.mark.parametrize("grid", [(1, 1), (7, 11), (50, 48), (500, 480)])
def test_each_band_written_reports_its_rows_sampled_on_the_preview_grid(
    tmp_path, camera, model_dir, monkeypatch, grid
):
    """What replaces a preview while level 0 is written: each band's rows, once, in order, as stored."""
    from napari_colorize import multiscale

    levels = _pyramid(camera[:500, :480])
    res = nc.colorize(levels, model_dir, tile=128)
    monkeypatch.setattr(multiscale, "ZARR_CHUNK", 64)
    monkeypatch.setattr(multiscale, "BAND_ROWS", 128)
    rows, cols = multiscale.preview_sample((500, 480), grid)
    assert list(rows) == sorted(rows) and 0 <= rows[0] and rows[-1] < 500 and len(cols) == grid[1]
    bands = []
    out = multiscale.write_rgb_store(
        tmp_path / "s.zarr", res.L, res.ab[0], sample=(rows, cols), on_band=lambda *b: bands.append(b)
    )
    assert [b[0] for b in bands] == sorted(b[0] for b in bands)
    covered = np.concatenate([np.arange(r0, r1) for r0, r1, _ in bands])
    np.testing.assert_array_equal(covered, np.arange(grid[0]))  # every row once
    shown = np.concatenate([rgb for _, _, rgb in bands])
    store = np.asarray(multiscale.open_rgb_store(out)[0][0])
    level0 = store if store.shape[-1] == 3 else np.moveaxis(store, 0, -1)
    np.testing.assert_array_equal(shown, level0[np.ix_(rows, cols)])


def test_preview_sample_bad_grid():
    from napari_colorize.errors import InputError
    from napari_colorize.multiscale import preview_sample

    with pytest.raises(InputError, match="does not fit"):
        preview_sample((100, 100), (0, 10))
    with pytest.raises(InputError, match="does not fit"):
        preview_sample((100, 100), (10, 101))

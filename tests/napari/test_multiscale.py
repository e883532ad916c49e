"""Whole slides in napari: a multiscale gray layer gives a multiscale RGB layer (no TensorFlow here)."""

import numpy as np
import pytest

from napari_colorize._napari import _slides
from napari_colorize._napari._colorize_layer import colorize_layer
from napari_colorize._napari._layer_input import check_gray_layer

pytestmark = pytest.mark.napari

pytest.importorskip("ome_zarr")


def _slide(size: int, levels: int = 3):
    """A multiscale gray dask image of size x size made on the fly from a bundled photo's texture."""
    import dask.array as da
    from skimage import data

    tile = da.from_array(data.camera(), chunks=512)  # 512 x 512
    n = size // 512
    level0 = da.tile(tile, (n, n)).rechunk(2048)
    return [level0[:: 2**i, :: 2**i] for i in range(levels)]


def test_multiscale_layer_colorizes_into_a_multiscale_rgb_layer(make_napari_viewer, lookup_model, tmp_path):
    viewer = make_napari_viewer()
    gray = viewer.add_image(
        _slide(8192), name="slide", multiscale=True, scale=(0.5, 0.25), translate=(10, 20)
    )
    assert gray.multiscale and len(gray.data) == 3
    seen, updates, original = [], [], []

    def inserted(e):
        seen.append((e.value.name, e.value.multiscale, e.value))
        if e.value.name == "slide RGB" and not e.value.multiscale:  # the preview: watch it change
            original.append(np.array(e.value.data))
            e.value.events.data.connect(lambda ev, ly=e.value: updates.append(np.array(ly.data)))

    viewer.layers.events.inserted.connect(inserted)
    layers = colorize_layer(viewer, gray, lookup_model, out_dir=tmp_path, lab=True)
    rgb = viewer.layers["slide RGB"]
    assert rgb in layers and rgb.rgb and rgb.multiscale
    assert [tuple(a.shape) for a in rgb.data] == [(8192, 8192, 3), (4096, 4096, 3), (2048, 2048, 3)]
    np.testing.assert_allclose(rgb.scale, gray.scale)
    np.testing.assert_allclose(rgb.translate, gray.translate)
    # read lazily from the OME-Zarr store the worker wrote (a folder the user chose)
    store = tmp_path / "slide_rgb.zarr"
    assert rgb.metadata["napari_colorize"]["store"] == str(store)
    assert all(hasattr(a, "dask") for a in rgb.data)
    # the preview of a coarse level (<= 2 MP) came first, overlaying the image, then the full result
    first = [ly for name, ms, ly in seen if name == "slide RGB"]
    assert len(first) == 2 and not first[0].multiscale and first[1] is rgb
    pre_shape = first[0].metadata["napari_colorize"]["preview"]
    assert np.prod(np.asarray(first[0].data.shape[:2])) <= _slides.PREVIEW_PIXELS
    assert pre_shape == pytest.approx([8192 / first[0].data.shape[0], 8192 / first[0].data.shape[1]])
    # while level 0 was written, the preview was replaced by the result band by band, top down
    from napari_colorize.multiscale import BAND_ROWS, preview_sample

    grid = first[0].data.shape[:2]
    assert len(updates) >= 8192 // (2 * BAND_ROWS)
    rows, cols = preview_sample((8192, 8192), grid)
    written = np.asarray(rgb.data[0])[np.ix_(rows, cols)]
    done = []
    for shown in updates:  # each row is the preview's or the result's; the result's come from the top
        is_result = (shown == written).all(axis=(1, 2))
        assert (is_result | (shown == original[0]).all(axis=(1, 2))).all()
        done.append(len(is_result) if is_result.all() else int(np.argmin(is_result)))
    assert all(a < b for a, b in zip(done, done[1:], strict=False)), done
    np.testing.assert_array_equal(updates[-1], written)
    # a coarse level shows the same colours as level 0 averaged, with its own detail
    top = np.asarray(rgb.data[2][:512, :512]).astype(float)
    full = np.asarray(rgb.data[0][:2048, :2048]).astype(float).reshape(512, 4, 512, 4, 3).mean(axis=(1, 3))
    # (level 2 subsamples level 0: the same colours over 64 x 64 blocks, its own pixels within)
    coarse = [x.reshape(8, 64, 8, 64, 3).mean(axis=(1, 3)) for x in (top, full)]
    assert np.abs(coarse[0] - coarse[1]).mean() < 3
    assert top.std(axis=(0, 1)).max() > 10  # not flat: the photo's texture is there
    # the tiles colorized are colorful, not gray
    assert np.abs(top[..., 0] - top[..., 2]).mean() > 2
    # L, a and b as multiscale layers too (asked for with lab=True)
    for suffix in (" L", " a", " b"):
        ly = viewer.layers["slide" + suffix]
        assert ly.multiscale and len(ly.data) == 3 and not ly.visible
        np.testing.assert_allclose(ly.scale, gray.scale)


def test_multiscale_from_the_widget_and_bad_layers(
    make_napari_viewer, qtbot, wait_idle, lookup_model, tmp_path, monkeypatch
):
    from napari_colorize._napari._colorize_widget import ColorizeWidget
    from napari_colorize.errors import InputError

    monkeypatch.setenv(_slides.SLIDES_ENV, str(tmp_path / "cache"))
    viewer = make_napari_viewer()
    gray = viewer.add_image(_slide(2048), name="small slide", multiscale=True)
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize")
    w._extra_models["test lookup"] = str(lookup_model)
    w.refresh_models(select=str(lookup_model))
    w.image.value = gray
    assert w.run() is not None
    wait_idle(w)
    assert not w.messages, w.messages
    rgb = viewer.layers["small slide RGB"]
    assert rgb.multiscale and [a.shape[:2] for a in rgb.data] == [(2048, 2048), (1024, 1024), (512, 512)]
    assert (tmp_path / "cache" / "small_slide_rgb.zarr").is_dir()  # the cache folder named in the README
    # a multiscale RGB layer is refused in one line
    with pytest.raises(InputError, match="already RGB"):
        check_gray_layer(rgb)


def test_points_hints_on_a_multiscale_layer_reach_the_preview_and_every_level(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    gray = viewer.add_image(_slide(1024), name="slide", multiscale=True)
    points = viewer.add_points([[200, 300]], size=40, face_color="red", name="hints")
    seen = []
    viewer.layers.events.inserted.connect(lambda e: seen.append(e.value))
    colorize_layer(viewer, gray, "propagate", hints=points, out_dir=tmp_path, preview_pixels=256 * 256)
    preview = next(ly for ly in seen if ly.name == "slide RGB")
    f = preview.metadata["napari_colorize"]["preview"]
    assert preview.data.shape[:2] == (256, 256) and f == pytest.approx([4.0, 4.0])
    px = preview.data[int(200 / f[0]), int(300 / f[1])].astype(int)
    assert px[0] > px[2] + 20
    rgb = viewer.layers["slide RGB"]
    for k, s in enumerate((1, 2, 4)):
        px = np.asarray(rgb.data[k][200 // s, 300 // s]).astype(int)
        assert px[0] > px[2] + 20, (k, px)


def test_a_layer_opened_from_ome_zarr_is_read_where_it_is(
    make_napari_viewer, lookup_model, tmp_path, monkeypatch
):
    import dask.array as da
    import zarr
    from napari.layers._source import layer_source
    from ome_zarr import writer
    from skimage import data

    cam = data.camera()
    g = zarr.open_group(str(tmp_path / "cam.zarr"), mode="w")
    writer.write_multiscale([cam, cam[::2, ::2]], g, axes=["y", "x"], scale={"y": 0.5, "x": 0.5})
    levels = [da.from_zarr(g[p]) for p in ("s0", "s1")]
    viewer = make_napari_viewer()
    with layer_source(path=str(tmp_path / "cam.zarr")):
        gray = viewer.add_image(levels, name="cam", multiscale=True, scale=(0.5, 0.5))

    def no_copy(*a, **k):
        raise AssertionError("the levels were copied")

    monkeypatch.setattr(writer, "write_multiscale", no_copy)
    colorize_layer(viewer, gray, lookup_model, out_dir=tmp_path)
    rgb = viewer.layers["cam RGB"]
    assert rgb.multiscale and [a.shape for a in rgb.data] == [(512, 512, 3), (256, 256, 3)]
    ms = dict(zarr.open_group(str(tmp_path / "cam_rgb.zarr"), mode="r").attrs)["ome"]["multiscales"][0]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 0.5, 0.5]


def test_live_hints_on_a_multiscale_layer_preview_then_the_pyramid(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_hints import _widget

    monkeypatch.setenv(_slides.SLIDES_ENV, str(tmp_path))
    viewer = make_napari_viewer()
    gray = viewer.add_image(_slide(1024), name="slide", multiscale=True, scale=(2.0, 2.0))
    w = _widget(viewer, "propagate")
    w.preview_size = 128
    points = w.add_hints_layer()
    assert w.live.value  # on by default for propagate
    points.current_face_color = "red"
    points.add([[400, 600]])  # world coordinates: pixel (200, 300) of level 0
    qtbot.waitUntil(lambda: "slide RGB" in viewer.layers, timeout=60_000)
    first = viewer.layers["slide RGB"]
    seen = (first.multiscale, first.data.shape[:2])
    qtbot.waitUntil(lambda: w.live_refines == 1 and not w.running, timeout=120_000)
    rgb = viewer.layers["slide RGB"]
    assert seen == (False, (128, 128))  # the preview: 128 px on its longest side
    assert rgb.multiscale and [a.shape[:2] for a in rgb.data] == [(1024, 1024), (512, 512), (256, 256)]
    np.testing.assert_allclose(rgb.scale, gray.scale)
    px = np.asarray(rgb.data[0][200, 300]).astype(int)
    assert px[0] > px[2] + 20
    assert not w.messages, w.messages

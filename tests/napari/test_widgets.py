"""The napari widgets and scripted API, driven through the engine worker.

Runs in its own pytest process: ``pytest tests/napari`` (no TensorFlow may
be imported here; the ``no_tensorflow_here`` fixture checks after each test).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from napari_colorize._napari import _colorize_layer
from napari_colorize._napari._colorize_layer import colorize_layer
from napari_colorize._napari._colorize_widget import ColorizeWidget
from napari_colorize._napari._evaluate_widget import EvaluateWidget
from napari_colorize._napari._model_choice import LOAD_FOLDER
from napari_colorize._napari._result_layers import _add_outputs
from napari_colorize._napari._train_from_layers import train_from_layers
from napari_colorize._napari._train_widget import TrainWidget
from napari_colorize.client import get_worker

pytestmark = pytest.mark.napari

OUT = ("coffee L", "coffee a", "coffee b", "coffee RGB")


def _colorize_widget(viewer, model):
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize")
    w.refresh_models()
    w._extra_models["test lookup"] = str(model)
    w.refresh_models(select=str(model))
    assert w.model.value == str(model)
    return w


def _snapshot(viewer):
    return {
        ly.name: (id(ly), np.asarray(ly.data).copy() if hasattr(ly.data, "shape") else None)
        for ly in viewer.layers
    }


def _same(viewer, snap):
    now = {ly.name: ly for ly in viewer.layers}
    if set(now) != set(snap):
        return False
    for name, (ident, data) in snap.items():
        ly = now[name]
        if id(ly) != ident:
            return False
        if data is not None and not np.array_equal(np.asarray(ly.data), data):
            return False
    return True


def test_colorize_widget_outputs(make_napari_viewer, qtbot, wait_idle, coffee, coffee_gray, lookup_model):
    from napari_colorize.engine.tile_plan import plan_tiles, resolve_tiling

    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray, name="coffee", scale=(0.5, 0.5), translate=(10, 20))
    w = _colorize_widget(viewer, lookup_model)
    w.image.value = gray
    w.auto_tile.value = False
    assert w.tile.enabled and w.overlap.enabled
    w.tile.value, w.overlap.value, w.blend.value = 128, 16, "gaussian"
    assert w.run() is not None
    wait_idle(w)
    assert not w.messages, w.messages

    H, W = coffee_gray.shape
    for name in OUT:
        assert name in viewer.layers
    L, a, b, rgb = (viewer.layers[n] for n in OUT)
    assert L.data.shape == (H, W) and L.data.dtype == np.float32
    assert a.data.shape == b.data.shape == (H, W) and a.data.dtype == b.data.dtype == np.float32
    assert rgb.rgb and rgb.data.shape == (H, W, 3) and rgb.data.dtype == np.uint8
    for ly in (L, a, b, rgb):
        np.testing.assert_allclose(ly.scale, gray.scale)
        np.testing.assert_allclose(ly.translate, gray.translate)
    # L is the input's own lightness; the lookup model put color in
    assert 0 <= L.data.min() and L.data.max() <= 100
    assert np.hypot(a.data, b.data).mean() > 3.0
    # closer to the color original than the gray image is
    from napari_colorize.metrics import delta_e2000

    assert delta_e2000(rgb.data, coffee) < delta_e2000(np.repeat(coffee_gray[..., None], 3, -1), coffee)

    # the tile rectangles are the tile plan's write boxes
    tiles = viewer.layers["coffee tiles"]
    t, ov, h = resolve_tiling((H, W), tile=128, overlap=16, block_size=1, receptive_field=0)
    plan = plan_tiles((H, W), tile=t, overlap=ov, halo=h)
    assert tiles.nshapes == len(plan) > 1
    assert list(tiles.shape_type) == ["rectangle"] * len(plan)
    for rect, tile in zip(tiles.data, plan.tiles):
        y0, x0, y1, x1 = tile.write
        np.testing.assert_allclose(rect.min(0) + 0.5, [y0, x0])
        np.testing.assert_allclose(rect.max(0) + 0.5, [y1, x1])
    assert tiles.metadata["write_boxes"] == [list(tl.write) for tl in plan.tiles]
    assert np.all(tiles.face_color[:, 3] == 0)  # transparent face
    assert list(tiles.features["index"]) == list(range(len(plan)))
    np.testing.assert_allclose(tiles.scale, gray.scale)
    np.testing.assert_allclose(tiles.translate, gray.translate)


def test_rerun_updates_in_place(make_napari_viewer, qtbot, wait_idle, coffee_gray, lookup_model):
    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray, name="coffee")
    w = _colorize_widget(viewer, lookup_model)
    w.image.value = gray
    w.auto_tile.value = False
    w.tile.value, w.overlap.value = 256, 32
    w.run()
    wait_idle(w)
    first = {ly.name: ly for ly in viewer.layers}
    n_tiles = first["coffee tiles"].nshapes
    w.tile.value = 128
    w.run()
    wait_idle(w)
    assert not w.messages, w.messages
    assert [ly.name for ly in viewer.layers] == list(first)
    for name, ly in first.items():
        assert viewer.layers[name] is ly
    assert viewer.layers["coffee tiles"].nshapes > n_tiles
    # untiled: no stale tile outlines
    w.use_tiles.value = False
    w.run()
    wait_idle(w)
    assert "coffee tiles" not in viewer.layers
    assert viewer.layers["coffee RGB"] is first["coffee RGB"]


def test_cancel_and_crash_recovery(
    make_napari_viewer, qtbot, wait_idle, coffee_gray, lookup_model, monkeypatch
):
    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray, name="coffee")
    w = _colorize_widget(viewer, lookup_model)
    w.image.value = gray
    w.run()
    wait_idle(w)
    snap = _snapshot(viewer)
    worker = get_worker()
    starts = worker.starts

    # the worker dies in the middle of a request (as in a segfault or OOM kill)
    orig = _colorize_layer._colorize_gen

    def crashing(wk, *a, **k):
        yield from wk.iter_request("_crash", code=-11 & 0xFF)
        return (yield from orig(wk, *a, **k))

    monkeypatch.setattr(_colorize_layer, "_colorize_gen", crashing)
    w.run()
    wait_idle(w)
    assert w.messages and w.messages[-1][0] == "error"
    assert "crashed" in w.messages[-1][1]
    assert _same(viewer, snap)  # no layer lost or changed
    assert not worker.alive

    # cancel: a slow request stopped by the Cancel button
    def slow(wk, *a, **k):
        yield from wk.iter_request("_sleep", seconds=30)
        return (yield from orig(wk, *a, **k))

    monkeypatch.setattr(_colorize_layer, "_colorize_gen", slow)
    w.run()
    qtbot.waitUntil(lambda: worker.busy, timeout=30_000)
    w.cancel_button.changed.emit(True)
    wait_idle(w, timeout=20_000)
    assert w.messages[-1][0] == "info" and "stop" in w.messages[-1][1]
    assert _same(viewer, snap)

    # the next run works, in a fresh worker
    monkeypatch.setattr(_colorize_layer, "_colorize_gen", orig)
    w.auto_tile.value = False
    w.tile.value = 200
    w.run()
    wait_idle(w)
    assert worker.starts == starts + 1
    assert w.messages[-1][0] == "info"  # nothing new went wrong
    tiles = viewer.layers["coffee tiles"]
    assert tiles.nshapes == len(tiles.metadata["write_boxes"]) > 1
    # the new tile size took effect: tiles are at most 200 px (plans balance tiles over each axis)
    assert all(b[2] - b[0] <= 200 and b[3] - b[1] <= 200 for b in tiles.metadata["write_boxes"])
    assert max(b[3] - b[1] for b in tiles.metadata["write_boxes"]) > 150


def test_bad_gui_input_changes_nothing(
    make_napari_viewer, qtbot, wait_idle, coffee, coffee_gray, lookup_model, tmp_path
):
    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray, name="coffee")
    color = viewer.add_image(coffee, name="photo", rgb=True)
    # napari cannot hold a 0-size layer; an empty (blank, all-zero) new layer is the GUI case
    empty = viewer.add_image(np.zeros((64, 64), np.uint8), name="empty")
    w = _colorize_widget(viewer, lookup_model)
    w.image.value = gray
    w.run()
    wait_idle(w)
    snap = _snapshot(viewer)

    def expect_refusal(text):
        n = len(w.messages)
        assert w.run() is None or wait_idle(w) is None
        assert len(w.messages) == n + 1, w.messages
        assert text in w.messages[-1][1].lower(), w.messages[-1]
        assert _same(viewer, snap)

    # an empty layer
    w.image.value = empty
    expect_refusal("blank")
    # an RGB layer in the gray slot: refused, with an offer to convert
    w.image.value = color
    expect_refusal("rgb")
    # a model folder of the wrong kind (no config.json / another file's config.json)
    w.image.value = gray
    junk = tmp_path / "not_a_model"
    junk.mkdir()
    (junk / "weights.bin").write_bytes(b"x")
    w.model_folder.value = junk
    assert "config.json" in w.messages[-1][1]
    bad = tmp_path / "bad_model"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"hello": 1}))
    w._extra_models["bad"] = str(bad)
    w.refresh_models(select=str(bad))
    expect_refusal("not a napari-colorize model")
    # a tile smaller than the model's block size
    w.refresh_models(select=str(lookup_model))
    w.auto_tile.value = False
    w.tile.value, w.overlap.value = 4, 0
    monkeypatch_block = {"block_size": 8, "method": "lookup"}
    orig = get_worker().iter_request

    def fake_describe(cmd, **kw):
        res = yield from orig(cmd, **kw)
        if cmd == "describe":
            res = {**res, **monkeypatch_block}
        return res

    get_worker().iter_request = fake_describe
    try:
        expect_refusal("block size")
    finally:
        del get_worker().iter_request
    # no model chosen
    w.model.value = LOAD_FOLDER
    expect_refusal("model")
    # the RGB refusal's action converts to gray (a new layer, nothing else touched)
    w.image.value = color
    w.run()
    from napari.utils.notifications import notification_manager

    note = notification_manager.records[-1]
    assert note.actions and note.actions[0][0] == "Convert to gray"
    note.actions[0][1]()
    assert "photo gray" in viewer.layers
    conv = viewer.layers["photo gray"]
    assert not conv.rgb and conv.data.shape == coffee.shape[:2]
    assert w.image.value is conv


def test_tile_below_block_size_real_engine(make_napari_viewer, lookup_model, coffee_gray):
    """The engine's own check reaches the user as an error, not a crash (scripted API)."""
    from napari_colorize.errors import ColorizeError

    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray, name="coffee")
    with pytest.raises(ColorizeError, match="overlap"):
        colorize_layer(viewer, gray, lookup_model, tile=16, overlap=16)
    with pytest.raises(ColorizeError, match="tile"):
        colorize_layer(viewer, gray, lookup_model, tile=0)
    assert [ly.name for ly in viewer.layers] == ["coffee"]


def test_scripted_colorize_stack_and_dask(make_napari_viewer, lookup_model):
    import dask.array as da

    import napari_colorize as nc
    from napari_colorize._napari._sample_data import stack_sample

    viewer = make_napari_viewer()
    ((stack, kw, _),) = stack_sample()
    layer = viewer.add_image(stack, **kw)
    out = nc.colorize_layer(viewer, layer, lookup_model, tile=128, overlap=16)
    names = [ly.name for ly in out]
    assert names == [
        "cat stack gray L",
        "cat stack gray a",
        "cat stack gray b",
        "cat stack gray RGB",
        "cat stack gray tiles",
    ]
    rgb = viewer.layers["cat stack gray RGB"]
    assert rgb.rgb and rgb.data.shape == stack.shape + (3,)
    # a loaded model works too (handed to the worker as a saved folder)
    from napari_colorize.methods import load_model

    again = nc.colorize_layer(viewer, layer, load_model(lookup_model), tile=128, overlap=16)
    assert again[3] is rgb
    # a dask-backed layer is sent plane by plane; same result as numpy
    lazy = viewer.add_image(da.from_array(stack, chunks=(1, 256, 256)), name="lazy")
    nc.colorize_layer(viewer, lazy, lookup_model, tile=128, overlap=16)
    got = np.asarray(viewer.layers["lazy RGB"].data)
    assert got.shape == stack.shape + (3,)
    from napari_colorize.io import to_uint8

    assert np.abs(to_uint8(got).astype(int) - rgb.data.astype(int)).max() <= 1


def test_train_widget_lookup_and_model_list(make_napari_viewer, qtbot, wait_idle, coffee, user_models_dir):
    viewer = make_napari_viewer()
    ref = viewer.add_image(coffee, name="ref", rgb=True)
    box = viewer.add_shapes([np.array([[50, 60], [250, 400]])], shape_type="rectangle", name="crop")
    cw = ColorizeWidget(viewer)
    tw = TrainWidget(viewer)
    viewer.window.add_dock_widget(cw)
    viewer.window.add_dock_widget(tw)
    chosen = cw.model.value
    assert tw.method.value == "lookup"
    assert {w.name for w in tw.config} >= {"n_levels", "policy"}
    tw.layers.value = [ref]
    tw.crop.value = box
    tw.model_name.value = "coffee-crop"
    tw.set_config(policy="median")
    assert tw.run() is not None
    wait_idle(tw)
    assert tw.result_path == user_models_dir / "coffee-crop"
    cfg = json.loads((tw.result_path / "config.json").read_text())
    assert cfg["method"] == "lookup" and cfg["config"]["policy"] == "median"
    # appears in the Colorize widget at once; Colorize keeps the model it had
    assert cw.model.value == chosen
    assert "coffee-crop" in [cw.model.native.itemText(i) for i in range(cw.model.native.count())]
    # a folder of images as the source
    from napari_colorize.io import write_image

    folder = user_models_dir.parent / "refs"
    folder.mkdir(exist_ok=True)
    write_image(folder / "a.png", coffee[:200, :300])
    tw.source.value = "folder"
    tw.folder.value = folder
    tw.model_name.value = "from-folder"
    tw.run()
    wait_idle(tw)
    assert tw.result_path == user_models_dir / "from-folder", tw.messages
    tw.source.value = "layers"
    # bad inputs: nothing selected / a config value out of range
    tw.layers.value = []
    n = len(tw.messages)
    assert tw.run() is None and len(tw.messages) == n + 1
    tw.layers.value = [ref]
    tw.set_config(n_levels=1)
    assert tw.run() is None and "n_levels" in tw.messages[-1][1]  # refused before asking to replace


@pytest.mark.slow
def test_train_widget_stop_button(make_napari_viewer, qtbot, wait_idle, coffee, user_models_dir):
    """A Keras method trains in the worker; Stop ends it early and the model is saved."""
    from napari_colorize.methods import list_methods

    method = next((m for m in ("autoencoder", "window") if m in list_methods()), None)
    if method is None:
        pytest.skip("no Keras method available")
    viewer = make_napari_viewer()
    ref = viewer.add_image(coffee, name="ref", rgb=True)
    tw = TrainWidget(viewer)
    viewer.window.add_dock_widget(tw)
    tw.method.value = method
    fields = {w.name for w in tw.config_widgets()}  # the advanced settings too
    small = {"epochs": 200, "batch_size": 4, "crop_size": 32}
    for k, v in small.items():
        if k in fields:
            tw.set_config(**{k: v})
    for k, v in {
        "steps_per_epoch": 2,
        "crops_per_image": 8,
        "width": 8,
        "filters": 8,
        "input_size": 32,
        "depth": 2,
    }.items():
        if k in fields:
            tw.set_config(**{k: v})
    tw.layers.value = [ref]
    tw.model_name.value = "stopped"
    assert tw.run() is not None
    # wait until at least one epoch has been reported and plotted, then Stop
    qtbot.waitUntil(lambda: len(tw.history.get("loss", [])) >= 1, timeout=180_000)
    assert tw.ax.lines  # the live loss plot has a curve
    tw.stop_button.changed.emit(True)
    wait_idle(tw, timeout=60_000)
    assert tw.result_path == user_models_dir / "stopped", tw.messages
    assert (tw.result_path / "config.json").is_file()
    assert 1 <= len(tw.history["loss"]) < 200
    assert "stopped early" in tw.status.value


def test_evaluate_widget(make_napari_viewer, qtbot, wait_idle, coffee, coffee_gray, lookup_model, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(coffee, name="truth", rgb=True)
    gray = viewer.add_image(coffee_gray, name="coffee")
    colorize_layer(viewer, gray, lookup_model)
    ew = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(ew)
    ew.pred.value = viewer.layers["coffee RGB"]
    ew.truth.value = viewer.layers["truth"]
    m = ew.run()
    assert set(m) >= {"psnr", "ssim", "delta_e2000", "colorfulness", "delta_colorfulness", "auc"}
    assert 0 < m["delta_e2000"] < 20 and 0 < m["auc"] <= 1
    assert ew.table.shape == (len(m), 2)
    err = viewer.layers["coffee RGB ΔE2000"]
    assert err.data.shape == coffee.shape[:2] and err.data.dtype == np.float32
    assert err.data.mean() == pytest.approx(m["delta_e2000"], rel=1e-3)
    path = ew.export(path=tmp_path / "m.csv")
    rows = path.read_text().splitlines()
    assert rows[0].startswith("pred,truth,psnr") and rows[1].startswith("coffee RGB,truth,")
    # mismatched sizes are refused
    viewer.add_image(coffee[:100, :100], name="small", rgb=True)
    ew.truth.value = viewer.layers["small"]
    assert ew.run() is None and "differ in size" in ew.messages[-1][1]


def test_sample_data_and_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    for key, names in (
        ("coffee", {"coffee gray", "coffee reference"}),
        ("ihc", {"ihc gray", "ihc reference crop"}),
        ("stack", {"cat stack gray"}),
    ):
        viewer.open_sample("napari-colorize", key)
        assert names <= {ly.name for ly in viewer.layers}
    assert not viewer.layers["coffee gray"].rgb and viewer.layers["coffee reference"].rgb
    assert viewer.layers["cat stack gray"].data.ndim == 3
    from npe2 import PluginManager

    pm = PluginManager.instance()
    mf = pm.get_manifest("napari-colorize")
    assert {w.display_name for w in mf.contributions.widgets} == {
        "Colorize",
        "Train colorizer",
        "Evaluate colorization",
    }
    for name, cls in (
        ("Colorize", ColorizeWidget),
        ("Train colorizer", TrainWidget),
        ("Evaluate colorization", EvaluateWidget),
    ):
        dw, w = viewer.window.add_plugin_dock_widget("napari-colorize", name)
        assert isinstance(w, cls)


def test_worker_process_is_separate():
    """The engine worker is a separate process; it may import TensorFlow, this one never."""
    worker = get_worker()
    info = worker.request("ping")
    assert info["pid"] != __import__("os").getpid()
    assert "tensorflow" not in sys.modules


def test_workers_stop_when_viewer_closes(make_napari_viewer, qtbot, coffee, coffee_gray, lookup_model):
    import os

    viewer = make_napari_viewer()
    layer = viewer.add_image(coffee_gray[:64, :64], name="small")
    ref = viewer.add_image(coffee[:64, :64], name="ref", rgb=True)
    colorize_layer(viewer, layer, lookup_model)
    train_from_layers(viewer, [ref], "lookup", "small-lookup")
    workers = [get_worker("interactive"), get_worker("train")]
    assert all(w.alive for w in workers) and workers[0].pid != workers[1].pid
    pids = [w.pid for w in workers]
    viewer.close()
    # generous: a loaded 2-core machine takes several seconds to stop two TensorFlow processes
    qtbot.waitUntil(lambda: not any(w.alive for w in workers), timeout=30_000)
    for pid in pids:
        qtbot.waitUntil(
            lambda pid=pid: (
                not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
            ),
            timeout=10_000,
        )


def test_colorize_widget_auto_tiling_uses_the_models_defaults(
    make_napari_viewer, qtbot, wait_idle, lookup_model
):
    from napari_colorize.engine.tile_plan import plan_tiles, resolve_tiling

    viewer = make_napari_viewer()
    gray = np.tile(np.linspace(0, 255, 1500, dtype=np.float32).astype(np.uint8), (1100, 1))
    viewer.add_image(gray, name="ramp")
    w = _colorize_widget(viewer, lookup_model)
    w.image.value = viewer.layers["ramp"]
    # a new widget tiles with the model's own defaults
    assert w.auto_tile.value and not w.tile.enabled and not w.overlap.enabled
    assert w.options()["tile"] == "auto" and w.options()["overlap"] is None
    w.run()
    wait_idle(w)
    assert not w.messages, w.messages
    d = get_worker().describe(str(lookup_model))
    t, ov, h = resolve_tiling(
        gray.shape,
        tile=d["default_tile"],
        overlap=d["default_overlap"],
        block_size=d["block_size"],
        receptive_field=d["receptive_field"],
    )
    plan = plan_tiles(gray.shape, tile=t, overlap=ov, halo=h)
    assert viewer.layers["ramp tiles"].metadata["write_boxes"] == [list(tl.write) for tl in plan.tiles]
    assert len(plan) > 1


def test_saturation_slider_and_confidence_checkbox(
    make_napari_viewer, qtbot, wait_idle, coffee_gray, lookup_model
):
    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray[:64, :80], name="coffee")
    w = _colorize_widget(viewer, lookup_model)
    w.image.value = gray
    w.use_tiles.value = False
    assert w.saturation.value == 1.0 and (w.saturation.min, w.saturation.max) == (0.0, 2.0)
    assert w.confidence.value is False
    w.saturation.value = 0.0
    assert w.run() is not None
    wait_idle(w)
    assert not w.messages, w.messages
    rgb = viewer.layers["coffee RGB"].data.astype(int)
    assert np.abs(rgb - rgb[..., :1]).max() <= 1  # gray
    assert not np.any(viewer.layers["coffee a"].data)
    assert viewer.layers["coffee RGB"].metadata["napari_colorize"]["saturation"] == 0.0
    # a model without a confidence: a clear message, no confidence layer, the outputs unchanged
    snap = _snapshot(viewer)
    w.confidence.value = True
    w.saturation.value = 1.0
    assert w.run() is not None
    wait_idle(w)
    assert any("no confidence" in str(m) for m in w.messages), w.messages
    assert "coffee confidence" not in viewer.layers and _same(viewer, snap)


def test_confidence_layer_from_a_model_that_has_one(make_napari_viewer, monkeypatch):
    """The layer is made from the worker's ``confidence`` (a stand-in result here), per plane too."""
    viewer = make_napari_viewer()
    stack = viewer.add_image(np.zeros((2, 16, 20), np.uint8), name="s")
    conf = np.linspace(0, 1, 16 * 20, dtype=np.float32).reshape(16, 20)
    res = {
        "L": np.zeros((16, 20), np.float32),
        "ab": np.zeros((16, 20, 2), np.float32),
        "rgb": np.zeros((16, 20, 3), np.float32),
        "confidence": conf,
        "limits": [0, 255],
        "plan": None,
    }
    layers = _add_outputs(viewer, stack, res, show_tiles=False, tiled=False, plane=(1,))
    c = viewer.layers["s confidence"]
    assert c in layers and c.colormap.name == "magma" and tuple(c.contrast_limits) == (0.0, 1.0)
    assert c.data.shape == (2, 16, 20) and not np.any(c.data[0])
    np.testing.assert_array_equal(c.data[1], conf)
    assert c.metadata["napari_colorize"]["source"] == "s"  # an output: never offered as the gray input
    _add_outputs(viewer, stack, {**res, "confidence": 1 - conf}, show_tiles=False, tiled=False, plane=(0,))
    assert viewer.layers["s confidence"] is c  # updated in place
    np.testing.assert_array_equal(c.data[1], conf)
    np.testing.assert_allclose(c.data[0], 1 - conf)


@pytest.mark.skipif(
    "default" not in __import__("napari_colorize.catalogue").catalogue.builtin_models(),
    reason="the built-in default model is not here",
)
def test_default_model_confidence_layer(make_napari_viewer, coffee_gray):
    viewer = make_napari_viewer()
    gray = viewer.add_image(coffee_gray[:96, :128], name="coffee")
    layers = colorize_layer(viewer, gray, "default", tile=None, confidence=True, saturation=1.2)
    c = viewer.layers["coffee confidence"]
    assert c in layers and c.data.shape == (96, 128) and 0 <= c.data.min() <= c.data.max() <= 1

"""A napari session that keeps out of the way, driven as a person drives it.

The hints layer in add mode, clicks on the canvas, napari's own face-color
control (``current_face_color``), the layer selection; the widgets docked in a
shown window.  Runs in the napari pytest process (no TensorFlow).
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from test_hints import StubWorker  # the in-process engine stand-in of the hints tests

from napari_colorize._napari import _colorize_layer, _colorize_widget, _model_choice, _task_runner
from napari_colorize._napari._colorize_widget import LIVE_DELAY_MS, ColorizeWidget
from napari_colorize._napari._evaluate_widget import EvaluateWidget
from napari_colorize._napari._train_from_layers import train_from_layers
from napari_colorize._napari._train_widget import TrainWidget
from napari_colorize.catalogue import untrained_models
from napari_colorize.client import get_worker
from napari_colorize.errors import ColorizeError

pytestmark = pytest.mark.napari

RED, BLUE, GREEN = (1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0), (0.0, 0.5, 0.0, 1.0)
#: napari's named colors are 8-bit ("green" is #008000)
ATOL = 0.01


def _two_regions(h: int = 64, w: int = 96) -> np.ndarray:
    img = np.full((h, w), 90, np.uint8)
    img[:, w // 2 :] = 170
    return img


@pytest.fixture
def stub_worker(monkeypatch):
    stub = StubWorker()
    monkeypatch.setattr(_colorize_layer, "get_worker", lambda role="interactive": stub)
    return stub


def _propagate() -> str:
    folder = untrained_models().get("propagate")
    if folder is None:
        pytest.skip("the propagate method is not available")
    return str(folder)


def _colorize(viewer, model):
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize")
    w._extra_models["test model"] = str(model)
    w.refresh_models(select=str(model))
    assert w.model.value == str(model)
    return w


def _click(viewer, qtbot, frac=(0.5, 0.5)):
    """A left click on the canvas, where a person clicks (at a fraction of its width, height)."""
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    w, h = scene.size
    pos = (w * frac[0], h * frac[1])
    scene.events.mouse_press(pos=pos, modifiers=(), button=1)
    scene.events.mouse_release(pos=pos, modifiers=(), button=1)
    qtbot.wait(10)


def _record_status(widget) -> list:
    """Every text the widget's status line shows, with the progress bar's maximum at that moment."""
    seen: list = []
    label = widget.status.native
    set_text = label.setText

    def record(text):
        seen.append((text, widget.progress.max))
        set_text(text)

    label.setText = record
    return seen


def _selection(viewer):
    return viewer.layers.selection.active, set(viewer.layers.selection)


def test_outputs_leave_the_hints_layer_active_and_never_become_inputs(
    make_napari_viewer, qtbot, wait_idle, coffee
):
    """Colorize twice, live, and Evaluate: the hints layer stays active; a click still adds a hint."""
    model = _propagate()
    viewer = make_napari_viewer(show=True)
    gray = viewer.add_image(_two_regions(), name="gray")
    w = _colorize(viewer, model)
    w.live.value = False
    assert w.image.value is gray
    points = w.add_hints_layer()
    assert _selection(viewer) == (points, {points}) and points.mode == "add"
    viewer.reset_view()
    qtbot.wait(50)
    _click(viewer, qtbot)
    assert len(points.data) == 1
    np.testing.assert_allclose(points.data[0], [31.5, 47.5], atol=2)  # the canvas centre: the image centre

    for run in range(2):  # the first run adds the outputs, the second updates them
        assert w.run() is not None
        wait_idle(w)
        assert not w.messages, w.messages
        assert {"gray RGB", "gray L", "gray a", "gray b", "gray tiles"} <= {ly.name for ly in viewer.layers}
        assert _selection(viewer) == (points, {points}), run
        assert points.mode == "add" and w.image.value is gray
        _click(viewer, qtbot, (0.3 + 0.2 * run, 0.5))
        assert len(points.data) == 2 + run  # the click went to the hints layer
    # the outputs are never offered as the gray image
    offered = {ly.name for ly in w.image.choices if ly is not None}
    assert offered == {"gray"}

    # live: each click re-colorizes; the active layer stays
    runs = w.live_runs
    w.live.value = True
    qtbot.waitUntil(lambda: w.live_runs > runs and not w.running, timeout=60_000)
    _click(viewer, qtbot, (0.7, 0.3))
    qtbot.waitUntil(lambda: w.live_runs > runs + 1 and not w.running, timeout=60_000)
    assert _selection(viewer) == (points, {points}) and len(points.data) == 4
    w.live.value = False

    # Evaluate adds its ΔE2000 layer: still the hints layer, and Colorize's input does not move
    viewer.add_image(np.repeat(_two_regions()[..., None], 3, -1), name="truth", rgb=True)
    viewer.layers.selection.active = points
    ew = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(ew, name="Evaluate")
    assert viewer.layers["gray RGB"] not in ew.truth.choices  # a result is no ground truth
    ew.pred.value, ew.truth.value = viewer.layers["gray RGB"], viewer.layers["truth"]
    assert ew.run() is not None
    assert "gray RGB ΔE2000" in viewer.layers
    assert _selection(viewer) == (points, {points})
    assert w.image.value is gray
    assert viewer.layers["gray RGB ΔE2000"] not in w.image.choices
    # even when the user selects an output, it does not become the input
    viewer.layers.selection.active = viewer.layers["gray RGB ΔE2000"]
    assert w.image.value is gray


def test_pick_a_color_then_click_and_recolor_with_napari_controls(make_napari_viewer, qtbot, stub_worker):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(_two_regions(), name="gray")
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize")
    points = w.add_hints_layer()
    viewer.reset_view()
    qtbot.wait(50)
    w.live.value = True

    def settle(n_calls):
        qtbot.waitUntil(lambda: len(stub_worker.calls) == n_calls and not w.running, timeout=10_000)
        qtbot.wait(2 * LIVE_DELAY_MS)
        assert len(stub_worker.calls) == n_calls

    # pick red, click; pick blue, click: each point keeps the color picked for it
    points.current_face_color = "red"
    _click(viewer, qtbot, (0.3, 0.5))
    settle(1)
    assert points.selected_data == set()  # the new point is let go: the next pick is for the next point
    points.current_face_color = "blue"
    np.testing.assert_allclose(points.face_color[0], RED, atol=ATOL)  # the previous hint keeps its color
    settle(1)  # and choosing a color alone re-colorizes nothing
    _click(viewer, qtbot, (0.7, 0.5))
    settle(2)
    np.testing.assert_allclose(points.face_color, [RED, BLUE], atol=ATOL)
    np.testing.assert_allclose(stub_worker.calls[-1]["hints"][:, 2:5], [RED[:3], BLUE[:3]], atol=ATOL)

    # selecting a point (napari shows its color in the control) re-colorizes nothing
    points.mode = "select"
    points.selected_data = {0}
    qtbot.wait(2 * LIVE_DELAY_MS)
    assert len(stub_worker.calls) == 2
    # napari's color control recolors the selected point: live follows
    points.current_face_color = "green"
    np.testing.assert_allclose(points.face_color[0], GREEN, atol=ATOL)
    settle(3)
    np.testing.assert_allclose(stub_worker.calls[-1]["hints"][0, 2:5], GREEN[:3], atol=ATOL)
    np.testing.assert_allclose(stub_worker.calls[-1]["hints"][1, 2:5], BLUE[:3], atol=ATOL)
    # moving a point re-colorizes
    moved = np.array(points.data)
    moved[0] += (5, 5)
    points.data = moved
    settle(4)
    np.testing.assert_allclose(stub_worker.calls[-1]["hints"][0, :2], np.rint(moved[0]))
    # deleting it as well
    points.selected_data = {0}
    points.remove_selected()
    settle(5)
    assert len(stub_worker.calls[-1]["hints"]) == 1
    # in select mode napari's own selection of new points is left alone (only add mode lets go)
    points.add([[10, 10]])
    assert points.selected_data == {1}


def test_progress_shows_each_stage(make_napari_viewer, qtbot, wait_idle, coffee_gray, lookup_model):
    """The first run says that the engine starts and the model loads, then counts the tiles."""
    get_worker("interactive").shutdown()
    viewer = make_napari_viewer()
    viewer.add_image(coffee_gray[:200, :300], name="coffee")
    w = _colorize(viewer, lookup_model)
    w.auto_tile.value = False
    w.tile.value, w.overlap.value = 128, 16
    seen = _record_status(w)
    assert w.run() is not None
    wait_idle(w)
    assert not w.messages, w.messages
    texts = [t for t, _ in seen]
    i_start = next(i for i, t in enumerate(texts) if "starting the engine" in t)
    i_load = next(i for i, t in enumerate(texts) if f"loading the model {lookup_model.name}" in t)
    i_tile = next(i for i, t in enumerate(texts) if re.search(r"tile \d+/\d+$", t))
    assert i_start < i_load < i_tile, texts
    assert seen[i_start][1] == 0 and seen[i_load][1] == 0  # a busy bar while there is no fraction yet
    assert texts[-1].startswith("done in")
    assert w.progress.value == w.progress.max > 0
    # the second run: the engine is warm, the model loaded
    seen.clear()
    w.run()
    wait_idle(w)
    assert not any("starting" in t or "loading" in t for t, _ in seen), seen


def test_warm_start_makes_the_first_run_fast(make_napari_viewer, qtbot, wait_idle, monkeypatch):
    """Opening Colorize starts the engine and loads the chosen model in the background."""
    folder = _propagate()
    monkeypatch.setattr(_colorize_widget, "WARM_START", True)
    monkeypatch.setattr(_model_choice, "list_models", lambda: {"propagate": folder})
    worker = get_worker("interactive")
    worker.shutdown()
    viewer = make_napari_viewer()
    viewer.add_image(_two_regions(), name="gray")
    w = ColorizeWidget(viewer)  # returns at once: the warm-up runs in the background
    assert w.model.value == folder
    assert _task_runner.warming()
    qtbot.waitUntil(lambda: not _task_runner.warming(), timeout=60_000)
    assert worker.alive
    seen = _record_status(w)
    starts = worker.starts
    assert w.run() is not None
    wait_idle(w)
    assert not w.messages, w.messages
    assert worker.starts == starts  # the same process
    # the model was loaded already
    assert seen and not any("starting" in t or "loading" in t for t, _ in seen), seen


def test_three_widgets_fit_a_1080p_screen(make_napari_viewer, qtbot, coffee):
    viewer = make_napari_viewer(show=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # napari hands plugin widgets a public-only viewer: no private attribute may be used
        widgets = [
            viewer.window.add_plugin_dock_widget("napari-colorize", name)[1]
            for name in ("Colorize", "Train colorizer", "Evaluate colorization")
        ]
        cw, tw, ew = widgets
        viewer.add_image(coffee, name="truth", rgb=True)
        viewer.add_image(coffee[::-1], name="other", rgb=True)
        from napari_colorize._napari._lifecycle import watch_viewer

        watch_viewer(cw._viewer)
    assert not [str(c.message) for c in caught if "Private attribute" in str(c.message)]
    viewer.window.resize(1920, 1080)
    qtbot.wait(50)
    x, y, width, height = viewer.window.geometry()
    assert height <= 1080, f"the window is {height} px high"
    # the colorize essentials show at once; the rest is folded
    assert not cw.show_advanced.value and not cw.advanced.native.isVisibleTo(cw.inner)
    for item in (cw.image, cw.model, cw.hints, cw.add_hints_button, cw.live, cw.run_button, cw.status):
        assert item.native.isVisible(), item
    # Evaluate's table shows all its rows, without scrolling
    ew.pred.value, ew.truth.value = viewer.layers["other"], viewer.layers["truth"]
    m = ew.run()
    qtbot.wait(50)
    t = ew.table.native
    assert t.rowCount() == len(m) == 6
    for r in range(t.rowCount()):
        assert t.viewport().rect().contains(t.visualRect(t.model().index(r, 1))), r
    assert t.verticalScrollBar().maximum() == 0


@pytest.mark.parametrize("name_length", [8, 60, 200])
def test_every_field_stays_inside_the_dock(make_napari_viewer, qtbot, coffee, name_length):
    """A 1400 px window, all three widgets docked, a long layer name: no field runs past the edge."""
    from qtpy.QtCore import QPoint

    viewer = make_napari_viewer(show=True)
    name = ("gray " + "x" * name_length)[:name_length]
    viewer.add_image(coffee[..., 0], name=name)
    viewer.add_image(coffee, name=name + " color", rgb=True)
    widgets = [
        viewer.window.add_plugin_dock_widget("napari-colorize", title)[1]
        for title in ("Colorize", "Train colorizer", "Evaluate colorization")
    ]
    viewer.window.resize(1400, 820)
    cw = widgets[0]
    cw.show_advanced.value = True  # the folded options too
    qtbot.wait(100)
    for w in widgets:
        area = w.native
        view = area.viewport()
        for item in w.inner.findChildren(type(w.inner)):
            if not item.isVisibleTo(w.inner) or item.width() == 0:
                continue
            right = item.mapTo(view, QPoint(item.width(), 0)).x()
            assert right <= view.width() + 1, (type(w).__name__, item, right, view.width())
    # rows keep their natural height: the gray image, model and hints rows sit one under the other
    rows = [cw.image.native, cw.model.native, cw.hints.native]
    tops = [r.mapTo(cw.inner, QPoint(0, 0)).y() for r in rows]
    gaps = [b - a for a, b in zip(tops, tops[1:], strict=False)]
    assert max(gaps) <= 3 * rows[0].sizeHint().height(), gaps


def test_training_keeps_other_choices_and_asks_before_replacing(
    make_napari_viewer, qtbot, wait_idle, coffee, user_models_dir, monkeypatch
):
    from qtpy.QtWidgets import QMessageBox

    folder = _propagate()
    viewer = make_napari_viewer()
    ref = viewer.add_image(coffee[:64, :64], name="ref", rgb=True)
    viewer.add_image(_two_regions(), name="gray")
    cw = _colorize(viewer, folder)
    assert cw.live.value  # propagate follows the hints live
    tw = TrainWidget(viewer)
    viewer.window.add_dock_widget(tw, name="Train")
    tw.layers.value = [ref]
    tw.model_name.value = "mine"
    assert tw.run() is not None
    wait_idle(tw)
    saved = user_models_dir / "mine"
    assert tw.result_path == saved, tw.messages
    # Colorize lists the new model but keeps its own choice, and live stays on
    names = [cw.model.native.itemText(i) for i in range(cw.model.native.count())]
    assert "mine" in names
    assert cw.model.value == folder and cw.live.value

    # the same name again: the widget asks; "No" keeps the old model
    cfg = saved / "config.json"
    before = cfg.read_bytes()
    cfg.touch()
    mtime = cfg.stat().st_mtime_ns
    asked = []

    def answer(reply):
        def question(parent, title, text, *a, **k):
            asked.append(text)
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert tw.run() is None
    assert asked and "'mine'" in asked[-1]
    assert not tw.running and cfg.stat().st_mtime_ns == mtime and cfg.read_bytes() == before
    assert "kept" in tw.status.value
    # "Yes" replaces it
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    tw.set_config(n_levels=51)
    assert tw.run() is not None
    wait_idle(tw)
    assert len(asked) == 2 and tw.result_path == saved, tw.messages
    assert json.loads(cfg.read_text())["config"]["n_levels"] == 51
    assert cw.model.value == folder
    # scripts: the API refuses without overwrite=True
    with pytest.raises(ColorizeError, match="already holds a model"):
        train_from_layers(viewer, [ref], "lookup", "mine")
    assert train_from_layers(viewer, [ref], "lookup", "mine", overwrite=True) == saved


def test_notifications_show_no_source_line(make_napari_viewer, qtbot):
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    viewer = make_napari_viewer(show=True)
    viewer.add_image(_two_regions(), name="gray")
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize")
    w.model.value = _model_choice.LOAD_FOLDER
    n = len(NapariQtNotification._instances)
    assert w.run() is None
    qtbot.waitUntil(lambda: len(NapariQtNotification._instances) > n, timeout=5_000)
    note = NapariQtNotification._instances[-1]
    assert "napari-colorize: choose a model" in note.message.text()
    assert note.source_label.text() == ""


def test_the_status_line_says_when_the_result_is_nearly_gray(make_napari_viewer, wait_idle):
    """``propagate`` without hints gives gray: the widget says so and what to do."""
    viewer = make_napari_viewer()
    viewer.add_image(_two_regions(), name="gray")
    w = _colorize(viewer, _propagate())
    assert w.run() is not None
    wait_idle(w)
    assert "gives gray" in w.status.value and "hints" in w.status.value, w.status.value
    rgb = viewer.layers["gray RGB"]
    assert "gives gray" in rgb.metadata["napari_colorize"]["near_gray"]

"""Widget defaults and the Qt binding: what a new user sees before clicking anything."""

from __future__ import annotations

import numpy as np
import pytest

from napari_colorize._napari._widgets import ColorizeWidget, TrainWidget

pytestmark = pytest.mark.napari


def _gray(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (32, 40), dtype=np.uint8)


def test_colorize_preselects_the_selected_gray_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    first = viewer.add_image(_gray(0), name="first")
    second = viewer.add_image(_gray(1), name="second")
    viewer.add_image(np.zeros((32, 40, 3), np.uint8) + 9, name="photo", rgb=True)
    viewer.layers.selection.active = second
    w = ColorizeWidget(viewer)
    assert w.image.value is second
    # selecting another gray layer follows it; selecting an RGB layer does not
    viewer.layers.selection.active = first
    assert w.image.value is first
    viewer.layers.selection.active = viewer.layers["photo"]
    assert w.image.value is first


def test_colorize_preselects_the_first_gray_layer_and_skips_outputs(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 40, 3), np.uint8) + 9, name="photo", rgb=True)
    out = viewer.add_image(_gray(2), name="x L", metadata={"napari_colorize": {"role": "L"}})
    gray = viewer.add_image(_gray(3), name="gray")
    viewer.layers.selection.active = viewer.layers["photo"]  # selected, but not gray
    w = ColorizeWidget(viewer)
    assert w.image.value is gray
    # our own outputs are never the default, but stay a valid choice
    viewer.layers.selection.active = None
    viewer.layers.remove(gray)
    assert w.image.value is None
    w.image.value = out
    # a later layer does not steal a choice that is still there, unless the user selects it
    later = viewer.add_image(_gray(4), name="later")
    viewer.layers.selection.active = None
    w.image.value = out
    viewer.add_image(np.zeros((32, 40, 3), np.uint8), name="photo 2", rgb=True)
    assert w.image.value is out
    viewer.layers.selection.active = later
    assert w.image.value is later


def test_colorize_with_no_gray_layer_chooses_nothing(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 40, 3), np.uint8) + 9, name="photo", rgb=True)
    w = ColorizeWidget(viewer)
    assert w.image.value is None
    gray = viewer.add_image(_gray(5), name="gray")
    assert w.image.value is gray  # a gray layer added later is chosen


def test_train_list_leaves_out_colorized_results_unless_asked(make_napari_viewer):
    viewer = make_napari_viewer()
    ref = viewer.add_image(np.zeros((32, 40, 3), np.uint8) + 9, name="ref", rgb=True)
    result = viewer.add_image(
        np.zeros((32, 40, 3), np.uint8) + 7,
        name="coffee RGB",
        rgb=True,
        metadata={"napari_colorize": {"role": "rgb"}},
    )
    tw = TrainWidget(viewer)

    def listed():
        return [tw.layers.native.item(i).text() for i in range(tw.layers.native.count())]

    assert listed() == ["ref"]
    tw.include_outputs.value = True
    assert listed() == ["ref", "coffee RGB"]
    tw.layers.value = [ref, result]
    tw.include_outputs.value = False
    assert "coffee RGB" in listed()  # picked: stays
    tw.layers.value = [ref]
    tw.reset_choices()
    assert listed() == ["ref"]


def test_config_fields_have_readable_labels_and_tooltips(make_napari_viewer):
    from napari_colorize.methods import list_methods

    viewer = make_napari_viewer()
    tw = TrainWidget(viewer)
    fields = {f["name"]: f for f in list_methods()["lookup"]}
    shown = {w.name: w for w in tw.config}
    assert shown
    for name, w in shown.items():
        label = w.text if hasattr(w, "text") and w.widget_type == "CheckBox" else w.label
        assert "_" not in label and label.replace(" ", "_") == name
        assert w.tooltip == (fields[name]["help"] or label)


def test_qt6_binding_and_no_backend_warning(make_napari_viewer):
    import qtpy
    from napari.utils.notifications import notification_manager

    assert qtpy.QT6, f"napari runs on {qtpy.API_NAME}; the extras install PyQt6"
    n = len(notification_manager.records)
    make_napari_viewer(show=True)
    new = [str(r.message) for r in notification_manager.records[n:]]
    assert not [m for m in new if "backend is deprecated" in m], new


def test_colorize_preselects_the_default_model(make_napari_viewer, monkeypatch):
    from napari_colorize._napari import _widgets
    from napari_colorize.catalogue import DEFAULT_MODEL, untrained_models

    folder = str(untrained_models()["propagate"])
    monkeypatch.setattr(_widgets, "list_models", lambda: {"aaa": folder + "/x", DEFAULT_MODEL: folder})
    w = ColorizeWidget(make_napari_viewer())
    assert w.model.value == folder
    # without it, the first model stays chosen
    monkeypatch.setattr(_widgets, "list_models", lambda: {"propagate": folder})
    assert ColorizeWidget(make_napari_viewer()).model.value == folder

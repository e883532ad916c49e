"""Widget defaults and the Qt binding: what a new user sees before clicking anything."""

from __future__ import annotations

import numpy as np
import pytest

from napari_colorize._napari._colorize_widget import ColorizeWidget
from napari_colorize._napari._train_widget import TrainWidget

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


def test_colorize_preselects_the_first_gray_layer_and_never_offers_outputs(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 40, 3), np.uint8) + 9, name="photo", rgb=True)
    out = viewer.add_image(_gray(2), name="x L", metadata={"napari_colorize": {"role": "L"}})
    gray = viewer.add_image(_gray(3), name="gray")
    viewer.layers.selection.active = viewer.layers["photo"]  # selected, but not gray
    w = ColorizeWidget(viewer)
    assert w.image.value is gray
    assert out not in w.image.choices  # our own results are never an input
    # selecting an output does not make it the input
    viewer.layers.selection.active = out
    assert w.image.value is gray
    viewer.layers.selection.active = None
    viewer.layers.remove(gray)
    assert w.image.value is None
    # a later layer does not steal a choice that is still there, unless the user selects it
    first = viewer.add_image(_gray(4), name="first")
    later = viewer.add_image(_gray(5), name="later")
    viewer.layers.selection.active = None
    w.image.value = first
    viewer.add_image(np.zeros((32, 40, 3), np.uint8), name="photo 2", rgb=True)
    assert w.image.value is first
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


@pytest.mark.parametrize("method", ["lookup", "autoencoder", "siggraph17", "propagate", "ddcolor"])
def test_config_fields_have_readable_labels_and_tooltips(make_napari_viewer, method):
    from napari_colorize.methods import list_methods

    if method not in list_methods():
        pytest.skip(f"{method} is not available")
    viewer = make_napari_viewer()
    tw = TrainWidget(viewer)
    tw.method.value = method
    fields = {f["name"]: f for f in list_methods()[method] if f["name"] not in TrainWidget.HIDDEN}
    shown = {w.name: w for w in tw.config_widgets()}
    assert set(shown) == {n for n, f in fields.items() if f["type"] in ("int", "float", "bool", "str")} | {
        n for n, f in fields.items() if f.get("choices")
    }
    for name, w in shown.items():
        label = w.text if w.widget_type == "CheckBox" else w.label
        assert "_" not in label and label.strip(), (name, label)
        assert (fields[name]["help"] or label) in w.tooltip and name in w.tooltip
    # jargon is spelled out
    words = {w.name: (w.text if w.widget_type == "CheckBox" else w.label) for w in shown.values()}
    readable_words = {"ab_scale": "color range", "inference": "predict at", "distribute": "multi-GPU"}
    for name, readable in readable_words.items():
        if name in words:
            assert readable in words[name]
    # the common settings are shown, the rest folded under "advanced settings"
    basic = {w.name for w in tw.config}
    assert basic and basic <= set(shown)
    if len(shown) > len(basic):
        assert tw.show_advanced.native.isVisibleTo(tw.inner) and not tw.show_advanced.value
        assert not tw.config_advanced.native.isVisibleTo(tw.inner)
        tw.show_advanced.value = True
        assert tw.config_advanced.native.isVisibleTo(tw.inner)
    if method != "propagate":
        assert {"distribute", "seed", "precision"}.isdisjoint(basic)
    # an advanced setting still goes to training
    name = next(iter(set(shown) - basic), None)
    if name is not None and fields[name]["type"] == "int":
        tw.set_config(**{name: int(fields[name]["default"]) + 1})
        assert tw.config_values() == {name: int(fields[name]["default"]) + 1}


def test_qt6_binding_and_no_backend_warning(make_napari_viewer):
    import qtpy
    from napari.utils.notifications import notification_manager

    assert qtpy.QT6, f"napari runs on {qtpy.API_NAME}; the extras install PyQt6"
    n = len(notification_manager.records)
    make_napari_viewer(show=True)
    new = [str(r.message) for r in notification_manager.records[n:]]
    assert not [m for m in new if "backend is deprecated" in m], new


def test_colorize_preselects_the_default_model(make_napari_viewer, monkeypatch):
    from napari_colorize._napari import _model_choice
    from napari_colorize.catalogue import DEFAULT_MODEL, untrained_models

    folder = str(untrained_models()["propagate"])
    monkeypatch.setattr(_model_choice, "list_models", lambda: {"aaa": folder + "/x", DEFAULT_MODEL: folder})
    w = ColorizeWidget(make_napari_viewer())
    assert w.model.value == folder
    # without it, the first model stays chosen
    monkeypatch.setattr(_model_choice, "list_models", lambda: {"propagate": folder})
    assert ColorizeWidget(make_napari_viewer()).model.value == folder

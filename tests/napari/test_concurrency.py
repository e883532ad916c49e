"""Training runs in its own engine process: colorizing goes on meanwhile."""

from __future__ import annotations

import time

import pytest

from napari_colorize._napari._colorize_widget import ColorizeWidget
from napari_colorize._napari._train_widget import TrainWidget
from napari_colorize.client import get_worker

pytestmark = pytest.mark.napari


@pytest.mark.slow
def test_colorize_returns_while_a_training_runs(
    make_napari_viewer, qtbot, wait_idle, coffee, coffee_gray, lookup_model, user_models_dir
):
    viewer = make_napari_viewer()
    ref = viewer.add_image(coffee[:128, :128], name="ref", rgb=True)
    gray = viewer.add_image(coffee_gray, name="coffee")
    tw = TrainWidget(viewer)
    cw = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(tw)
    viewer.window.add_dock_widget(cw)
    cw.refresh_models(select=str(lookup_model))
    assert cw.image.value is gray
    cw.use_tiles.value = False
    cw.run()  # the interactive worker starts and loads the model, as after a first click
    wait_idle(cw, timeout=120_000)
    assert not cw.messages, cw.messages

    # an autoencoder that would train for far longer than this test: it is stopped below
    tw.method.value = "autoencoder"
    tw.set_config(epochs=1000, steps_per_epoch=5, batch_size=2, crop_size=32, width=4, depth=2)
    tw.layers.value = [ref]
    tw.model_name.value = "long-autoencoder"
    assert tw.run() is not None
    train = get_worker("train")
    try:
        qtbot.waitUntil(lambda: len(tw.history.get("loss", [])) >= 1, timeout=180_000)  # it really trains
        assert train.busy
        viewer.layers.remove("coffee RGB")
        t0 = time.monotonic()
        assert cw.run() is not None
        wait_idle(cw, timeout=60_000)
        elapsed = time.monotonic() - t0
        print(f"colorize during a training: {elapsed:.2f} s")
        assert not cw.messages, cw.messages
        assert "coffee RGB" in viewer.layers
        assert train.busy and tw.running, "the training should still be running"
        assert elapsed < 15, f"colorize waited {elapsed:.1f} s"
        assert get_worker("interactive").pid != train.pid
    finally:
        # Stop: the model is saved and appears in the Colorize widget's list at once
        tw.stop_button.changed.emit(True)
        wait_idle(tw, timeout=120_000)
    assert tw.result_path == user_models_dir / "long-autoencoder", tw.messages
    names = [cw.model.native.itemText(i) for i in range(cw.model.native.count())]
    assert "long-autoencoder" in names

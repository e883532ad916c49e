"""Save docs/screenshot.png: napari with the Colorize widget, an RGB result and tile outlines.

Trains a lookup model on the color half of skimage's coffee (in the
training worker), colorizes the gray image tiled, and grabs the window.
With ``--hints``, saves docs/screenshot_hints.png instead: the ``propagate``
model in live mode, colorizing coffee from a hints layer of a few points whose
colors come from the color photo (the widget's "hint colors from").
Needs a display (run under ``xvfb-run -a`` on a headless machine)::

    xvfb-run -a .venv/bin/python scripts/screenshot.py [--hints] [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="default docs/screenshot.png (docs/screenshot_hints.png)")
    ap.add_argument("--hints", action="store_true", help="the hints workflow with propagate, live")
    args = ap.parse_args()
    docs = Path(__file__).resolve().parent.parent / "docs"
    args.out = args.out or str(docs / ("screenshot_hints.png" if args.hints else "screenshot.png"))
    if args.hints:
        hints_shot(Path(args.out))
        return

    import napari
    from skimage import data

    from napari_colorize._napari._sample_data import _gray
    from napari_colorize._napari._colorize_widget import ColorizeWidget
    from napari_colorize.client import get_worker, shutdown_workers

    rgb = data.coffee()
    gray = _gray(rgb)
    model = Path(tempfile.mkdtemp(prefix="colorize-shot-")) / "coffee_lookup"
    # learn gray -> color from the left half only; the right half is new to the model
    get_worker("train").train("lookup", [rgb], out=model, box=(0, 0, rgb.shape[0], rgb.shape[1] // 2))

    viewer = napari.Viewer(title="napari-colorize", show=True)
    viewer.window.resize(1400, 820)
    layer = viewer.add_image(gray, name="coffee", colormap="gray")
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize", area="right")
    w._extra_models["coffee_lookup (lookup)"] = str(model)
    w.refresh_models(select=str(model))
    w.image.value = layer
    w.auto_tile.value = False  # small tiles, so that several outlines show
    w.tile.value, w.overlap.value = 192, 32

    # the widget's own Colorize button, waited for (what a user clicks)
    import time

    from qtpy.QtWidgets import QApplication

    w.run()
    while w.running:
        QApplication.processEvents()
        time.sleep(0.02)
    viewer.layers.selection.active = viewer.layers["coffee RGB"]
    viewer.reset_view()
    _save(viewer, Path(args.out))
    viewer.close()
    shutdown_workers()


def _save(viewer, out: Path) -> None:
    """Hide notification toasts and save the whole window."""
    from qtpy.QtWidgets import QApplication

    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
            toast.hide()
    except ImportError:  # pragma: no cover - private napari API moved
        pass
    QApplication.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    img = viewer.screenshot(path=None, canvas_only=False, flash=False)
    import imageio.v3 as iio

    iio.imwrite(out, np.asarray(img))
    print(f"saved {out} {img.shape}")


def _wait(condition, timeout: float = 120.0) -> None:
    import time

    from qtpy.QtWidgets import QApplication

    t0 = time.monotonic()
    while not condition() and time.monotonic() - t0 < timeout:
        QApplication.processEvents()
        time.sleep(0.02)


def hints_shot(out: Path) -> None:
    """The hints workflow: gray coffee, a hints layer colored from the photo, propagate live."""
    import napari
    from skimage import data

    from napari_colorize._napari._sample_data import _gray
    from napari_colorize._napari._colorize_widget import ColorizeWidget
    from napari_colorize.client import shutdown_workers

    rgb = data.coffee()
    gray = _gray(rgb)
    viewer = napari.Viewer(title="napari-colorize: hints", show=True)
    viewer.window.resize(1400, 820)
    reference = viewer.add_image(rgb, name="coffee color", rgb=True, visible=False)
    layer = viewer.add_image(gray, name="coffee", colormap="gray")
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize", area="right")
    w.refresh_models(select="propagate")
    w.image.value = layer
    w.use_tiles.value = False
    w.color_from.value = reference
    points = w.add_hints_layer()
    w.live.value = True
    rng = np.random.default_rng(3)
    yx = np.stack([rng.integers(10, gray.shape[0] - 10, 40), rng.integers(10, gray.shape[1] - 10, 40)], 1)
    points.add(yx)  # colored from the photo, then colorized live
    _wait(lambda: "coffee RGB" in viewer.layers and not w.running and w.live_runs > 0)
    _wait(lambda: not w.running and not w._live_timer.isActive())
    layer.visible = False
    viewer.layers.selection.active = points
    points.selected_data = set()  # show the hints in their colors, not as a selection
    viewer.reset_view()
    _save(viewer, out)
    viewer.close()
    shutdown_workers()


if __name__ == "__main__":
    main()

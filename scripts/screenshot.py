"""Save docs/screenshot.png: napari with the Colorize widget, an RGB result and tile outlines.

Trains a lookup model on the color half of skimage's coffee (in the
training worker), colorizes the gray image tiled, and grabs the window.
Needs a display (run under ``xvfb-run -a`` on a headless machine)::

    xvfb-run -a .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"))
    args = ap.parse_args()

    import napari
    from skimage import data

    from napari_colorize._napari._sample_data import _gray
    from napari_colorize._napari._widgets import ColorizeWidget
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
    # close notification toasts, if any
    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
            toast.hide()
    except ImportError:  # pragma: no cover - private napari API moved
        pass
    QApplication.processEvents()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = viewer.screenshot(path=None, canvas_only=False, flash=False)
    import imageio.v3 as iio

    iio.imwrite(out, np.asarray(img))
    print(f"saved {out} {img.shape}")
    viewer.close()
    shutdown_workers()


if __name__ == "__main__":
    main()

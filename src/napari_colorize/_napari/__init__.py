"""The napari plugin: widgets, sample data and scripted helpers.

The only subpackage that imports napari or Qt.  It never imports
TensorFlow: the engine runs in other processes, reached through :mod:`napari_colorize.client`.
"""

from ._api import (
    colorize_layer,
    evaluate_layers,
    rgb_layer_to_gray,
    train_from_layers,
)
from ._hints import add_hints_layer, displayed_plane, hints_from_points_layer, points_layer_table

__all__ = [
    "colorize_layer",
    "train_from_layers",
    "evaluate_layers",
    "rgb_layer_to_gray",
    "add_hints_layer",
    "hints_from_points_layer",
    "points_layer_table",
    "displayed_plane",
]

"""The napari plugin: widgets, sample data and scripted helpers.

The only subpackage that imports napari or Qt.  It never imports
TensorFlow: the engine runs in other processes, reached through :mod:`napari_colorize.client`.

The scripted helpers (no widget): :mod:`._colorize_layer` (and :mod:`._slides` for multiscale
layers), :mod:`._train_from_layers`, :mod:`._evaluate_layers`, :mod:`._fetch_model`, the hints
layers (:mod:`._hint_layers`), the input and result layers (:mod:`._layer_input`,
:mod:`._result_layers`).  The dock widgets: :mod:`._colorize_widget` (with
:mod:`._model_choice` and :mod:`._live_mode`), :mod:`._train_widget`, :mod:`._evaluate_widget`,
on :mod:`._widget_parts`.
"""

from ._colorize_layer import colorize_layer
from ._evaluate_layers import evaluate_layers
from ._hint_layers import add_hints_layer, displayed_plane, hints_from_points_layer, points_layer_table
from ._layer_input import rgb_layer_to_gray
from ._train_from_layers import train_from_layers

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

"""napari-colorize: colorize grayscale images, in napari or from Python.

Importing this package imports neither TensorFlow nor napari; they load
lazily when first needed, TensorFlow without the log lines it prints while
loading (see :func:`napari_colorize.backends.quiet_tensorflow_import`).

>>> import napari_colorize as nc                        # doctest: +SKIP
>>> model = nc.train("lookup", "reference.png")         # doctest: +SKIP
>>> result = nc.colorize(gray, model, tile=512)         # doctest: +SKIP
>>> result.rgb.shape                                    # doctest: +SKIP
>>> hints = nc.Hints.from_csv("hints.csv", gray.shape)   # doctest: +SKIP
>>> result = nc.colorize(gray, "propagate", hints=hints)  # doctest: +SKIP
>>> nc.fetch("siggraph17-authors")                       # doctest: +SKIP
>>> result = nc.colorize(gray, "siggraph17-authors")     # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .api import Colorization, builtin_models, colorize, train
from .errors import Cancelled, ColorizeError, ConfigError, InputError, ModelFolderError, NearGrayWarning
from .install import fetch
from .methods import list_methods, load_model, make_model
from .tiling import TilingOptions

__all__ = [
    "__version__",
    "Colorization",
    "TilingOptions",
    "Hints",
    "colorize",
    "train",
    "fetch",
    "load_model",
    "make_model",
    "list_methods",
    "builtin_models",
    "colorize_layer",
    "train_from_layers",
    "ColorizeError",
    "InputError",
    "ConfigError",
    "ModelFolderError",
    "Cancelled",
    "NearGrayWarning",
]


def __dir__() -> list[str]:
    """Module attributes, the lazily loaded ones (``Hints``, the napari helpers) included."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name == "Hints":  # its solver imports scipy.sparse: loaded when first used
        from .hints import Hints

        return Hints
    # napari-facing helpers live in the plugin subpackage; import on demand
    if name in ("colorize_layer", "train_from_layers"):
        from . import _napari

        return getattr(_napari, name)
    raise AttributeError(f"module 'napari_colorize' has no attribute {name!r}")

"""The colorization methods and their registry.

Each method is a package ``methods/<name>/`` (keras-hub style): its config (``config.py``), its
:class:`~napari_colorize.methods.colorizer.Colorizer` (``colorizer.py``), its Keras network
(``network.py``, for the neural methods) and its import of released weights where it has one
(``authors_weights.py``; ``siggraph17_lite0``'s encoder: ``encoder_weights.py``).  The package
registers the method once: its ``COLORIZER`` is the Colorizer class, whose ``Config`` is the
config class.  Adding a method means adding its folder and its name to :data:`METHODS` (which
also orders the listing).

Method packages are imported lazily, so listing methods and reading their configs never imports
TensorFlow (the napari process must not import it): a method package imports Keras only inside
functions, or in its ``network.py``, which it imports lazily.

Shared by the methods: :mod:`.colorizer` (the base class and model folders),
:mod:`.keras_colorizer` (the base class of the Keras methods: training loop, precision,
distribution), :mod:`.keras_ops` (backend-specific Keras operations for the networks) and
:mod:`.torch_state` (reading the authors' PyTorch state dicts, for the weight imports).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends import quiet_tensorflow_import
from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from .colorizer import Colorizer

__all__ = [
    "METHODS",
    "available_methods",
    "get_method",
    "get_config_class",
    "list_methods",
    "load_model",
    "make_model",
]

# the Keras methods import TensorFlow through Keras: without its load-time log lines
quiet_tensorflow_import()

#: the methods, in the order they are listed: each is the package ``methods/<name>/``
METHODS: tuple[str, ...] = (
    "lookup",
    "window",
    "autoencoder",
    "vgg_autoencoder",
    "eccv16",
    "propagate",
    "siggraph17",
    "siggraph17_lite0",
    "ddcolor",
)


def _check_name(name: str) -> None:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")


def get_method(name: str) -> type[Colorizer]:
    """The Colorizer class of a method (its package's ``COLORIZER``; never imports TensorFlow)."""
    _check_name(name)
    return importlib.import_module(f"{__name__}.{name}").COLORIZER


def get_config_class(name: str) -> type[Config]:
    """The Config class of a method (never imports TensorFlow)."""
    return get_method(name).Config


def available_methods() -> list[str]:
    """Methods whose package is present in this install."""
    return [name for name in METHODS if importlib.util.find_spec(f"{__name__}.{name}") is not None]


def list_methods() -> dict[str, list[dict[str, Any]]]:
    """Method name -> description of its config fields (name, type, default, choices, help)."""
    from ..config import config_fields

    return {name: config_fields(get_config_class(name)) for name in available_methods()}


def make_model(method: str, config: Config | dict[str, Any] | None = None, **overrides: Any) -> Colorizer:
    """A new (untrained) model of a method."""
    return get_method(method)(config, **overrides)


def load_model(path: str | os.PathLike) -> Colorizer:
    """Load any model folder (the method is read from its config.json)."""
    from ..errors import ModelFolderError
    from .colorizer import read_model_info

    info = read_model_info(path)
    method = info["method"]
    if method not in METHODS:
        raise ModelFolderError(f"{Path(path)} holds a model of unknown method {method!r}")
    return get_method(method).load(path)

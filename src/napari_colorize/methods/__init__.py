"""Registry of colorization methods.

Method modules are imported lazily, so listing methods and reading their
configs never imports TensorFlow (the napari process must not import it).
Each method module keeps TensorFlow/Keras imports inside functions, or in a
private ``_<name>_keras.py`` module that it imports lazily.
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
    from .base import Colorizer

__all__ = ["METHODS", "get_method", "get_config_class", "list_methods", "load_model", "make_model"]

# the Keras methods import TensorFlow through Keras: without its load-time log lines
quiet_tensorflow_import()

#: method name -> "module:ClassName" of its Colorizer (and module:Config)
METHODS: dict[str, str] = {
    "lookup": "napari_colorize.methods.lookup:LookupColorizer",
    "window": "napari_colorize.methods.window:WindowColorizer",
    "autoencoder": "napari_colorize.methods.autoencoder:AutoencoderColorizer",
    "vgg_autoencoder": "napari_colorize.methods.vgg_autoencoder:VGGAutoencoderColorizer",
    "eccv16": "napari_colorize.methods.eccv16:ECCV16Colorizer",
    "propagate": "napari_colorize.methods.propagate:PropagateColorizer",
    "siggraph17": "napari_colorize.methods.siggraph17:SIGGRAPH17Colorizer",
    "siggraph17_lite0": "napari_colorize.methods.siggraph17_lite0:SIGGRAPH17Lite0Colorizer",
    "ddcolor": "napari_colorize.methods.ddcolor:DDColorColorizer",
}

#: method name -> "module:ConfigClass"; config modules never import TensorFlow
CONFIGS: dict[str, str] = {
    "lookup": "napari_colorize.methods.lookup:LookupConfig",
    "window": "napari_colorize.methods.window:WindowConfig",
    "autoencoder": "napari_colorize.methods.autoencoder:AutoencoderConfig",
    "vgg_autoencoder": "napari_colorize.methods.vgg_autoencoder:VGGAutoencoderConfig",
    "eccv16": "napari_colorize.methods.eccv16:ECCV16Config",
    "propagate": "napari_colorize.methods.propagate:PropagateConfig",
    "siggraph17": "napari_colorize.methods.siggraph17:SIGGRAPH17Config",
    "siggraph17_lite0": "napari_colorize.methods.siggraph17_lite0:SIGGRAPH17Lite0Config",
    "ddcolor": "napari_colorize.methods.ddcolor:DDColorConfig",
}


def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _check_name(name: str) -> None:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")


def get_method(name: str) -> type[Colorizer]:
    """The Colorizer class of a method."""
    _check_name(name)
    return _resolve(METHODS[name])


def get_config_class(name: str) -> type[Config]:
    """The Config class of a method (never imports TensorFlow)."""
    _check_name(name)
    return _resolve(CONFIGS[name])


def available_methods() -> list[str]:
    """Methods whose module is present in this install."""
    out = []
    for name, spec in CONFIGS.items():
        module = spec.partition(":")[0]
        if importlib.util.find_spec(module) is not None:
            out.append(name)
    return out


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
    from .base import read_model_info

    info = read_model_info(path)
    method = info["method"]
    if method not in METHODS:
        raise ModelFolderError(f"{Path(path)} holds a model of unknown method {method!r}")
    return get_method(method).load(path)

"""The checks a command makes before anything imports TensorFlow: config values, input images, model folders.

Each failure is a one-line error (:class:`~napari_colorize.errors.ColorizeError`); none of
these imports TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..catalogue import DEFAULT_MODEL
from ..errors import ConfigError, InputError, ModelFolderError
from .messages import _report_bad_file


def _parse_config(items: Sequence[str] | None) -> dict[str, Any]:
    from ..config import parse_value

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--config expects key=value, got {item!r}")
        out[key.strip()] = parse_value(value)
    return out


def _readable_images(paths: Sequence[str]) -> list[Path]:
    """The image files under ``paths``, each checked readable (a one-line error before any model loads)."""
    from ..io import check_image, list_images

    files = list_images(paths)
    for f in files:
        check_image(f)
    return files


def _split_readable(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """The readable image files under ``paths``, and the unreadable ones, each reported in one line.

    A single unreadable input is the command's one-line error (raised); in a batch each bad file
    is reported and the others go on (the exit status says so at the end).
    """
    from ..io import check_image, list_images

    files = list_images(paths)
    if len(files) == 1:
        check_image(files[0])
        return files, []
    good, bad = [], []
    for f in files:
        try:
            check_image(f)
        except InputError as e:
            bad.append(_report_bad_file(f, e))
        else:
            good.append(f)
    return good, bad


def _check_model_folder(path: str) -> None:
    """A one-line error unless ``path`` is a sound model folder (its config.json, read without TensorFlow)."""
    from ..methods import get_config_class
    from ..methods.colorizer import read_model_info

    if not (Path(path) / "config.json").is_file():
        raise ModelFolderError(f"{path} is not a model folder (no config.json)")
    info = read_model_info(path)
    try:
        get_config_class(info["method"]).from_dict(info["config"])
    except ConfigError as e:
        raise ModelFolderError(f"{Path(path) / 'config.json'}: invalid config: {e}") from None


def _check_model_spec(spec: str | None) -> str:
    """The model to use: ``spec``, or when None the best installed pretrained model, else the
    folder of :data:`DEFAULT_MODEL` (:func:`~napari_colorize.catalogue.preferred_model_path`).

    A one-line error unless it names a model folder (the catalogue's rule, no TensorFlow).
    """
    from ..catalogue import preferred_model_path, resolve_model_path

    if spec is None:  # by name only: a ./default folder in the current directory is not it
        try:
            path = preferred_model_path()
        except ModelFolderError as e:
            raise ModelFolderError(
                f"no --model given and the built-in model {DEFAULT_MODEL!r} is not installed; "
                f"pass --model ({e})"
            ) from None
        _check_model_folder(os.fspath(path))
        return os.fspath(path.resolve())
    _check_model_folder(os.fspath(resolve_model_path(spec)))
    return spec

"""What a colorize request sends for a layer: intensity options, hints, the model folder, tiling.

:func:`layer_request` builds the layer's :class:`~napari_colorize.request.ColorizeRequest`.
Everything here is checked in napari's process, without TensorFlow, so that bad input is
refused before the engine worker is asked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..catalogue import describe_model_folder, resolve_model_path
from ..client import Worker
from ..color import DEFAULT_PERCENTILES, NORMALIZE, intensity_limits
from ..errors import InputError
from ..request import ColorizeRequest, split_hints
from ..tiling import TILING_KEYS
from ._hint_layers import hints_from_shapes_layer, points_layer_table

__all__ = ["CONTRAST_LIMITS", "NORMALIZE_CHOICES", "layer_request"]


#: the ``normalize`` value that takes the layer's current contrast limits (what the user sees)
CONTRAST_LIMITS = "contrast_limits"
#: intensity normalisations of :func:`colorize_layer`: the engine's, and the layer's contrast limits
NORMALIZE_CHOICES: tuple[str, ...] = (*NORMALIZE, CONTRAST_LIMITS)


def _intensity(
    layer: Any, normalize: str, percentiles: Any, limits: Any, plane: tuple[int, ...] | None
) -> dict[str, Any]:
    """The intensity options to send for ``layer`` (or one plane of it).

    ``"contrast_limits"`` sends the layer's contrast limits.  A plane of a stack gets the
    whole stack's limits, so that it looks as it does when the whole stack is colorized.
    """
    if normalize not in NORMALIZE_CHOICES:
        raise InputError(f"unknown normalize {normalize!r}; choose one of {', '.join(NORMALIZE_CHOICES)}")
    pct = tuple(percentiles) if percentiles is not None else DEFAULT_PERCENTILES
    if normalize == CONTRAST_LIMITS:
        limits = tuple(float(v) for v in layer.contrast_limits)
        if limits[1] <= limits[0]:
            raise InputError(f"layer {layer.name!r} has empty contrast limits {limits}")
        return {"limits": limits}
    if limits is None and plane:
        data = layer.data
        if np.dtype(data.dtype).kind == "b":
            return {"limits": (0.0, 255.0)}
        limits = intensity_limits(data, normalize=normalize, percentiles=pct)
    return {"normalize": normalize, "percentiles": pct, "limits": limits}


def layer_request(
    viewer: Any,
    layer: Any,
    *,
    hints: Any = None,
    normalize: str = "auto",
    percentiles: Any = None,
    limits: Any = None,
    saturation: float = 1.0,
    confidence: bool = False,
    plane: tuple[int, ...] | None = None,
    options: dict[str, Any] | None = None,
    model: str | None = None,
) -> tuple[ColorizeRequest, Any]:
    """The request of colorizing ``layer`` (or its ``plane``), and the hints beside it.

    The intensity options as :func:`_intensity` makes them, the hints as :func:`_resolve_hints`
    does (a Points layer's table goes into the request; dense hints, such as a Shapes layer's,
    stay beside it, see :func:`~napari_colorize.request.split_hints`), the tiling ``options``
    (checked by :func:`_split_tiling`), and ``model``, the folder :func:`_resolve_model_arg` gives.
    The layer is gray: ``rgb`` is False.
    """
    from ..color import check_saturation

    saturation = check_saturation(saturation)
    intensity = _intensity(layer, normalize, percentiles, limits, plane)
    in_request, beside = split_hints(_resolve_hints(viewer, layer, hints, plane))
    request = ColorizeRequest.build(
        model=model,
        hints=in_request,
        rgb=False,
        saturation=saturation,
        confidence=bool(confidence),
        **(options or {}),
        **intensity,
    )
    return request, beside


def _resolve_hints(viewer: Any, layer: Any, hints: Any, plane: tuple[int, ...] | None) -> Any:
    """What to send as hints for ``layer`` (or one plane of it).

    A Points layer (or its name) becomes a table of points, a Shapes layer dense hints;
    hints over a whole stack keep only the plane's.
    """
    from napari.layers import Layer, Points, Shapes

    if isinstance(hints, str) and hints in viewer.layers:
        hints = viewer.layers[hints]
    if isinstance(hints, Points):
        return points_layer_table(hints, layer, plane=plane)
    if isinstance(hints, Shapes):
        return hints_from_shapes_layer(hints, layer, plane=plane)
    if isinstance(hints, Layer):
        raise InputError(
            f"hints must be a Points or Shapes layer, got the {type(hints).__name__} layer {hints.name!r}"
        )
    if plane and hasattr(hints, "plane") and len(getattr(hints, "shape", ())) == 3:
        return hints.plane(int(np.ravel_multi_index(plane, layer.data.shape[:-2])))
    return hints


def _resolve_model_arg(model: Any, worker: Worker) -> str:
    """The model folder to send to the worker; checked here, where no TensorFlow is needed."""
    import tempfile

    from ..methods.colorizer import Colorizer

    if isinstance(model, Colorizer):
        # A loaded model lives in this process; the engine runs in another one, so
        # hand it over as a saved folder.  Saving imports nothing new: a Keras
        # model already pulled TensorFlow in, and the others do not need it.
        tmp = Path(tempfile.mkdtemp(prefix="model-", dir=worker.scratch_dir()))
        model = model.save(tmp / model.name)
    if not isinstance(model, (str, os.PathLike)) or not os.fspath(model):
        raise InputError(f"model must be a model folder or a model name, got {model!r}")
    path = resolve_model_path(model)
    describe_model_folder(path)  # raises ModelFolderError for a folder of the wrong kind
    return str(path.resolve())


def _split_tiling(tiling: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    tiling = dict(tiling)
    show_tiles = bool(tiling.pop("show_tiles", True))
    unknown = set(tiling) - set(TILING_KEYS)
    if unknown:
        known = ", ".join((*TILING_KEYS, "show_tiles"))
        raise InputError(f"unknown tiling option(s) {', '.join(sorted(unknown))}; use {known}")
    if tiling.get("tile") == "auto":
        return tiling, show_tiles
    if tiling.get("tile") is not None:
        if isinstance(tiling["tile"], str) or int(tiling["tile"]) < 1:
            raise InputError(f"tile must be a positive number of pixels or 'auto', got {tiling['tile']!r}")
        if (
            tiling.get("overlap") is not None
            and not isinstance(tiling["overlap"], float)
            and int(tiling["overlap"]) >= int(tiling["tile"])
        ):
            raise InputError(f"overlap {tiling['overlap']} must be smaller than the tile {tiling['tile']}")
    return tiling, show_tiles

"""Colorize a napari layer: :func:`colorize_layer`, for scripts and for the Colorize widget.

Everything that needs TensorFlow runs in an engine process, reached through
:mod:`napari_colorize.client`; this module only handles layers.  A multiscale layer goes on
to :mod:`._slides`.

Examples
--------
>>> import napari, napari_colorize as nc                        # doctest: +SKIP
>>> viewer = napari.Viewer()                                     # doctest: +SKIP
>>> gray = viewer.add_image(gray_image, name="gray")             # doctest: +SKIP
>>> layers = nc.colorize_layer(viewer, gray, "default", tile=256)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from ..client import Worker, get_worker
from ..errors import Cancelled, InputError
from ..protocol import progress_event
from ..request import ColorizeRequest, split_hints
from ._layer_input import _gray_data, check_gray_layer
from ._layer_request import _resolve_model_arg, _split_tiling, layer_request
from ._lifecycle import watch_viewer
from ._result_layers import _add_outputs
from ._slides import PREVIEW_PIXELS, _colorize_multiscale
from ._task_runner import _run, warming

__all__ = ["colorize_layer"]


#: per layer, its last preview image: live mode changes the hints, not the image, so the block
#: means of a large plane (0.2 s at 8192², a good part of a preview's time) are computed once
_PREVIEW_IMAGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _preview_image(
    layer: Any, plane: tuple[int, ...] | None, data: Any, grid: tuple[int, int], intensity: dict[str, Any]
) -> tuple[np.ndarray, tuple[float, float]]:
    """The block means of ``data`` (the layer's plane) on ``grid`` and its limits, cached per layer."""
    from ..preview import preview_request

    key = (id(layer.data), tuple(np.shape(layer.data)), plane, tuple(grid), repr(sorted(intensity.items())))
    hit = _PREVIEW_IMAGES.get(layer)
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    small, _, limits = preview_request(data, grid, **intensity)
    small.setflags(write=False)  # shared by the previews of this layer
    _PREVIEW_IMAGES[layer] = (key, small, limits)
    return small, limits


def _colorize_gen(
    worker: Worker,
    layer: Any,
    request: ColorizeRequest,
    hints: Any = None,
    plane: tuple[int, ...] | None = None,
    grid: tuple[int, int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[dict, None, dict]:
    """Describe the model, then colorize ``layer`` (its ``plane``, or a preview on ``grid``) as
    ``request`` says, with ``hints`` beside it."""
    if warming(getattr(worker, "role", "interactive")):
        # the widget's warm-up is starting the worker: this request waits for it
        yield progress_event(None, "starting", message="starting the engine and loading the model…")
    info = yield from worker.iter_request("describe", model=request.model, should_stop=should_stop)
    tile = request.tiling.get("tile")
    if tile is not None and tile != "auto" and grid is None:
        bs = int(info.get("block_size", 1))
        if int(tile) < bs:
            raise InputError(f"tile {tile} is smaller than the {info.get('method')} model's block size {bs}")
    data = _gray_data(layer, plane)
    if grid is not None:
        # a preview: the block means of the plane, untiled, with the full plane's intensity limits
        from ..preview import preview_hints

        if hints is None:
            hints = request.hints if isinstance(request.hints, str) else request.points()
        hints = preview_hints(hints, data.shape[-2:], grid)
        intensity = dict(normalize=request.normalize, percentiles=request.percentiles, limits=request.limits)
        data, limits = _preview_image(layer, plane, data, grid, intensity)
        request = ColorizeRequest.build(
            model=request.model,
            rgb=False,
            limits=limits,
            saturation=request.saturation,
            confidence=request.confidence,
            tile=None,
        )
    if should_stop is not None and should_stop():
        raise Cancelled("colorize stopped")  # between the two requests: the second is never sent
    in_request, beside = split_hints(hints)
    if in_request is not None:
        request = request.replace(hints=in_request)
    res = yield from worker.iter_colorize(data, request=request, hints=beside, should_stop=should_stop)
    res["describe"] = info
    return res


def colorize_layer(
    viewer: Any,
    layer: Any,
    model: Any,
    *,
    hints: Any = None,
    normalize: str = "auto",
    percentiles: tuple[float, float] | None = None,
    limits: tuple[float, float] | None = None,
    saturation: float = 1.0,
    confidence: bool = False,
    plane: tuple[int, ...] | None = None,
    preview: int | None = None,
    blocking: bool = True,
    start: bool = True,
    worker: Worker | None = None,
    on_done: Callable[[list], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    out_dir: str | os.PathLike | None = None,
    lab: bool = False,
    preview_pixels: int = PREVIEW_PIXELS,
    **tiling: Any,
) -> Any:
    """Colorize a grayscale Image layer and add (or update) the result layers.

    A **multiscale** layer (a whole slide) is colorized in the engine worker into an OME-Zarr
    store (``out_dir/<name>_rgb.zarr``; by default in :func:`slides_dir`), shown first as a
    preview of a coarse level (about ``preview_pixels`` pixels), then as the multiscale RGB layer
    ``<name> RGB`` read lazily from the store (and ``<name> L``/``a``/``b`` with ``lab``), with
    the layer's scale and translate.  See :func:`_colorize_multiscale`.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image or str
        A grayscale layer (2D, or nD with the last two axes spatial), or its name.
    model : str, path or Colorizer
        A model folder, a built-in model name, the name of a folder in
        :func:`napari_colorize.catalogue.user_models_dir`, or a loaded model (saved
        to a temporary folder for the engine worker).
    hints : napari.layers.Points, Hints, table of points, CSV path, optional
        Color hints.  A Points layer (or its name): face color = hint color, size =
        diameter, its leading coordinate = the plane of a stack (see
        :func:`~napari_colorize._napari._hint_layers.points_layer_table`).
    normalize : {"auto", "dtype", "percentile", "none", "contrast_limits"}
        How the layer's intensities become lightness (see
        :func:`~napari_colorize.color.intensity_limits`); ``"contrast_limits"`` takes the
        layer's current contrast limits, which is what the user sees.
    percentiles : (low, high), optional
        For ``"percentile"`` and ``"auto"`` (default (1, 99.8)).
    limits : (low, high), optional
        Explicit intensities for black and white.
    saturation : float
        Multiplies the predicted colors: 0 gray, 1 (default) the model's, more than 1 more
        colorful (see :func:`napari_colorize.api.colorize`).
    confidence : bool
        Also add (or update) ``<name> confidence``: the model's confidence in its colors,
        0..1 (colormap "magma", hidden at first).  Only for models that have one, such as
        the built-in ``default``; others give an error.
    plane : tuple of int, optional
        Colorize only this plane of a stack (its leading index, e.g.
        :func:`~napari_colorize._napari._hint_layers.displayed_plane`); the other planes of
        existing output layers keep their colors.  The plane is normalised with the
        whole stack's limits.
    preview : int, optional
        A quick look: colorize a copy of a 2D layer downscaled to this many pixels on its
        longest side (:func:`~napari_colorize.preview.preview_shape`; block means, hints moved
        onto the blocks, the full image's intensity limits, untiled) and show it with a
        correspondingly larger ``scale``, overlaying the input.  Its metadata holds
        ``"preview": [fy, fx]``, the size of a block.  A layer that is not larger, and a
        stack, are colorized as usual.  Live mode shows this first, then the full run.
    blocking : bool
        Wait and return the layers (scripts).  With ``False``, return the
        started napari ``GeneratorWorker`` (widgets); layers are added when it
        finishes.
    start : bool
        With ``blocking=False``: start the worker at once (default), or leave that to the
        caller, who connects to its signals first (no progress event is then missed).
    worker : Worker, optional
        The engine worker (``get_worker("interactive")`` by default).
    on_done, on_error : callable, optional
        Called with the new layers / the exception (non-blocking mode).
    out_dir : path, optional
        A multiscale layer only: the folder of its OME-Zarr result ``<name>_rgb.zarr``
        (default :func:`slides_dir`).  An earlier result there is replaced when the new one is
        complete; a folder of that name that is not a Zarr store is never replaced.
    lab : bool
        A multiscale layer only: also add multiscale ``<name> L``, ``a`` and ``b`` (hidden).
    preview_pixels : int
        A multiscale layer only: the size of the preview shown first (the finest level of at
        most this many pixels, block-averaged onto a grid of about as many when larger).
    **tiling
        ``tile`` (px, ``"auto"`` = the model's default, None = untiled), ``overlap``, ``blend``,
        ``global_anchor``, ``batch_size`` and ``show_tiles`` (default True).

    Returns
    -------
    list of layers, or a napari GeneratorWorker when ``blocking=False``
        ``<name> L``, ``<name> a``, ``<name> b``, ``<name> RGB`` (rgb=True,
        uint8, same scale and translate as the input) and, when tiled and
        ``show_tiles``, ``<name> tiles`` (a Shapes layer of the write boxes).
        Existing layers of those names are updated in place.  Their
        ``metadata["napari_colorize"]`` holds the model, the ``limits`` used and
        the ``normalize`` mode.

    Notes
    -----
    Nothing is changed in the viewer unless colorization succeeds.  A
    dask-backed stack is sent plane by plane, so it is never loaded whole;
    the outputs are then memory-mapped ``.npy`` files.
    """
    if isinstance(layer, str):
        layer = viewer.layers[layer]
    check_gray_layer(layer)
    options, show_tiles = _split_tiling(tiling)
    if getattr(layer, "multiscale", False):
        if confidence or plane is not None:
            what = "the confidence" if confidence else "a plane"
            raise InputError(f"{what} of the multiscale layer {layer.name!r} is not available")
        return _colorize_multiscale(
            viewer,
            layer,
            model,
            options,
            hints=hints,
            normalize=normalize,
            percentiles=percentiles,
            limits=limits,
            saturation=saturation,
            out_dir=out_dir,
            lab=lab,
            preview_pixels=preview_pixels if preview is None else int(preview) ** 2,
            preview_only=preview is not None,
            blocking=blocking,
            start=start,
            worker=worker,
            on_done=on_done,
            on_error=on_error,
        )
    if plane is not None:
        plane = tuple(int(i) for i in plane)
        lead = tuple(layer.data.shape[:-2])
        if len(plane) != len(lead) or any(not 0 <= i < n for i, n in zip(plane, lead)):
            raise InputError(f"plane {plane} is not a plane of layer {layer.name!r} (leading shape {lead})")
    request, hint_arg = layer_request(
        viewer,
        layer,
        hints=hints,
        normalize=normalize,
        percentiles=percentiles,
        limits=limits,
        saturation=saturation,
        confidence=confidence,
        plane=plane,
        options=options,
    )
    worker = worker or get_worker("interactive")
    request = request.replace(model=_resolve_model_arg(model, worker))
    watch_viewer(viewer)
    grid = None
    if preview is not None and layer.ndim == 2:
        from ..preview import preview_shape

        grid = preview_shape(layer.data.shape, preview)
    factors = None if grid is None else tuple(n / m for n, m in zip(layer.data.shape[-2:], grid))
    tiled = options.get("tile") is not None and grid is None
    extra: dict[str, Any] = {"normalize": normalize, "saturation": request.saturation}
    if hints is not None:
        extra["hints"] = getattr(hints, "name", None) or (hints if isinstance(hints, str) else "hints")
    if plane:
        extra["plane"] = list(plane)
    if factors is not None:
        extra["preview"] = list(factors)

    def finish(res: dict) -> list:
        return _add_outputs(
            viewer,
            layer,
            res,
            show_tiles=show_tiles,
            tiled=tiled,
            model_info=res.get("describe"),
            plane=plane or None,
            extra_meta={**extra, "near_gray": res.get("near_gray")},
            preview=factors,
        )

    args = (worker, layer, request, hint_arg, plane or None, grid)
    return _run(
        _colorize_gen,
        args,
        worker=worker,
        desc=f"colorizing {layer.name}",
        finish=finish,
        blocking=blocking,
        start=start,
        preview=factors,  # None: the full resolution
        on_done=on_done,
        on_error=on_error,
    )

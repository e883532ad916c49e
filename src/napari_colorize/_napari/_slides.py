"""Colorizing a multiscale layer (a whole slide): a preview of a coarse level, then an OME-Zarr pyramid.

The engine worker writes the pyramid into ``<slides folder>/<name>_rgb.zarr``
(:func:`slides_dir`); the plugin shows the preview, replaces its rows band by band as level 0
is written, then opens the store lazily as the multiscale ``<name> RGB`` layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from ..client import Worker, get_worker
from ..color import DEFAULT_PERCENTILES
from ..errors import Cancelled, InputError
from ..hints import is_dense_hints
from ..protocol import progress_event
from ._layer_request import _intensity, _resolve_hints, _resolve_model_arg
from ._lifecycle import watch_viewer
from ._result_layers import META_KEY, OUTPUT_SUFFIXES, _preview_geometry, _set_lab_layers, _set_layer
from ._task_runner import _run, warming

__all__ = ["slides_dir", "PREVIEW_PIXELS", "SLIDES_ENV"]


#: pixels of the coarse level shown as the preview of a multiscale layer (about a screen)
PREVIEW_PIXELS = 2_000_000
#: environment variable naming the folder of multiscale results (default: the user cache folder)
SLIDES_ENV = "NAPARI_COLORIZE_SLIDES"


def slides_dir() -> Path:
    """The folder where multiscale results go when no ``out_dir`` is given.

    ``$NAPARI_COLORIZE_SLIDES``, else ``<user cache>/napari-colorize/slides`` (platformdirs).
    """
    env = os.environ.get(SLIDES_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_path

    return user_cache_path("napari-colorize") / "slides"


def _store_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "layer"


def _preview_level(levels: list[Any], pixels: int) -> int:
    """The finest level with at most ``pixels`` pixels (the coarsest when none has so few)."""
    for i, a in enumerate(levels):
        if int(np.prod(a.shape[-2:])) <= pixels:
            return i
    return len(levels) - 1


def _multiscale_gen(
    worker: Worker,
    layer: Any,
    model: Any,
    options: dict[str, Any],
    limits: tuple[float, float],
    hints: Any,
    saturation: float,
    out: Path,
    preview_pixels: int,
    src: str | None,
    preview_only: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[dict, None, dict]:
    from ..preview import preview_request, preview_shape

    if warming(getattr(worker, "role", "interactive")):
        yield progress_event(None, "starting", message="starting the engine and loading the model…")
    info = yield from worker.iter_request("describe", model=model, should_stop=should_stop)
    levels = list(layer.data)
    H0, W0 = levels[0].shape[-2:]
    k = _preview_level(levels, preview_pixels)
    coarse = levels[k]
    h, w = coarse.shape[-2:]
    grid = preview_shape((h, w), int(np.floor(np.sqrt(preview_pixels * max(h, w) / min(h, w)))))
    pts = None
    if hints is not None:
        pts = np.array(hints, dtype=np.float64, copy=True)
        pts[:, 0] *= h / H0
        pts[:, 1] *= w / W0
        if pts.shape[1] > 5:
            pts[:, 5] *= (h / H0 + w / W0) / 2
    small, small_hints, _ = preview_request(
        coarse, grid or (h, w), hints=pts, normalize="none", limits=limits
    )
    pre = yield from worker.iter_colorize(
        small,
        model,
        rgb=False,
        hints=small_hints,
        limits=limits,
        saturation=saturation,
        tile=None,
        should_stop=should_stop,
    )
    factors = (H0 / small.shape[0], W0 / small.shape[1])
    yield {
        "stage": "preview",
        "message": "preview shown; colorizing the full resolution…",
        "preview": pre,
        "factors": factors,
    }
    if preview_only:  # live mode: the full resolution is the next run's (the widget's refinement)
        return {"preview_only": True}
    if should_stop is not None and should_stop():
        raise Cancelled("colorize stopped")
    res = yield from worker.iter_colorize_store(
        levels,
        model,
        out,
        scale=tuple(layer.scale[-2:]),
        translate=tuple(layer.translate[-2:]),
        hints=hints,
        limits=limits,
        saturation=saturation,
        should_stop=should_stop,
        src=src,
        sample_grid=small.shape[:2],  # the preview is replaced band by band as level 0 is written
        **options,
    )
    res["describe"] = info
    return res


def _source_store(layer: Any, levels: list[Any]) -> str | None:
    """The OME-Zarr image the layer was opened from, when it holds the layer's levels (else None)."""
    from ..multiscale import is_ome_zarr, read_ome_zarr

    path = getattr(getattr(layer, "source", None), "path", None)
    if not path or not is_ome_zarr(path):
        return None
    try:
        img = read_ome_zarr(path)
    except InputError:
        return None
    same = [tuple(a.shape) for a in img.levels] == [tuple(a.shape[-2:]) for a in levels]
    return str(path) if same else None


def _multiscale_outputs(
    viewer: Any, layer: Any, res: dict[str, Any], meta: dict[str, Any], lab: bool
) -> list:
    """The multiscale ``<name> RGB`` layer (and L, a, b) read lazily from the result's store."""
    from ..multiscale import open_rgb_store

    rgb, _, _ = open_rgb_store(res["store"])
    name = layer.name
    common = {"scale": tuple(layer.scale), "translate": tuple(layer.translate)}
    meta = {**meta, "store": res["store"], "limits": res.get("limits"), "model": res.get("describe") or {}}
    layers: dict[str, Any] = {"rgb": rgb}
    if lab:
        from ..color import gray2L, rgb2lab

        lims = tuple(res["limits"])
        Ls = [_lazy(a).map_blocks(gray2L, rgb=False, limits=lims, dtype=np.float32) for a in layer.data]
        labs = [
            a.map_blocks(lambda b: rgb2lab(b.astype(np.float32) / 255).astype(np.float32), dtype=np.float32)
            for a in rgb
        ]
        layers.update(L=Ls, a=[x[..., 1] for x in labs], b=[x[..., 2] for x in labs])
    return _set_lab_layers(
        viewer,
        name,
        layers,
        ab_limit=100.0,
        metadata=lambda role: {META_KEY: {**meta, "role": role}},
        **common,
    )


def _lazy(a: Any) -> Any:
    import dask.array as da

    return da.asarray(a)


def _colorize_multiscale(
    viewer: Any,
    layer: Any,
    model: Any,
    options: dict[str, Any],
    *,
    hints: Any,
    normalize: str,
    percentiles: Any,
    limits: Any,
    saturation: float,
    out_dir: str | os.PathLike | None,
    lab: bool,
    preview_pixels: int,
    preview_only: bool,
    blocking: bool,
    start: bool,
    worker: Worker | None,
    on_done: Callable[[list], None] | None,
    on_error: Callable[[BaseException], None] | None,
) -> Any:
    """Colorize a multiscale layer: a preview of a coarse level first, then the OME-Zarr pyramid."""
    from ..color import check_saturation
    from ..io import check_writable_folder
    from ..multiscale import _coarse_limits, check_levels

    sat = check_saturation(saturation)
    levels = list(layer.data)
    check_levels(levels)
    intensity = _intensity(layer, normalize, percentiles, limits, None)
    lims = intensity["limits"]
    if lims is None:
        pct = intensity.get("percentiles", DEFAULT_PERCENTILES)
        lims = _coarse_limits(levels, intensity.get("normalize", "auto"), pct, None)
    lims = (float(lims[0]), float(lims[1]))
    table = _resolve_hints(viewer, layer, hints, None)
    if table is not None and (is_dense_hints(table) or isinstance(table, (str, os.PathLike))):
        raise InputError("hints on a multiscale layer must be points (a Points layer)")
    folder = check_writable_folder(out_dir if out_dir is not None else slides_dir(), what="slides folder")
    out = folder / f"{_store_name(layer.name)}_rgb.zarr"
    worker = worker or get_worker("interactive")
    model = _resolve_model_arg(model, worker)
    watch_viewer(viewer)
    meta = {"source": layer.name, "normalize": normalize, "saturation": sat}
    src = _source_store(layer, levels)  # read by the worker where it is: nothing copied
    args = (worker, layer, model, options, lims, table, sat, out, int(preview_pixels), src, preview_only)
    shown: list[Any] = []

    def show_preview(ev: dict) -> None:
        from ..io import to_uint8

        pre, factors = ev["preview"], ev["factors"]
        scale, translate = _preview_geometry(tuple(layer.scale), tuple(layer.translate), factors)
        shown[:] = [
            _set_layer(
                viewer,
                layer.name + OUTPUT_SUFFIXES["rgb"],
                to_uint8(np.asarray(pre["rgb"])),
                "image",
                rgb=True,
                scale=scale,
                translate=translate,
                metadata={META_KEY: {**meta, "role": "rgb", "preview": list(factors), "limits": list(lims)}},
            )
        ]

    def outputs(res: dict) -> list:
        if res.get("preview_only"):
            return list(shown)
        return _multiscale_outputs(viewer, layer, res, meta, lab)

    def show_band(ev: dict) -> None:
        # rows of the written result, sampled on the preview's grid: they replace the preview's rows
        if not shown or shown[0] not in viewer.layers:
            return
        r0, r1 = (int(v) for v in ev["rows"])
        data = np.array(shown[0].data, copy=True)
        data[r0:r1] = np.asarray(ev["rgb"], dtype=np.uint8)
        shown[0].data = data

    def on_event(ev: dict) -> None:
        if ev.get("stage") == "preview":
            show_preview(ev)
        elif ev.get("stage") == "band":
            show_band(ev)

    return _run(
        _multiscale_gen,
        args,
        worker=worker,
        desc=f"colorizing {layer.name}",
        finish=outputs,
        blocking=blocking,
        start=start,
        # live mode's preview (the widget's refinement runs the pyramid next); else one run does both
        preview=True if preview_only else None,
        on_done=on_done,
        on_error=on_error,
        on_event=on_event,
        label_stages=False,
    )

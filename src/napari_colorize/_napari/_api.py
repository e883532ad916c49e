"""Scripted napari sessions: colorize a layer, train from layers, evaluate.

Everything that needs TensorFlow runs in an engine process, reached through
:mod:`napari_colorize.client` (trainings in the ``"train"`` worker, the rest in
the ``"interactive"`` one); this module only handles layers.

Examples
--------
>>> import napari, napari_colorize as nc                        # doctest: +SKIP
>>> viewer = napari.Viewer()                                     # doctest: +SKIP
>>> ref = viewer.add_image(color_image, rgb=True)                # doctest: +SKIP
>>> path = nc.train_from_layers(viewer, [ref], "lookup", "my_lookup")   # doctest: +SKIP
>>> gray = viewer.add_image(gray_image, name="gray")             # doctest: +SKIP
>>> layers = nc.colorize_layer(viewer, gray, path, tile=256)     # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..catalogue import check_model_out, describe_model_folder, resolve_model_path, user_models_dir
from ..client import Worker, get_worker
from ..color import DEFAULT_PERCENTILES, NORMALIZE, intensity_limits
from ..errors import Cancelled, InputError
from ..protocol import progress_event, progress_fraction, progress_message
from ..tiling import TILING_KEYS
from ._hints import hints_from_shapes_layer, points_layer_table
from ._lifecycle import refresh_model_lists, watch_viewer

__all__ = [
    "colorize_layer",
    "train_from_layers",
    "evaluate_layers",
    "rgb_layer_to_gray",
    "check_gray_layer",
    "check_rgb_layer",
    "layer_box",
    "is_output",
    "model_exists",
    "notify",
    "warm_up",
    "fetch_model",
    "OUTPUT_SUFFIXES",
    "NORMALIZE_CHOICES",
    "CONTRAST_LIMITS",
    "slides_dir",
    "PREVIEW_PIXELS",
]

#: names of the output layers: "<input name><suffix>"
OUTPUT_SUFFIXES = {
    "L": " L",
    "a": " a",
    "b": " b",
    "rgb": " RGB",
    "tiles": " tiles",
    "confidence": " confidence",
}
#: the ``normalize`` value that takes the layer's current contrast limits (what the user sees)
CONTRAST_LIMITS = "contrast_limits"
#: intensity normalisations of :func:`colorize_layer`: the engine's, and the layer's contrast limits
NORMALIZE_CHOICES: tuple[str, ...] = (*NORMALIZE, CONTRAST_LIMITS)


#: pixels of the coarse level shown as the preview of a multiscale layer (about a screen)
PREVIEW_PIXELS = 2_000_000
#: environment variable naming the folder of multiscale results (default: the user cache folder)
SLIDES_ENV = "NAPARI_COLORIZE_SLIDES"


#: the key of ``layer.metadata`` that marks the plugin's own layers (outputs, hints) and their role
META_KEY = "napari_colorize"


def is_output(layer: Any) -> bool:
    """Whether ``layer`` is one of the plugin's results (``<name> RGB``, ``<name> a``, ΔE2000, ...).

    Results carry ``metadata["napari_colorize"]``; a hints layer carries it too, with the role
    ``"hints"``, and is no result.
    """
    meta = getattr(layer, "metadata", None)
    mark = meta.get(META_KEY) if isinstance(meta, dict) else None
    if mark is None:
        return False
    return not (isinstance(mark, dict) and mark.get("role") == "hints")


@contextmanager
def _keep_selection(viewer: Any) -> Iterator[None]:
    """Leave the viewer's layer selection (and its active layer) as it was.

    napari selects every layer it adds; an output layer must not take the
    selection from the layer the user works on (a hints layer in add mode).
    """
    sel = viewer.layers.selection
    before = set(sel)
    try:
        yield
    finally:
        keep = {ly for ly in before if ly in viewer.layers}
        if set(sel) != keep:
            if len(keep) == 1:
                sel.active = next(iter(keep))
            else:
                sel.clear()
                sel.update(keep)


@functools.lru_cache(maxsize=1)
def _notification_class() -> Any:
    """napari's Notification without a source: its dialog would print "Source: <NotificationManager…>"."""
    from napari.utils.notifications import Notification

    class PluginNotification(Notification):
        @property
        def source(self) -> Any:
            return None

    return PluginNotification


def notify(text: str, *, level: str = "error", actions: tuple = ()) -> None:
    """Show ``napari-colorize: <text>`` as a napari notification.

    Parameters
    ----------
    text : str
        The message.
    level : {"error", "warning", "info"}
    actions : tuple of (label, callable)
        Buttons of the notification.
    """
    from napari.utils.notifications import NotificationSeverity, notification_manager

    sev = {
        "error": NotificationSeverity.ERROR,
        "warning": NotificationSeverity.WARNING,
        "info": NotificationSeverity.INFO,
    }[level]
    note = _notification_class()(f"napari-colorize: {text}", severity=sev, actions=tuple(actions))
    notification_manager.dispatch(note)


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _is_empty(layer: Any) -> bool:
    shape = getattr(layer.data, "shape", ())
    return len(shape) < 2 or int(np.prod(shape)) == 0


def check_gray_layer(layer: Any) -> None:
    """Raise :class:`InputError` unless ``layer`` is a non-empty grayscale Image layer."""
    from napari.layers import Image

    if layer is None:
        raise InputError("choose a grayscale Image layer to colorize")
    if not isinstance(layer, Image):
        raise InputError(f"layer {layer.name!r} is a {type(layer).__name__} layer, not an Image layer")
    if getattr(layer, "multiscale", False) and layer.ndim != 2:
        raise InputError(
            f"layer {layer.name!r} is a multiscale stack ({layer.ndim}D); colorize a 2D multiscale image"
        )
    if _is_empty(layer):
        raise InputError(f"layer {layer.name!r} is empty (shape {tuple(layer.data.shape)})")
    if layer.rgb:
        raise InputError(
            f"layer {layer.name!r} is already RGB: colorize expects a grayscale layer. "
            "Convert it to gray first (the notification's 'Convert to gray' action, "
            "or napari_colorize._napari.rgb_layer_to_gray)."
        )
    data = layer.data
    if not hasattr(data, "dask") and isinstance(data, np.ndarray) and data.size <= 400_000_000:
        lo, hi = np.nanmin(data), np.nanmax(data)
        if lo == hi:
            raise InputError(
                f"layer {layer.name!r} is blank (every pixel is {lo}): there is nothing to colorize"
            )
    dtype = np.dtype(layer.data.dtype)
    if not (np.issubdtype(dtype, np.number) or dtype.kind == "b") or np.issubdtype(dtype, np.complexfloating):
        raise InputError(f"layer {layer.name!r} has dtype {dtype}, expected a numeric gray image")


def check_rgb_layer(layer: Any, *, role: str = "image") -> None:
    """Raise :class:`InputError` unless ``layer`` is a non-empty RGB Image layer."""
    from napari.layers import Image

    if layer is None:
        raise InputError(f"choose an RGB Image layer as the {role}")
    if not isinstance(layer, Image) or not layer.rgb:
        raise InputError(f"the {role} layer {layer.name!r} must be an RGB Image layer")
    if _is_empty(layer):
        raise InputError(f"the {role} layer {layer.name!r} is empty")


def _gray_data(layer: Any, plane: tuple[int, ...] | None = None) -> Any:
    """The layer's data (or one plane of it) for the engine, which normalises the intensities.

    Booleans become uint8 0/255; everything else goes as it is (dask stays lazy).
    """
    data = layer.data
    if plane is not None:
        data = data[tuple(plane)]
    if np.dtype(data.dtype).kind == "b":
        return np.asarray(data, np.uint8) * 255
    return data


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

    from ..methods.base import Colorizer

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


def layer_box(shapes: Any, image: Any) -> tuple[int, int, int, int]:
    """The first rectangle of a Shapes layer as a (y0, x0, y1, x1) box in ``image``'s pixels."""
    if shapes is None or len(shapes.data) == 0:
        raise InputError("the crop Shapes layer has no shapes; draw a rectangle")
    pts = np.asarray(shapes.data[0], dtype=float)[:, -2:]
    nd = shapes.ndim
    full = np.zeros((len(pts), nd))
    full[:, -2:] = pts
    world = np.array([shapes.data_to_world(p) for p in full])
    data_pts = np.array([image.world_to_data(p) for p in world])
    if getattr(image, "rgb", False):
        yx = data_pts[:, -2:]
    else:
        yx = data_pts[:, -2:]
    shape = image.data.shape[-3:-1] if image.rgb else image.data.shape[-2:]
    y0, x0 = np.floor(yx.min(0) + 0.5).astype(int)
    y1, x1 = np.floor(yx.max(0) + 0.5).astype(int)
    y0, x0 = max(y0, 0), max(x0, 0)
    y1, x1 = min(y1, shape[0]), min(x1, shape[1])
    if y1 - y0 < 2 or x1 - x0 < 2:
        raise InputError(f"the crop rectangle does not overlap layer {image.name!r} (box {y0, x0, y1, x1})")
    return int(y0), int(x0), int(y1), int(x1)


# ---------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------
def _diverging(name: str, neg: tuple[float, float, float], pos: tuple[float, float, float]) -> Any:
    from napari.utils.colormaps import Colormap

    return Colormap([[*neg, 1.0], [0.5, 0.5, 0.5, 1.0], [*pos, 1.0]], name=name)


def _spatial(layer: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return tuple(layer.scale), tuple(layer.translate)


def _preview_geometry(
    scale: tuple[float, ...], translate: tuple[float, ...], factors: tuple[float, float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Scale and translate of a layer whose pixels are blocks of ``factors`` (fy, fx) of the input's.

    napari puts pixel centres at integer data coordinates, so a block of ``f`` pixels
    starting at pixel 0 is centred ``(f - 1) / 2`` input pixels further on: the preview
    overlays the input exactly.
    """
    f = np.ones(len(scale))
    f[-2:] = factors
    s = np.asarray(scale, float)
    return tuple(float(v) for v in s * f), tuple(
        float(v) for v in np.asarray(translate, float) + s * (f - 1) / 2
    )


def _set_layer(viewer: Any, name: str, data: Any, kind: str, **kw: Any) -> Any:
    """Update layer ``name`` in place if it exists with the same kind, else add it.

    The viewer's selection and active layer stay as they were.
    """
    with _keep_selection(viewer):
        return _put_layer(viewer, name, data, kind, **kw)


def _put_layer(viewer: Any, name: str, data: Any, kind: str, **kw: Any) -> Any:
    from napari import layers as nl

    cls = {"image": nl.Image, "shapes": nl.Shapes}[kind]
    if kind == "image" and isinstance(data, list):  # a multiscale result replaces the layer of that name
        if name in viewer.layers:
            viewer.layers.remove(name)
        return viewer.add_image(data, name=name, multiscale=True, **kw)
    if name in viewer.layers:
        layer = viewer.layers[name]
        same = isinstance(layer, cls) and (kind != "image" or bool(layer.rgb) == bool(kw.get("rgb", False)))
        same = same and not getattr(layer, "multiscale", False)  # a multiscale result is replaced
        if same and (kind != "image" or layer.ndim == (data.ndim - (1 if kw.get("rgb") else 0))):
            if kind == "image":
                layer.data = data
                for key in ("scale", "translate", "contrast_limits", "colormap", "metadata"):
                    if key in kw:
                        setattr(layer, key, kw[key])
            else:
                layer.data = []
                if len(data):
                    layer.add_rectangles(
                        data,
                        edge_color=kw.get("edge_color", "yellow"),
                        edge_width=kw.get("edge_width", 1),
                        face_color="transparent",
                    )
                layer.features = kw.get("features", {})
                layer.text = kw.get("text")
                for key in ("scale", "translate", "metadata"):
                    if key in kw:
                        setattr(layer, key, kw[key])
            layer.refresh()
            return layer
        viewer.layers.remove(layer)
    if kind == "image":
        return viewer.add_image(data, name=name, **kw)
    return viewer.add_shapes(data, shape_type="rectangle", name=name, **kw)


def _into_plane(viewer: Any, name: str, shape: tuple[int, ...], plane: tuple[int, ...], data: Any) -> Any:
    """The full stack of output ``name`` with ``data`` written into ``plane``.

    Writes into the existing layer's array when it is a numpy array of that shape
    and dtype (the other planes keep their colors), else into a new zero array.
    """
    data = np.asarray(data)
    arr = None
    if name in viewer.layers:
        old = viewer.layers[name].data
        if (
            isinstance(old, np.ndarray)
            and old.shape == shape
            and old.dtype == data.dtype
            and old.flags.writeable
        ):
            arr = old
    if arr is None:
        arr = np.zeros(shape, data.dtype)
    arr[tuple(plane)] = data
    return arr


def _add_outputs(
    viewer: Any,
    layer: Any,
    res: dict[str, Any],
    *,
    show_tiles: bool,
    tiled: bool,
    model_info: dict[str, Any] | None = None,
    plane: tuple[int, ...] | None = None,
    extra_meta: dict[str, Any] | None = None,
    preview: tuple[float, float] | None = None,
) -> list[Any]:
    from ..io import to_uint8

    name = layer.name
    scale, translate = _spatial(layer)
    if preview is not None:
        scale, translate = _preview_geometry(scale, translate, preview)
    limits = res.get("limits")
    meta = {
        "napari_colorize": {
            "source": name,
            "model": model_info or {},
            "limits": [float(v) for v in limits] if limits is not None else None,
            **(extra_meta or {}),
        }
    }
    L = np.asarray(res["L"], dtype=np.float32) if not isinstance(res["L"], np.memmap) else res["L"]
    ab = res["ab"]
    rgb = res["rgb"]
    if not isinstance(rgb, np.memmap):
        rgb = to_uint8(np.asarray(rgb))
    conf = res.get("confidence")
    if conf is not None and not isinstance(conf, np.memmap):
        conf = np.asarray(conf, dtype=np.float32)
    if plane:
        full = tuple(layer.data.shape)
        if conf is not None:
            conf = _into_plane(viewer, name + OUTPUT_SUFFIXES["confidence"], full, plane, conf)
        L = _into_plane(viewer, name + OUTPUT_SUFFIXES["L"], full, plane, L)
        rgb = _into_plane(viewer, name + OUTPUT_SUFFIXES["rgb"], full + (3,), plane, rgb)
        a = _into_plane(viewer, name + OUTPUT_SUFFIXES["a"], full, plane, np.asarray(ab[..., 0]))
        b = _into_plane(viewer, name + OUTPUT_SUFFIXES["b"], full, plane, np.asarray(ab[..., 1]))
    else:
        a = ab[..., 0]
        b = ab[..., 1]
    lim = (
        float(max(np.abs(np.asarray(a)).max(), np.abs(np.asarray(b)).max(), 1.0))
        if a.size <= 50_000_000
        else 100.0
    )
    common = {"scale": scale, "translate": translate}
    out = [
        _set_layer(
            viewer,
            name + OUTPUT_SUFFIXES["L"],
            L,
            "image",
            colormap="gray",
            contrast_limits=(0.0, 100.0),
            metadata={**meta, "role": "L"},
            visible=False,
            **common,
        ),
        _set_layer(
            viewer,
            name + OUTPUT_SUFFIXES["a"],
            a,
            "image",
            colormap=_diverging("colorize_a", (0.0, 0.6, 0.3), (0.85, 0.1, 0.55)),
            contrast_limits=(-lim, lim),
            metadata={**meta, "role": "a"},
            visible=False,
            **common,
        ),
        _set_layer(
            viewer,
            name + OUTPUT_SUFFIXES["b"],
            b,
            "image",
            colormap=_diverging("colorize_b", (0.1, 0.3, 0.9), (0.95, 0.8, 0.1)),
            contrast_limits=(-lim, lim),
            metadata={**meta, "role": "b"},
            visible=False,
            **common,
        ),
        _set_layer(
            viewer,
            name + OUTPUT_SUFFIXES["rgb"],
            rgb,
            "image",
            rgb=True,
            metadata={**meta, "role": "rgb"},
            **common,
        ),
    ]
    if conf is not None:
        # the model's confidence in its colors (0 unsure .. 1 sure), under the RGB result
        out.insert(
            3,
            _set_layer(
                viewer,
                name + OUTPUT_SUFFIXES["confidence"],
                conf,
                "image",
                colormap="magma",
                contrast_limits=(0.0, 1.0),
                metadata={**meta, "role": "confidence"},
                visible=False,
                **common,
            ),
        )
    from ..tiling import TilePlan

    tiles_name = name + OUTPUT_SUFFIXES["tiles"]
    plan = res.get("plan")
    tile_plan = TilePlan.from_dict(plan) if plan else None
    boxes = [list(t.write) for t in tile_plan.tiles] if tile_plan is not None else []
    if preview is not None:
        pass  # the tiles of the full-resolution run stay until it replaces the preview
    elif show_tiles and tiled and boxes:
        # pixel centres are integers: the outline runs along the pixel edges
        rects = [np.asarray(r, dtype=float) - 0.5 for r in tile_plan.rectangles()]
        width = max(1.0, 0.004 * max(L.shape[-2:]))
        kw = dict(
            edge_color="yellow",
            edge_width=width,
            face_color="transparent",
            features={"index": np.arange(len(rects))},
            text={"string": "{index}", "color": "yellow", "size": 10, "anchor": "upper_left"},
            scale=scale[-2:],
            translate=translate[-2:],
            metadata={**meta, "role": "tiles", "plan": plan, "write_boxes": boxes},
        )
        out.append(_set_layer(viewer, tiles_name, rects, "shapes", **kw))
    elif tiles_name in viewer.layers:
        # stale outlines from an earlier run would lie about this result
        with _keep_selection(viewer):
            viewer.layers.remove(tiles_name)
    # keep the RGB result on top, with the tiles over it
    return out


# ---------------------------------------------------------------------------
# colorize
# ---------------------------------------------------------------------------
def _colorize_gen(
    worker: Worker,
    layer: Any,
    model: Any,
    options: dict[str, Any],
    intensity: dict[str, Any] | None = None,
    hints: Any = None,
    plane: tuple[int, ...] | None = None,
    color: dict[str, Any] | None = None,
    grid: tuple[int, int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[dict, None, dict]:
    if warming(getattr(worker, "role", "interactive")):
        # the widget's warm-up is starting the worker: this request waits for it
        yield progress_event(None, "starting", message="starting the engine and loading the model…")
    info = yield from worker.iter_request("describe", model=model, should_stop=should_stop)
    tile = options.get("tile")
    if tile is not None and tile != "auto" and grid is None:
        bs = int(info.get("block_size", 1))
        if int(tile) < bs:
            raise InputError(f"tile {tile} is smaller than the {info.get('method')} model's block size {bs}")
    data = _gray_data(layer, plane)
    if grid is not None:
        # a preview: the block means of the plane, untiled, with the full plane's intensity limits
        from ..preview import preview_hints

        hints = preview_hints(hints, data.shape[-2:], grid)
        data, limits = _preview_image(layer, plane, data, grid, intensity or {})
        intensity = {"limits": limits}
        options = {"tile": None}
    if should_stop is not None and should_stop():
        raise Cancelled("colorize stopped")  # between the two requests: the second is never sent
    res = yield from worker.iter_colorize(
        data,
        model,
        rgb=False,
        hints=hints,
        should_stop=should_stop,
        **(intensity or {}),
        **(color or {}),
        **options,
    )
    res["describe"] = info
    return res


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


def _progress_bar(desc: str) -> Any:
    from napari.utils import progress

    return progress(total=0, desc=desc)


def _feed(pbar: Any, ev: dict, desc: str = "") -> None:
    """Show a progress event on a napari progress bar: its fraction, and its stage after ``desc``."""
    text = progress_message(ev)
    if text is not None and ev.get("stage") != "tiles":
        pbar.set_description(f"{desc}: {text}" if desc else text)
    frac = progress_fraction(ev)
    if frac is not None:
        done, total = frac
        if pbar.total != total:
            pbar.total = total
        pbar.n = done
        pbar.refresh()


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
        :func:`~napari_colorize._napari._hints.points_layer_table`).
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
        :func:`~napari_colorize._napari._hints.displayed_plane`); the other planes of
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
    from ..color import check_saturation

    color = {"saturation": check_saturation(saturation), "confidence": bool(confidence)}
    intensity = _intensity(layer, normalize, percentiles, limits, plane)
    hint_arg = _resolve_hints(viewer, layer, hints, plane)
    worker = worker or get_worker("interactive")
    model = _resolve_model_arg(model, worker)
    watch_viewer(viewer)
    grid = None
    if preview is not None and layer.ndim == 2:
        from ..preview import preview_shape

        grid = preview_shape(layer.data.shape, preview)
    factors = None if grid is None else tuple(n / m for n, m in zip(layer.data.shape[-2:], grid))
    tiled = options.get("tile") is not None and grid is None
    extra: dict[str, Any] = {"normalize": normalize, "saturation": color["saturation"]}
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

    args = (worker, layer, model, options, intensity, hint_arg, plane or None, color, grid)
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


def _run(
    gen_fn: Callable[..., Any],
    args: tuple,
    *,
    worker: Worker,
    desc: str,
    finish: Callable[[dict], Any],
    blocking: bool,
    start: bool,
    preview: Any,
    on_done: Callable[[Any], None] | None,
    on_error: Callable[[BaseException], None] | None,
    on_event: Callable[[dict], None] | None = None,
    label_stages: bool = True,
) -> Any:
    """Run an engine request generator with a napari progress bar: blocking, or as a napari worker.

    Blocking returns ``finish(result)``.  Otherwise the ``GeneratorWorker`` is returned (started
    if ``start``) with ``engine_worker`` (a Cancel button stops it), ``preview`` and
    ``request_stop`` (stop the request in flight now, or the next one it makes); ``finish``
    then runs in the GUI thread and ``on_done`` gets its result.  ``on_event`` sees every
    progress event first; ``label_stages`` puts ``desc`` before each stage on the bar.
    """
    feed_desc = desc if label_stages else ""
    if blocking:
        gen = gen_fn(*args)
        pbar = _progress_bar(desc)
        try:
            while True:
                ev = next(gen)
                if on_event is not None:
                    on_event(ev)
                _feed(pbar, ev, feed_desc)
        except StopIteration as s:
            res = s.value
        finally:
            pbar.close()
        return finish(res)

    from napari.qt.threading import create_worker

    def errored(exc: BaseException) -> None:
        (on_error or _notify_error)(exc)

    stop = threading.Event()
    tw = create_worker(gen_fn, *args, stop.is_set, _start_thread=False, _connect={"errored": errored})
    state: dict[str, Any] = {"pbar": None}

    def yielded(ev: dict) -> None:
        if on_event is not None:
            on_event(ev)
        if state["pbar"] is None:
            state["pbar"] = _progress_bar(desc)
        _feed(state["pbar"], ev, feed_desc)

    def close(*_: Any) -> None:
        if state["pbar"] is not None:
            state["pbar"].close()
            state["pbar"] = None

    def returned(res: dict) -> None:
        layers = finish(res)
        if on_done is not None:
            on_done(layers)

    tw.yielded.connect(yielded)
    tw.returned.connect(returned)
    tw.finished.connect(close)
    tw.engine_worker = worker  # type: ignore[attr-defined]
    tw.preview = preview  # type: ignore[attr-defined]

    def request_stop() -> None:
        """Stop this run: its request in flight now, or the next one it makes."""
        stop.set()
        worker.stop()

    tw.request_stop = request_stop  # type: ignore[attr-defined]
    if start:
        tw.start()
    return tw


# ---------------------------------------------------------------------------
# multiscale layers (whole slides)
# ---------------------------------------------------------------------------


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
    out = []
    if lab:
        from ..color import gray2L, rgb2lab

        lims = tuple(res["limits"])
        Ls = [_lazy(a).map_blocks(gray2L, rgb=False, limits=lims, dtype=np.float32) for a in layer.data]
        labs = [
            a.map_blocks(lambda b: rgb2lab(b.astype(np.float32) / 255).astype(np.float32), dtype=np.float32)
            for a in rgb
        ]
        for key, data, cmap, cl in (
            ("L", Ls, "gray", (0.0, 100.0)),
            (
                "a",
                [x[..., 1] for x in labs],
                _diverging("colorize_a", (0.0, 0.6, 0.3), (0.85, 0.1, 0.55)),
                (-100.0, 100.0),
            ),
            (
                "b",
                [x[..., 2] for x in labs],
                _diverging("colorize_b", (0.1, 0.3, 0.9), (0.95, 0.8, 0.1)),
                (-100.0, 100.0),
            ),
        ):
            out.append(
                _set_layer(
                    viewer,
                    name + OUTPUT_SUFFIXES[key],
                    data,
                    "image",
                    colormap=cmap,
                    contrast_limits=cl,
                    metadata={META_KEY: {**meta, "role": key}},
                    visible=False,
                    **common,
                )
            )
    out.append(
        _set_layer(
            viewer,
            name + OUTPUT_SUFFIXES["rgb"],
            rgb,
            "image",
            rgb=True,
            metadata={META_KEY: {**meta, "role": "rgb"}},
            **common,
        )
    )
    return out


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
    if table is not None and (hasattr(table, "mask") or isinstance(table, (str, os.PathLike))):
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


def _notify_error(exc: BaseException) -> None:
    notify(str(exc), level="info" if isinstance(exc, Cancelled) else "error")


_WARMING: dict[str, threading.Thread] = {}


def warm_up(model: Any = None, *, role: str = "interactive") -> threading.Thread | None:
    """Start the engine worker in the background and load ``model`` there, so the first run is fast.

    Returns at once; the thread it returns ends when the worker is ready (errors are
    left for the first real run to report).  A worker already running is left alone.

    Parameters
    ----------
    model : str or path, optional
        A model the user is likely to run (loading it may start TensorFlow in the worker).
    role : str
        The worker (see :func:`napari_colorize.client.get_worker`).
    """
    worker = get_worker(role)
    running = _WARMING.get(role)
    if running is not None and running.is_alive():
        return running
    if getattr(worker, "alive", True) or not hasattr(worker, "start"):
        return None
    spec = None
    if model is not None:
        try:
            spec = str(resolve_model_path(model).resolve())
        except Exception:  # a model that is not there: the run will say so
            spec = None

    def run() -> None:
        try:
            worker.start()
            if spec is not None:
                worker.request("describe", model=spec)
        except Exception:  # a failed warm-up costs nothing: the first run starts over and reports
            pass

    thread = threading.Thread(target=run, daemon=True, name=f"colorize-warm-up-{role}")
    _WARMING[role] = thread
    thread.start()
    return thread


def warming(role: str = "interactive") -> bool:
    """Whether :func:`warm_up` is still starting the worker of ``role``."""
    t = _WARMING.get(role)
    return t is not None and t.is_alive()


# ---------------------------------------------------------------------------
# pretrained models
# ---------------------------------------------------------------------------
def fetch_model(
    name: str,
    *,
    blocking: bool = True,
    start: bool = True,
    worker: Worker | None = None,
    on_done: Callable[[Path], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> Any:
    """Download and install a pretrained model of the catalogue in the engine worker.

    The download, its SHA-256 check and the conversion (torch, TensorFlow) run in the worker
    (:func:`napari_colorize.install.fetch`); napari shows the download's progress.  The
    model lists of the Colorize widgets then show the installed model.

    Parameters
    ----------
    name : str
        A catalogue name (:func:`napari_colorize.pretrained.list_pretrained`).
    blocking : bool
        Wait and return the model folder; with ``False`` return the napari ``GeneratorWorker``
        (its ``request_stop()`` cancels the download: nothing is installed).
    start : bool
        With ``blocking=False``: start it at once, or leave that to the caller.
    worker : Worker, optional
        The engine worker (``get_worker("interactive")`` by default).
    on_done, on_error : callable, optional
        Called with the model folder / the exception (non-blocking mode).
    """
    from ..pretrained import get_pretrained

    entry = get_pretrained(name)  # an unknown name: one line, before the worker
    worker = worker or get_worker("interactive")
    stop = threading.Event()

    def gen() -> Generator[dict, None, dict]:
        return (yield from worker.iter_request("fetch", should_stop=stop.is_set, name=entry.name))

    if blocking:
        g = gen()
        pbar = _progress_bar(f"downloading {entry.name}")
        try:
            while True:
                _feed(pbar, next(g))
        except StopIteration as s:
            res = s.value
        finally:
            pbar.close()
        refresh_model_lists()
        return Path(res["path"])

    from napari.qt.threading import create_worker

    tw = create_worker(gen, _start_thread=False, _connect={"errored": on_error or _notify_error})
    state: dict[str, Any] = {"pbar": None}

    def yielded(ev: dict) -> None:
        if state["pbar"] is None:
            state["pbar"] = _progress_bar(f"downloading {entry.name}")
        _feed(state["pbar"], ev)

    def close(*_: Any) -> None:
        if state["pbar"] is not None:
            state["pbar"].close()
            state["pbar"] = None

    def returned(res: dict) -> None:
        refresh_model_lists()
        if on_done is not None:
            on_done(Path(res["path"]))

    tw.yielded.connect(yielded)
    tw.returned.connect(returned)
    tw.finished.connect(close)
    tw.engine_worker = worker  # type: ignore[attr-defined]

    def request_stop() -> None:
        stop.set()
        worker.stop()

    tw.request_stop = request_stop  # type: ignore[attr-defined]
    if start:
        tw.start()
    return tw


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------
def _rgb_data(layer: Any) -> np.ndarray:
    data = layer.data
    data = np.asarray(data.compute() if hasattr(data, "compute") else data)
    if data.ndim > 3:  # a stack of RGB planes: train on the current one
        idx = (
            tuple(int(i) for i in layer._data_slice.point[: data.ndim - 3])
            if hasattr(layer, "_data_slice")
            else (0,) * (data.ndim - 3)
        )
        data = data[idx] if idx else data.reshape((-1,) + data.shape[-3:])[0]
    if data.shape[-1] == 4:
        data = data[..., :3]
    return data


def _train_args(viewer: Any, layers: Any, box: Any) -> tuple[Any, tuple[int, int, int, int] | None]:
    if isinstance(layers, (str, os.PathLike)) and Path(layers).exists():
        return str(layers), None
    if not isinstance(layers, (list, tuple)):
        layers = [layers]
    if not layers:
        raise InputError("choose at least one RGB layer (or a folder) to train on")
    resolved = [viewer.layers[x] if isinstance(x, str) else x for x in layers]
    for ly in resolved:
        check_rgb_layer(ly, role="training")
    images = [_rgb_data(ly) for ly in resolved]
    if box is not None and not isinstance(box, (tuple, list)):
        box = layer_box(box, resolved[0])
    return images, (tuple(int(v) for v in box) if box is not None else None)


def model_exists(path: str | os.PathLike) -> bool:
    """Whether a folder holds something a training would replace (a model, or any file)."""
    p = Path(path)
    return (p.is_dir() and any(p.iterdir())) or p.is_file()


def train_from_layers(
    viewer: Any,
    layers: Any,
    method: str,
    out: str | os.PathLike,
    *,
    blocking: bool = True,
    box: Any = None,
    overwrite: bool = False,
    worker: Worker | None = None,
    on_progress: Callable[[dict], None] | None = None,
    on_done: Callable[[Path], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    **config: Any,
) -> Any:
    """Train a model from RGB layers (or a folder) and save it to ``out``.

    Parameters
    ----------
    viewer : napari.Viewer
    layers : RGB Image layer(s), their names, or a folder of images
    method : str
        A method name (``napari_colorize.list_methods()``).
    out : path or str
        The model folder to write.  A bare name (no path separator) is saved
        in :func:`napari_colorize.catalogue.user_models_dir`.
    blocking : bool
        Wait and return the path (scripts); with ``False`` return the started
        napari ``GeneratorWorker``.
    box : (y0, x0, y1, x1) or a Shapes layer, optional
        Train only on this region (the first rectangle of a Shapes layer).
    overwrite : bool
        Replace an existing model folder at ``out``.  Without it an existing model folder is
        refused, and so is any folder that is not a model folder, the models folder and the
        folders above it (:func:`napari_colorize.catalogue.check_model_out`), before training.
    worker : Worker, optional
        The engine worker (``get_worker("train")`` by default, so that
        colorizing goes on while training runs).
    on_progress, on_done, on_error : callable, optional
        Called with each progress event, the saved folder, the exception.
    **config
        Method config values (epochs, batch_size, crop_size, ...).

    Returns
    -------
    pathlib.Path, or a napari GeneratorWorker when ``blocking=False``
    """
    from ..methods import get_config_class

    cfg_cls = get_config_class(method)  # ConfigError for an unknown method; never imports TF
    cfg_cls.from_dict(config)  # unknown keys / invalid values fail here, before the worker
    images, box = _train_args(viewer, layers, box)
    out_p = Path(out)
    if isinstance(out, str) and os.sep not in out and "/" not in out and not out_p.is_absolute():
        out_p = user_models_dir() / out
    out_p = out_p.expanduser().resolve()
    check_model_out(out_p, overwrite=overwrite)  # before the worker: nothing but a model is replaced
    out_p.parent.mkdir(parents=True, exist_ok=True)
    worker = worker or get_worker("train")
    watch_viewer(viewer)
    # the engine's own refusal (when it has one) is lifted only for a replacement the caller asked for

    def gen() -> Generator[dict, None, dict]:
        res = yield from worker.iter_train(
            method, images, out=out_p, config=config, box=box, overwrite=overwrite
        )
        return res

    def saved(ev: dict) -> None:
        if ev.get("stage") == "saved":
            refresh_model_lists()

    if blocking:
        g = gen()
        try:
            while True:
                ev = next(g)
                saved(ev)
                if on_progress is not None:
                    on_progress(ev)
        except StopIteration as s:
            res = s.value
        return Path(res["path"])

    from napari.qt.threading import create_worker

    tw = create_worker(gen, _start_thread=False, _connect={"errored": on_error or _notify_error})
    tw.yielded.connect(saved)
    if on_progress is not None:
        tw.yielded.connect(on_progress)
    tw.returned.connect(lambda res: on_done(Path(res["path"])) if on_done else None)
    tw.engine_worker = worker  # type: ignore[attr-defined]
    tw.start()
    return tw


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------
def evaluate_layers(viewer: Any, pred: Any, truth: Any, *, error_layer: bool = False) -> dict[str, float]:
    """Metrics of a colorized RGB layer against a ground-truth RGB layer.

    Runs in this process (the metrics need no TensorFlow).  With
    ``error_layer``, adds (or updates) ``<pred> ΔE2000``, the per-pixel
    CIEDE2000 difference.
    """
    from ..color import rgb2lab, to_float01
    from ..metrics import delta_e2000_lab, evaluate_pair

    pred = viewer.layers[pred] if isinstance(pred, str) else pred
    truth = viewer.layers[truth] if isinstance(truth, str) else truth
    check_rgb_layer(pred, role="colorized")
    check_rgb_layer(truth, role="ground-truth")
    p, t = _rgb_data(pred), _rgb_data(truth)
    if p.shape[:2] != t.shape[:2]:
        raise InputError(
            f"the layers differ in size: {pred.name!r} is {p.shape[:2]}, {truth.name!r} is {t.shape[:2]}"
        )
    metrics = evaluate_pair(p, t)
    if error_layer:
        de = delta_e2000_lab(rgb2lab(to_float01(p)), rgb2lab(to_float01(t))).astype(np.float32)
        _set_layer(
            viewer,
            f"{pred.name} ΔE2000",
            de,
            "image",
            colormap="magma",
            contrast_limits=(0.0, float(max(np.percentile(de, 99.5), 1.0))),
            scale=tuple(pred.scale)[-2:],
            translate=tuple(pred.translate)[-2:],
            metadata={"napari_colorize": {"role": "delta_e2000", "pred": pred.name, "truth": truth.name}},
        )
    return {k: float(v) for k, v in metrics.items()}


def rgb_layer_to_gray(viewer: Any, layer: Any) -> Any:
    """Add ``<name> gray``: the lightness of an RGB layer as a uint8 gray layer (kept as is if present)."""
    from ..color import L2gray, rgb2L
    from ..io import to_uint8

    layer = viewer.layers[layer] if isinstance(layer, str) else layer
    data = np.asarray(layer.data)
    if data.shape[-1] == 4:
        data = data[..., :3]
    L = rgb2L(data)
    gray = to_uint8(L2gray(L))
    return _set_layer(
        viewer,
        f"{layer.name} gray",
        gray,
        "image",
        colormap="gray",
        scale=tuple(layer.scale),
        translate=tuple(layer.translate),
    )

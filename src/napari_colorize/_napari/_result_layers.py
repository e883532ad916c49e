"""The plugin's result layers: their names and marks, and adding or updating them in place.

A result is ``<input name><suffix>`` (:data:`OUTPUT_SUFFIXES`), marked by
``metadata["napari_colorize"]`` (:data:`META_KEY`); a rerun updates the layers of those names
in place, and the viewer's selection stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["OUTPUT_SUFFIXES", "META_KEY", "is_output"]


#: names of the output layers: "<input name><suffix>"
OUTPUT_SUFFIXES = {
    "L": " L",
    "a": " a",
    "b": " b",
    "rgb": " RGB",
    "tiles": " tiles",
    "confidence": " confidence",
}


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


#: the colormaps of the a and b layers: (negative, positive) ends, through gray
_AB_COLORS = {"a": ((0.0, 0.6, 0.3), (0.85, 0.1, 0.55)), "b": ((0.1, 0.3, 0.9), (0.95, 0.8, 0.1))}


def _set_lab_layers(
    viewer: Any,
    name: str,
    layers: dict[str, Any],
    *,
    ab_limit: float,
    metadata: Callable[[str], dict[str, Any]],
    **common: Any,
) -> list[Any]:
    """Add or update the result layers of ``name`` given in ``layers``, in the order L, a, b, rgb.

    L (gray, 0..100), a and b (diverging, within ``ab_limit``) are hidden; the RGB result
    is shown.  ``metadata(role)`` is each layer's metadata; ``common`` (scale, translate)
    goes to every layer.
    """
    out = []
    for role in ("L", "a", "b", "rgb"):
        if role not in layers:
            continue
        if role == "rgb":
            style: dict[str, Any] = {"rgb": True}
        elif role == "L":
            style = {"colormap": "gray", "contrast_limits": (0.0, 100.0), "visible": False}
        else:
            style = {
                "colormap": _diverging(f"colorize_{role}", *_AB_COLORS[role]),
                "contrast_limits": (-ab_limit, ab_limit),
                "visible": False,
            }
        layer_name = name + OUTPUT_SUFFIXES[role]
        out.append(
            _set_layer(viewer, layer_name, layers[role], "image", metadata=metadata(role), **style, **common)
        )
    return out


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
    out = _set_lab_layers(
        viewer,
        name,
        {"L": L, "a": a, "b": b, "rgb": rgb},
        ab_limit=lim,
        metadata=lambda role: {**meta, "role": role},
        **common,
    )
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

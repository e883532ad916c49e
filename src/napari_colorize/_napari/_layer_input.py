"""The input layers: their checks, a crop box, their data as the engine takes it, RGB to gray."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._result_layers import _set_layer

__all__ = ["check_gray_layer", "check_rgb_layer", "layer_box", "rgb_layer_to_gray"]


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

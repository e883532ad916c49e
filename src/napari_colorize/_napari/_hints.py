"""Color hints from napari layers: a Points layer whose face colors are the hint colors.

A point's position is mapped from the Points layer's data coordinates to the
gray Image layer's pixels through world coordinates (both layers' scale,
translate and affine count); its face color is the hint color and its size is
the hint's diameter.  On a stack, the point's leading coordinate is its plane.

The points travel to the engine as a small table, rows ``[plane,] y, x, r, g, b,
radius`` (see ``Hints.from_points``); :func:`hints_from_points_layer` gives the
same hints as a :class:`~napari_colorize.hints.Hints` for scripts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "DEFAULT_HINT_COLOR",
    "DEFAULT_HINT_RADIUS",
    "HINTS_SUFFIX",
    "add_hints_layer",
    "displayed_plane",
    "points_layer_table",
    "hints_from_points_layer",
    "is_hints_layer",
]

#: name of a hints layer: "<image name><suffix>"
HINTS_SUFFIX = " hints"
#: face color of new hint points
DEFAULT_HINT_COLOR = "#ff3030"
#: radius (image pixels) of new hint points: their size is twice this
DEFAULT_HINT_RADIUS = 3.0


def is_hints_layer(layer: Any) -> bool:
    """Whether ``layer`` is a Points layer (any Points layer can carry hints)."""
    from napari.layers import Points

    return isinstance(layer, Points)


def displayed_plane(viewer: Any, layer: Any) -> tuple[int, ...]:
    """The leading index of ``layer``'s plane that the viewer shows (``()`` for a 2D layer).

    The viewer's current position (``viewer.dims.point``, world coordinates) is
    mapped into the layer's data coordinates and rounded, within the layer's shape.
    """
    nlead = layer.ndim - 2
    if nlead <= 0:
        return ()
    pos = np.asarray(layer.world_to_data(np.asarray(viewer.dims.point, dtype=float)))[:nlead]
    shape = np.asarray(layer.data.shape[:nlead])
    return tuple(int(v) for v in np.clip(np.rint(pos), 0, shape - 1))


def _to_image_pixels(points: Any, image: Any) -> np.ndarray:
    """The points' positions in the image layer's data coordinates, (N, image.ndim)."""
    data = np.asarray(points.data, dtype=float).reshape(-1, points.ndim)
    out = np.empty((len(data), image.ndim))
    for i, p in enumerate(data):
        world = np.asarray(points.data_to_world(p), dtype=float)
        out[i] = np.asarray(image.world_to_data(world), dtype=float)
    return out


def _radius_in_pixels(points: Any, image: Any) -> np.ndarray:
    """The points' radii (half their size) in the image's pixels."""
    size = np.asarray(points.size, dtype=float)
    if size.ndim == 2:  # older napari: one size per dimension
        size = size[:, -2:].mean(axis=1)
    p_scale = float(np.mean(np.abs(np.asarray(points.scale, float)[-2:])))
    i_scale = float(np.mean(np.abs(np.asarray(image.scale, float)[-2:])))
    return size.reshape(-1) / 2.0 * p_scale / i_scale


def points_layer_table(points: Any, image: Any, *, plane: tuple[int, ...] | None = None) -> np.ndarray:
    """The hints of a Points layer as a table of rows ``[plane,] y, x, r, g, b, radius``.

    Parameters
    ----------
    points : napari.layers.Points
        Face color = hint color (RGBA 0..1; alpha ignored); size = the hint's diameter.
    image : napari.layers.Image
        The gray layer the hints are for (2D, or a stack with leading axes).
    plane : tuple of int, optional
        Only the hints on this plane of a stack (its leading index), as a 2D table
        (rows ``y, x, r, g, b, radius``).  A Points layer with fewer dimensions than
        the image puts all its points on this plane.

    Returns
    -------
    ndarray of float64, (N, 6) for a 2D image or a plane, (N, 7) for a stack
        For a stack, the plane column is the flat index of the point's leading
        coordinates (the stack's planes in C order).

    Raises
    ------
    InputError
        A point outside the image, or a point on a stack without a plane.
    """
    n = len(points.data)
    H, W = image.data.shape[-2:]
    lead_shape = tuple(image.data.shape[:-2])
    ncols = 6 if (plane is not None or not lead_shape) else 7
    if n == 0:
        return np.zeros((0, ncols))
    pos = _to_image_pixels(points, image)
    yx = np.rint(pos[:, -2:])
    colors = np.asarray(points.face_color, dtype=float)[:, :3]
    radius = _radius_in_pixels(points, image)
    outside = np.flatnonzero((yx[:, 0] < 0) | (yx[:, 0] >= H) | (yx[:, 1] < 0) | (yx[:, 1] >= W))
    if lead_shape and points.ndim < image.ndim and plane is None:
        raise InputError(
            f"the hints layer {points.name!r} has {points.ndim} dimensions but {image.name!r} is a stack "
            f"of {image.ndim}: add the hints in a Points layer with the stack's dimensions"
        )
    keep = np.ones(n, bool)
    lead = np.rint(pos[:, :-2]).astype(np.int64)
    if lead_shape:
        if plane is not None and points.ndim >= image.ndim:
            keep = np.all(lead == np.asarray(plane, dtype=np.int64), axis=1)
        elif plane is None:
            bad = np.flatnonzero(np.any((lead < 0) | (lead >= np.asarray(lead_shape)), axis=1))
            if bad.size:
                k = int(bad[0])
                raise InputError(
                    f"hint point {k} of layer {points.name!r} is on plane {tuple(lead[k])}, which the "
                    f"stack {image.name!r} of shape {lead_shape} does not have"
                )
    outside = [k for k in outside if keep[k]]
    if outside:
        k = int(outside[0])
        raise InputError(
            f"hint point {k} of layer {points.name!r} at (y, x) = ({yx[k, 0]:g}, {yx[k, 1]:g}) is outside "
            f"the image {image.name!r} ({H}x{W} pixels)"
        )
    cols = [yx, colors, radius[:, None]]
    if lead_shape and plane is None:
        flat = np.ravel_multi_index(tuple(lead.T), lead_shape)
        cols.insert(0, flat[:, None].astype(float))
    return np.concatenate(cols, axis=1)[keep]


def hints_from_points_layer(points: Any, image: Any, *, plane: tuple[int, ...] | None = None) -> Any:
    """The hints of a Points layer as a :class:`~napari_colorize.hints.Hints` over ``image``.

    See :func:`points_layer_table` for how points become hints.  With ``plane``, the
    hints cover that plane (H, W); else the image's (H, W) or (T, H, W).
    """
    from ..hints import Hints

    table = points_layer_table(points, image, plane=plane)
    H, W = image.data.shape[-2:]
    lead = tuple(image.data.shape[:-2])
    shape = (H, W) if plane is not None or not lead else (int(np.prod(lead)), H, W)
    return Hints.from_points(table, shape)


def add_hints_layer(
    viewer: Any,
    image: Any,
    *,
    color: Any = DEFAULT_HINT_COLOR,
    radius: float = DEFAULT_HINT_RADIUS,
) -> Any:
    """Add ``<image name> hints``, a Points layer ready to click hints on (or return the existing one).

    Parameters
    ----------
    viewer : napari.Viewer
    image : napari.layers.Image or str
        The gray layer the hints are for: the points share its dimensions, scale and translate.
    color : color
        The face color of new points (napari's own color control changes it,
        for the selected points and the next ones).
    radius : float
        The radius of new points in the image's pixels (their size is ``2 * radius``).

    Returns
    -------
    napari.layers.Points
        Selected, in "add" mode.
    """
    if isinstance(image, str):
        image = viewer.layers[image]
    name = image.name + HINTS_SUFFIX
    if name in viewer.layers and is_hints_layer(viewer.layers[name]):
        layer = viewer.layers[name]
    else:
        layer = viewer.add_points(
            np.zeros((0, image.ndim)),
            ndim=image.ndim,
            name=name,
            face_color=color,
            border_color="white",
            border_width=0.1,
            size=2.0 * float(radius),
            scale=tuple(image.scale),
            translate=tuple(image.translate),
            metadata={"napari_colorize": {"role": "hints", "source": image.name}},
        )
    layer.current_face_color = color
    layer.current_size = 2.0 * float(radius)
    viewer.layers.selection.active = layer
    layer.mode = "add"
    return layer

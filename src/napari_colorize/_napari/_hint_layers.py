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
    "color_points_from_layer",
    "hints_from_shapes_layer",
]

#: name of a hints layer: "<image name><suffix>"
HINTS_SUFFIX = " hints"
#: face color of new hint points
DEFAULT_HINT_COLOR = "#ff3030"
#: radius (image pixels) of new hint points: their size is twice this
DEFAULT_HINT_RADIUS = 3.0


def is_hints_layer(layer: Any) -> bool:
    """Whether ``layer`` can carry hints: a Points layer, or a Shapes layer that is not one of our outputs."""
    from napari.layers import Points, Shapes

    if isinstance(layer, Points):
        return True
    meta = getattr(layer, "metadata", None)
    return isinstance(layer, Shapes) and not (isinstance(meta, dict) and "napari_colorize" in meta)


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


def color_points_from_layer(points: Any, reference: Any, indices: Any = None) -> np.ndarray:
    """Set the face color of points to the color of an RGB layer at their positions.

    Parameters
    ----------
    points : napari.layers.Points
    reference : napari.layers.Image
        An RGB layer (a color reference of the same scene); positions map through world coordinates.
    indices : sequence of int, optional
        The points to recolor (negative indices count from the end); all by default.
        Points outside the reference keep their color.

    Returns
    -------
    ndarray (n, 3)
        The colors taken (0..1), NaN for points outside the reference.
    """
    from ..color import to_float01

    if not getattr(reference, "rgb", False):
        raise InputError(f"the color reference {reference.name!r} must be an RGB Image layer")
    n = len(points.data)
    idx = np.arange(n) if indices is None else np.asarray(list(indices), dtype=np.int64) % max(n, 1)
    data = reference.data
    shape = data.shape[:-1]  # (..., H, W)
    taken = np.full((len(idx), 3), np.nan)
    if n == 0 or len(idx) == 0:
        return taken
    fc = np.asarray(points.face_color, dtype=float).copy()
    for j, i in enumerate(idx):
        world = np.asarray(points.data_to_world(np.asarray(points.data[i], float)), float)
        pos = np.rint(np.asarray(reference.world_to_data(world), float)).astype(np.int64)
        if np.any(pos < 0) or np.any(pos >= np.asarray(shape)):
            continue
        pixel = np.asarray(data[tuple(pos)])[:3]
        taken[j] = to_float01(pixel.reshape(1, 1, 3))[0, 0]
        fc[i, :3] = taken[j]
    points.face_color = fc
    return taken


def hints_from_shapes_layer(shapes: Any, image: Any, *, plane: tuple[int, ...] | None = None) -> Any:
    """Hints from a Shapes layer: each filled shape paints its face color over its area.

    Shapes with a transparent face, and lines and paths, are left out.  Vertices are
    mapped into ``image``'s pixels through world coordinates; on a stack, a shape's
    plane is its first vertex's leading coordinate.

    Parameters
    ----------
    shapes : napari.layers.Shapes
    image : napari.layers.Image
        The gray layer the hints are for.
    plane : tuple of int, optional
        Only the shapes on this plane of a stack, as (H, W) hints.

    Returns
    -------
    Hints
        Over (H, W) for a 2D image or a plane, (T, H, W) for a stack with one leading axis.
    """
    from skimage.draw import ellipse, polygon

    from ..color import rgb2lab
    from ..hints import Hints

    H, W = image.data.shape[-2:]
    lead_shape = tuple(image.data.shape[:-2])
    flat = plane is not None or not lead_shape
    if not flat and len(lead_shape) > 1:
        raise InputError(f"hints on a stack of shape {lead_shape} need a single stack axis")
    shape = (H, W) if flat else (lead_shape[0], H, W)
    ab = np.zeros(shape + (2,), np.float32)
    mask = np.zeros(shape, np.float32)
    colors = np.asarray(shapes.face_color, dtype=float)
    for i, (verts, kind) in enumerate(zip(shapes.data, shapes.shape_type)):
        if kind in ("line", "path") or colors[i, 3] == 0:
            continue
        pts = np.array(
            [
                image.world_to_data(shapes.data_to_world(np.asarray(v, float)))
                for v in np.asarray(verts, float)
            ]
        )
        lead = tuple(int(v) for v in np.rint(pts[0, :-2]))
        if lead_shape and shapes.ndim >= image.ndim:
            if plane is not None and lead != tuple(plane):
                continue
            if plane is None and not all(0 <= v < n for v, n in zip(lead, lead_shape)):
                raise InputError(f"shape {i} of layer {shapes.name!r} is on plane {lead}, outside the stack")
        elif lead_shape and plane is None:
            raise InputError(
                f"the Shapes layer {shapes.name!r} has {shapes.ndim} dimensions but {image.name!r} is a stack"
            )
        yx = pts[:, -2:]
        if kind == "ellipse":
            (y0, x0), (y1, x1) = yx.min(0), yx.max(0)
            rr, cc = ellipse((y0 + y1) / 2, (x0 + x1) / 2, (y1 - y0) / 2, (x1 - x0) / 2, shape=(H, W))
        else:
            rr, cc = polygon(yx[:, 0], yx[:, 1], shape=(H, W))
        color_ab = rgb2lab(colors[i, :3].astype(np.float32).reshape(1, 1, 3))[0, 0, 1:]
        at = (rr, cc) if flat else (np.full(len(rr), lead[0]), rr, cc)
        ab[at] = color_ab
        mask[at] = 1.0
    return Hints(ab, mask)

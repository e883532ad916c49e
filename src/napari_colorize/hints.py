"""Color hints: a few pixels whose chroma the user knows, and their fusion with any method's output.

A :class:`Hints` holds the hinted pixels of an image of shape (..., H, W): their coordinates, ab in
Lab units and mask weight; its dense ``ab`` (..., H, W, 2) and ``mask`` (..., H, W) are made on demand,
so that hints over a huge image cost what the hinted pixels cost.  A hint's color contributes only
its ab: L always comes from the image.  Hints are made from points ``(y, x, color[, radius])``
(``(plane, y, x, ...)`` on a stack), from a CSV file (``y,x,r,g,b`` with optional ``radius`` and
``plane`` columns), from a marked image (Levin et al.'s format: a copy of the gray image with some
pixels painted) or from their pixels (:meth:`Hints.from_pixels`).

:func:`fuse_hints` gives hints to a method that has no hint input: the model's prediction is a soft
data term, the hints hard constraints, and the corrections spread along L's edges with the solver of
:mod:`napari_colorize.edge_aware_solver`.  :func:`smooth_stack` (from the same module) smooths any method's
ab along a stack where L does not change.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .edge_aware_solver import PropagationOptions, propagate, smooth_stack
from .errors import InputError
from .hint_painting import (
    CSV_COLUMNS,
    HINT_EDGE_TOLERANCE,
    PointTable,
    check_hint_radii,
    marked_pixels,
    max_hint_radius,
    paint_discs,
    point_rows,
    read_hints_csv,
    write_hints_csv,
)

__all__ = [
    "Hints",
    "is_dense_hints",
    "fuse_hints",
    "smooth_stack",
    "downscale_points",
    "CSV_COLUMNS",
    "HINT_EDGE_TOLERANCE",
    "max_hint_radius",
    "check_hint_radii",
    "PointTable",
]

def is_dense_hints(hints: Any) -> bool:
    """Whether ``hints`` is a :class:`Hints`, or any object with ``ab`` and ``mask`` arrays.

    A Hints is recognised by its type, so that asking never makes its dense arrays (``hasattr``
    on ``mask`` would build a whole image's mask).
    """
    return isinstance(hints, Hints) or (hasattr(hints, "ab") and hasattr(hints, "mask"))


class Hints:
    """Color hints over an image or a stack: the hinted pixels of an image of some shape.

    A Hints holds the shape (..., H, W) it covers and, for each hinted pixel, its integer
    coordinates, its ab and its mask weight, so it costs what its hinted pixels cost (20 bytes
    each on a plane), whatever the image's size, and pickles small.  The dense ``ab`` and
    ``mask`` a method reads are made on demand (and kept); take them of a tile's :meth:`box`,
    not of a whole huge image.

    Parameters
    ----------
    ab : ndarray, (..., H, W, 2)
        Hint chroma in Lab units (read only where ``mask`` is nonzero).
    mask : ndarray, (..., H, W)
        1 where a hint is, 0 elsewhere (values in 0..1).

    See Also
    --------
    from_pixels : the same from the hinted pixels alone.
    """

    __slots__ = ("_shape", "_coords", "_ab", "_mask", "_dense")

    def __init__(self, ab: Any, mask: Any) -> None:
        ab, mask = np.asarray(ab), np.asarray(mask)
        if ab.ndim < 3 or ab.shape[-1] != 2:
            raise InputError(f"hint ab must have shape (..., H, W, 2), got {ab.shape}")
        if mask.shape != ab.shape[:-1]:
            raise InputError(f"hint mask shape {mask.shape} does not match ab shape {ab.shape}")
        for name, arr in (("ab", ab), ("mask", mask)):
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise InputError(f"hint {name} must be numeric, got dtype {arr.dtype}")
        ab, mask = ab.astype(np.float32, copy=False), mask.astype(np.float32, copy=False)
        if not (np.all(np.isfinite(ab)) and np.all(np.isfinite(mask))):
            raise InputError("hints contain NaN or infinite values")
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise InputError(f"hint mask values must be in 0..1, got {mask.min()}..{mask.max()}")
        idx = np.nonzero(mask > 0)
        coords = np.stack(idx, axis=1).astype(np.int64).reshape(-1, mask.ndim)
        self._set(mask.shape, coords, ab[idx], mask[idx])

    def _set(self, shape: tuple[int, ...], coords: np.ndarray, ab: np.ndarray, mask: np.ndarray) -> None:
        self._shape = tuple(int(s) for s in shape)
        self._coords = np.ascontiguousarray(coords, np.int64).reshape(-1, len(self._shape))
        self._ab = np.ascontiguousarray(ab, np.float32).reshape(-1, 2)
        self._mask = np.ascontiguousarray(mask, np.float32).reshape(-1)
        self._dense: tuple[np.ndarray, np.ndarray] | None = None
        for a in (self._coords, self._ab, self._mask):
            a.flags.writeable = False

    @classmethod
    def _of_pixels(
        cls, shape: tuple[int, ...], coords: np.ndarray, ab: np.ndarray, mask: np.ndarray
    ) -> Hints:
        """Hints of pixels already checked, unique, in C order and with ``mask`` > 0."""
        h = cls.__new__(cls)
        h._set(shape, coords, ab, mask)
        return h

    @classmethod
    def from_pixels(cls, shape: Sequence[int], coords: Any, ab: Any, mask: Any = None) -> Hints:
        """Hints from their pixels: no dense array of the image's size is made.

        Parameters
        ----------
        shape : tuple of int
            The (..., H, W) the hints cover.
        coords : array of int, (N, len(shape))
            Index of each hinted pixel.  A pixel given twice keeps its last ab and weight.
        ab : array, (N, 2)
            Hint chroma in Lab units.
        mask : array, (N,), optional
            Weight of each hint in 0..1 (1 by default); pixels of weight 0 are no hint.

        Raises
        ------
        InputError
            For a shape of fewer than 2 axes, arrays of the wrong size, NaN, a weight out of
            0..1 or a pixel outside the image.
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2 or min(shape) < 0:
            raise InputError(f"hint ab must have shape (..., H, W, 2), got {shape + (2,)}")
        coords = np.asarray(coords)
        if coords.size == 0:
            coords = coords.reshape(0, len(shape))
        if coords.ndim != 2 or coords.shape[1] != len(shape) or not np.issubdtype(coords.dtype, np.integer):
            raise InputError(
                f"hint coords must be integers (N, {len(shape)}) for the shape {shape}, "
                f"got {coords.dtype} {coords.shape}"
            )
        n = len(coords)
        ab = np.asarray(ab, np.float32).reshape(-1, 2) if np.size(ab) else np.zeros((0, 2), np.float32)
        mask = np.ones(n, np.float32) if mask is None else np.asarray(mask, np.float32).reshape(-1)
        if len(ab) != n or len(mask) != n:
            raise InputError(f"{n} hint coords need {n} ab and weights, got {len(ab)} and {len(mask)}")
        if not (np.all(np.isfinite(ab)) and np.all(np.isfinite(mask))):
            raise InputError("hints contain NaN or infinite values")
        if n and (mask.min() < 0 or mask.max() > 1):
            raise InputError(f"hint mask values must be in 0..1, got {mask.min()}..{mask.max()}")
        if n and (np.any(coords < 0) or np.any(coords >= np.asarray(shape))):
            bad = int(np.flatnonzero(np.any((coords < 0) | (coords >= np.asarray(shape)), axis=1))[0])
            raise InputError(
                f"hint pixel {tuple(int(v) for v in coords[bad])} is outside the image of shape {shape}"
            )
        keep = mask > 0
        coords, ab, mask = coords[keep].astype(np.int64), ab[keep], mask[keep]
        flat = np.ravel_multi_index(tuple(coords.T), shape) if len(coords) else np.zeros(0, np.int64)
        # the last of each pixel, in C order (the order of np.nonzero on the dense mask)
        _, first = np.unique(flat[::-1], return_index=True)
        pick = len(flat) - 1 - first
        return cls._of_pixels(shape, coords[pick], ab[pick], mask[pick])

    # -- properties ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the image the hints cover: (H, W) or (T, H, W)."""
        return self._shape

    @property
    def coords(self) -> np.ndarray:
        """Index of each hinted pixel, (N, len(shape)) int64, in C order (read only)."""
        return self._coords

    @property
    def pixel_ab(self) -> np.ndarray:
        """ab of each hinted pixel, (N, 2) float32 in Lab units (read only)."""
        return self._ab

    @property
    def pixel_mask(self) -> np.ndarray:
        """Weight of each hinted pixel, (N,) float32 in (0, 1] (read only)."""
        return self._mask

    @property
    def nbytes(self) -> int:
        """Bytes held by the hinted pixels (the dense arrays, once made, are not counted)."""
        return int(self._coords.nbytes + self._ab.nbytes + self._mask.nbytes)

    def _dense_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._dense is None:
            ab = np.zeros(self._shape + (2,), np.float32)
            mask = np.zeros(self._shape, np.float32)
            idx = tuple(self._coords.T)
            ab[idx] = self._ab
            mask[idx] = self._mask
            ab.flags.writeable = mask.flags.writeable = False
            self._dense = (ab, mask)
        return self._dense

    @property
    def ab(self) -> np.ndarray:
        """Dense hint chroma (..., H, W, 2) float32, 0 where no hint is: made on first use (read only)."""
        return self._dense_arrays()[0]

    @property
    def mask(self) -> np.ndarray:
        """Dense mask (..., H, W) float32: the hints' weights, 0 elsewhere; made on first use (read only)."""
        return self._dense_arrays()[1]

    @property
    def empty(self) -> bool:
        """Whether there is no hint at all."""
        return len(self._mask) == 0

    def __len__(self) -> int:
        """Number of hinted pixels."""
        return len(self._mask)

    def __repr__(self) -> str:
        return f"Hints(shape={self.shape}, pixels={len(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # the pixels only: a pickled Hints stays small (the dense arrays are made again on demand)
        return (Hints._of_pixels, (self._shape, self._coords, self._ab, self._mask))

    @classmethod
    def none(cls, shape: Sequence[int]) -> Hints:
        """No hints over an image of ``shape``."""
        shape = tuple(int(s) for s in shape)
        return cls.from_pixels(shape, np.zeros((0, len(shape)), np.int64), np.zeros((0, 2), np.float32))

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_points(
        cls,
        points: Any,
        shape: Sequence[int],
        *,
        radius: float = 0,
        L: Any = None,
        edge_tolerance: float = HINT_EDGE_TOLERANCE,
    ) -> Hints:
        """Hints from points.

        Parameters
        ----------
        points : array (N, 5|6) or (N, 6|7), or a sequence of tuples
            On a plane (``shape`` = (H, W)): rows ``y, x, r, g, b[, radius]`` or tuples
            ``(y, x, color[, radius])``; on a stack (``shape`` = (T, H, W)) the same preceded by the
            plane index.  Colors are sRGB: 0..255 if any component exceeds 1, else 0..1.
            Coordinates are rounded to the nearest pixel.
        shape : tuple of int
            (H, W) or (T, H, W) of the image.
        radius : float
            Radius in pixels of the points that give none (0: a single pixel).
        L : array (numpy or dask) of ``shape``, optional
            The image's lightness (0..100).  When given, a disc keeps only its pixels whose L is
            within ``edge_tolerance`` of the L at its centre (the centre always stays): a hint
            stops at the edges of L.  Without it, discs are painted whole.
        edge_tolerance : float
            See ``L`` (:data:`HINT_EDGE_TOLERANCE` by default; ``inf`` paints whole discs).

        Raises
        ------
        InputError
            For a malformed point, a color out of range, or a point outside the image.
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise InputError(f"hint shape must be (H, W) or (T, H, W), got {shape}")
        nlead = len(shape) - 2 + 2  # plane?, y, x
        rows = point_rows(points, nlead, float(radius))
        if rows.shape[1] not in (nlead + 3, nlead + 4):
            raise InputError(
                f"each point needs {nlead} coordinates, a color (3 values) and an optional radius; "
                f"got {rows.shape[1]} values per point"
            )
        if not np.all(np.isfinite(rows)):
            raise InputError("hint points contain NaN or infinite values")
        colors = rows[:, nlead : nlead + 3]
        if colors.size and (colors.min() < 0 or colors.max() > 255):
            raise InputError(f"hint colors must be in 0..255 (or 0..1), got {colors.min()}..{colors.max()}")
        scale = 255.0 if colors.size and colors.max() > 1 else 1.0
        radii = rows[:, nlead + 3] if rows.shape[1] == nlead + 4 else np.full(len(rows), float(radius))
        if np.any(radii < 0):
            raise InputError(f"hint radius must be >= 0, got {radii.min()}")
        coords = np.rint(rows[:, :nlead]).astype(np.int64)
        pixels, ab = paint_discs(shape, coords, colors / scale, radii, L=L, edge_tolerance=edge_tolerance)
        return cls.from_pixels(shape, pixels, ab)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        *,
        L: Any = None,
        edge_tolerance: float = HINT_EDGE_TOLERANCE,
    ) -> Hints:
        """Read hints from a CSV file with a header ``y,x,r,g,b`` (+ optional ``radius``, ``plane``).

        ``r, g, b`` are sRGB 0..255; ``radius`` is in pixels (default 0, one pixel); ``plane``, the
        stack plane, is required when ``shape`` is (T, H, W).  ``L`` and ``edge_tolerance`` as in
        :meth:`from_points` (a wide hint stops at the edges of L).

        Raises
        ------
        InputError
            A missing file, a wrong header, a non-numeric or out-of-range value (its row and column
            named), or a hint outside the image.
        """
        path = Path(path)
        shape = tuple(int(s) for s in shape)
        coords, rgb, radii = read_hints_csv(path, shape)
        try:
            pixels, ab = paint_discs(shape, coords, rgb, radii, L=L, edge_tolerance=edge_tolerance)
        except InputError as e:
            raise InputError(f"{path}: {e}") from None
        return cls.from_pixels(shape, pixels, ab)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the hints as CSV (one row per hinted pixel), atomically; :meth:`from_csv` reads it back.

        The r, g, b written are a color of the hint's ab (its lightness does not matter), with
        decimals so that the ab round-trips.
        """
        return write_hints_csv(Path(path), self.shape, self.coords, self.pixel_ab)

    @classmethod
    def from_marked_image(cls, marked: np.ndarray, gray: np.ndarray, *, threshold: float = 0.01) -> Hints:
        """Hints from Levin et al.'s format: ``marked`` equals ``gray`` except at the painted pixels.

        Parameters
        ----------
        marked : ndarray, (H, W, 3|4)
            The gray image with colored scribbles (uint8, uint16 or float 0..1).
        gray : ndarray, (H, W) or (H, W, 3|4)
            The gray image itself.
        threshold : float
            A pixel is a hint where a channel differs from the gray by more than this (0..1 units).
        """
        shape, coords, ab = marked_pixels(marked, gray, threshold=threshold)
        return cls._of_pixels(shape, coords, ab, np.ones(len(coords), np.float32))

    # -- geometry --------------------------------------------------------------------------------
    def box(self, box: Sequence[int]) -> Hints:
        """The hints inside ``box`` (y0, x0, y1, x1) of the last two axes, as Hints over the box.

        Nothing is checked (the box may even reach past the image: no hint is there); see
        :meth:`crop` for a checked one.  Its dense ``ab`` and ``mask`` are the box's crop of
        the whole image's.
        """
        y0, x0, y1, x1 = (int(v) for v in box)
        y, x = self._coords[:, -2], self._coords[:, -1]
        sel = (y >= y0) & (y < y1) & (x >= x0) & (x < x1)
        shift = np.asarray([0] * (len(self._shape) - 2) + [y0, x0], np.int64)
        size = self._shape[:-2] + (y1 - y0, x1 - x0)
        return Hints._of_pixels(size, self._coords[sel] - shift, self._ab[sel], self._mask[sel])

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> Hints:
        """The hints inside rows ``y0:y1`` and columns ``x0:x1`` (of every plane)."""
        H, W = self.shape[-2:]
        if not (0 <= y0 < y1 <= H and 0 <= x0 < x1 <= W):
            raise InputError(f"crop ({y0}:{y1}, {x0}:{x1}) is empty or outside the hints' {H}x{W}")
        return self.box((y0, x0, y1, x1))

    def resize(self, shape: Sequence[int], *, factor: Sequence[int] | None = None) -> Hints:
        """Downscale to ``shape`` (h, w): mask-weighted mean ab per block, mask = the block's max.

        Only the hinted pixels are pooled (no dense array of either size is made).  The blocks
        are :func:`~napari_colorize.edge_aware_solver.block_mean`'s (pixel ``i`` of ``n`` goes to
        block ``(i * m) // n``), or with ``factor`` (fy, fx) blocks of ``factor`` pixels
        (pixel ``i`` to ``i // f``) trimmed to ``shape``, the layout of a coarse image
        downscaled by whole factors (the engine's global anchor).
        """
        shape = tuple(int(s) for s in shape)[-2:]
        if len(shape) != 2:
            raise InputError(f"resize needs a shape (h, w), got {shape}")
        (H, W), (h, w) = self.shape[-2:], shape
        y, x = self._coords[:, -2], self._coords[:, -1]
        if factor is None:
            if shape == (H, W):
                return self
            if not (1 <= h <= H and 1 <= w <= W):
                raise InputError(f"can only downscale ({H}, {W}) to a smaller shape, got {shape}")
            by, bx = (y * h) // H, (x * w) // W  # edge_aware_solver._block_index
        else:
            fy, fx = (int(f) for f in factor)
            by, bx = y // fy, x // fx
        sel = (by < h) & (bx < w)
        out = self.shape[:-2] + shape
        block = np.concatenate([self._coords[sel, :-2], by[sel, None], bx[sel, None]], axis=1)
        flat = np.ravel_multi_index(tuple(block.T), out) if sel.any() else np.zeros(0, np.int64)
        keys, inv = np.unique(flat, return_inverse=True)
        inv = inv.reshape(-1)
        wgt = self._mask[sel].astype(np.float64)
        wsum = np.bincount(inv, wgt, len(keys))
        ab = np.stack([np.bincount(inv, wgt * self._ab[sel, c], len(keys)) for c in range(2)], axis=-1)
        top = np.zeros(len(keys), np.float32)
        np.maximum.at(top, inv, self._mask[sel])
        coords = np.stack(np.unravel_index(keys, out), axis=1).astype(np.int64).reshape(-1, len(out))
        return Hints._of_pixels(out, coords, ab / np.maximum(wsum, 1e-12)[:, None], top)

    def plane(self, i: int | tuple[int, ...]) -> Hints:
        """The hints of plane ``i`` of a stack (a tuple: the plane at those leading indices)."""
        if isinstance(i, tuple):
            k = len(i)
            if k == 0:
                return self
            sel = np.all(self._coords[:, :k] == np.asarray(i, np.int64), axis=1)
            return Hints._of_pixels(self._shape[k:], self._coords[sel, k:], self._ab[sel], self._mask[sel])
        if len(self.shape) != 3:
            raise InputError(f"these hints cover a single plane {self.shape}, not a stack")
        T = self.shape[0]
        if not -T <= int(i) < T:
            raise InputError(f"plane {i} is not in the stack of {T} planes")
        return self.plane((int(i) % T,))

    def check_shape(self, shape: Sequence[int]) -> Hints:
        """Return self if the hints cover an image of ``shape``, else raise a clear InputError."""
        shape = tuple(int(s) for s in shape)
        if self.shape != shape:
            raise InputError(f"the hints cover shape {self.shape} but the image has shape {shape}")
        return self


def downscale_points(points: Any, shape: Sequence[int], new_shape: Sequence[int]) -> np.ndarray:
    """Move a table of hint points from an image of ``shape`` onto its downscaled grid ``new_shape``.

    The grid is :meth:`Hints.resize`'s (and :func:`~napari_colorize.edge_aware_solver.block_mean`'s):
    each point goes to the block that holds its pixel, and its radius shrinks by the mean of the
    two scale factors, so that ``Hints.from_points(downscale_points(p, shape, small), small)``
    marks the blocks that ``Hints.from_points(p, shape).resize(small)`` marks (the same ones for
    single-pixel hints, a subset of them for discs).

    Parameters
    ----------
    points : array (N, 5|6) or (N, 6|7), or a sequence of tuples
        Rows ``[plane,] y, x, r, g, b[, radius]`` as :meth:`Hints.from_points` takes them.
    shape : (H, W) or (T, H, W)
        The image the points are on.
    new_shape : (h, w)
        The downscaled plane, at most (H, W).

    Returns
    -------
    ndarray of float64, (N, same columns)
        Colors unchanged; rows without a radius keep none (a single pixel).
    """
    shape = tuple(int(s) for s in shape)
    (H, W), (h, w) = shape[-2:], tuple(int(s) for s in new_shape)[-2:]
    if len(shape) not in (2, 3) or not (1 <= h <= H and 1 <= w <= W):
        raise InputError(
            f"can only move hints from a shape (H, W) or (T, H, W) to a smaller (h, w), "
            f"got {shape} to {tuple(new_shape)}"
        )
    nlead = len(shape)
    rows = np.array(point_rows(points, nlead, 0.0), dtype=np.float64, copy=True)
    if len(rows) == 0:
        return rows
    y, x = np.rint(rows[:, nlead - 2]).astype(np.int64), np.rint(rows[:, nlead - 1]).astype(np.int64)
    rows[:, nlead - 2] = (y * h) // H  # the block of the pixel (edge_aware_solver._block_index)
    rows[:, nlead - 1] = (x * w) // W
    if rows.shape[1] == nlead + 4:
        rows[:, nlead + 3] *= (h / H + w / W) / 2
    return rows


def fuse_hints(
    L: np.ndarray,
    ab_model: np.ndarray,
    hints: Hints | None,
    *,
    model_weight: float = 1e-3,
    options: PropagationOptions | None = None,
) -> np.ndarray:
    """Correct a model's ab with hints, spreading each correction along L's edges.

    Minimises ``d' Lap d + model_weight * |d|**2`` for the correction ``d = ab - ab_model`` with
    ``ab = hint`` at the hints: the model's prediction is a soft data term and the hints hard
    constraints.  Corrections fade with distance and stop at L's edges, so the model's own colors
    survive away from the hints.

    Parameters
    ----------
    L : ndarray, (H, W) or (T, H, W)
        Lightness, 0..100.
    ab_model : ndarray, L.shape + (2,)
        The model's prediction.
    hints : Hints or None
        Hints over ``L.shape``.  None or empty hints return ``ab_model`` unchanged.
    model_weight : float
        Pull towards the model's output per pixel (larger: more local corrections; a correction
        fades over about ``1 / sqrt(model_weight)`` pixels of flat L).
    options : PropagationOptions, optional
        Affinity and solver options.

    Returns
    -------
    ndarray of float32, ab_model's shape
    """
    ab_model = np.asarray(ab_model, dtype=np.float32)
    if hints is None or hints.empty:
        return ab_model
    shape = np.shape(L)
    hints.check_shape(shape)
    if ab_model.shape != tuple(shape) + (2,):
        raise InputError(f"ab_model shape {ab_model.shape} does not match L {shape} + (2,)")
    delta = propagate(L, hints.ab - ab_model, hints.mask, options=options, pixel_weight=model_weight)
    return ab_model + delta

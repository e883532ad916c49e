"""Color hints: a few pixels whose chroma the user knows, and their fusion with any method's output.

A :class:`Hints` holds ``ab`` (..., H, W, 2) in Lab units and a ``mask`` (..., H, W), 1 where a hint
is.  A hint's color contributes only its ab: L always comes from the image.  Hints are made from
points ``(y, x, color[, radius])`` (``(plane, y, x, ...)`` on a stack), from a CSV file
(``y,x,r,g,b`` with optional ``radius`` and ``plane`` columns) or from a marked image (Levin et al.'s
format: a copy of the gray image with some pixels painted).

:func:`fuse_hints` gives hints to a method that has no hint input: the model's prediction is a soft
data term, the hints hard constraints, and the corrections spread along L's edges with the solver of
:mod:`napari_colorize.propagation`.  :func:`smooth_stack` (from the same module) smooths any method's
ab along a stack where L does not change.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from .errors import InputError
from .propagation import PropagationOptions, _block_max, block_mean, propagate, smooth_stack

if TYPE_CHECKING:
    import dask.array as da

__all__ = [
    "Hints",
    "fuse_hints",
    "smooth_stack",
    "downscale_points",
    "CSV_COLUMNS",
    "HINT_EDGE_TOLERANCE",
    "max_hint_radius",
    "check_hint_radii",
    "PointTable",
]

#: Hint points as :meth:`Hints.from_points` takes them: a table (N, columns) of rows
#: ``[plane,] y, x, r, g, b[, radius]``, or a sequence of rows, each a sequence of numbers or
#: tuples ``([plane,] y, x, color[, radius])`` whose color is a sequence of 3 numbers.
PointTable: TypeAlias = "np.ndarray | Sequence[Sequence[float | Sequence[float]]]"

#: A hint wider than a pixel (``radius`` > 0) paints only the pixels of its disc whose lightness is
#: within this many L* units of the lightness at its centre, when the image's L is known: like a
#: brush that stops at edges.  A disc of one color across an edge would otherwise give the other
#: side a color measured on this side (on 6 bundled photos with 20 hints at radius 3, mean
#: CIEDE2000 5.61 for ``propagate`` with whole discs, 5.51 with this tolerance; radius 1: 5.55).
HINT_EDGE_TOLERANCE = 5.0

#: Required CSV columns, then the optional ones.
CSV_COLUMNS = ("y", "x", "r", "g", "b")
_CSV_OPTIONAL = ("radius", "plane")


def _colors2ab(rgb: np.ndarray) -> np.ndarray:
    """sRGB colors (N, 3) in 0..1 to their ab (N, 2) float32."""
    from .color import rgb2lab

    if len(rgb) == 0:
        return np.zeros((0, 2), np.float32)
    return rgb2lab(np.asarray(rgb, np.float32).reshape(-1, 1, 3))[:, 0, 1:].astype(np.float32)


def _ab2colors(ab: np.ndarray) -> np.ndarray:
    """ab (N, 2) to sRGB (N, 3) 0..255 floats whose ab is ``ab`` (the lightness is chosen in gamut)."""
    from .color import lab2rgb, rgb2lab

    ab = np.asarray(ab, np.float32).reshape(-1, 2)
    if len(ab) == 0:
        return np.zeros((0, 3), np.float32)
    best = np.zeros((len(ab), 3), np.float32)
    best_err = np.full(len(ab), np.inf, np.float32)
    for lum in (50.0, 60.0, 40.0, 70.0, 30.0, 80.0, 20.0, 90.0, 10.0):
        lab = np.concatenate([np.full((len(ab), 1), lum, np.float32), ab], axis=1)[:, None]
        rgb = lab2rgb(lab)
        err = np.abs(rgb2lab(rgb)[:, 0, 1:] - ab).max(axis=1)
        better = err < best_err - 1e-4
        best[better], best_err[better] = rgb[better, 0], err[better]
    return best * 255.0


def _same_lightness(
    L: np.ndarray | da.Array, centre: np.ndarray, y: np.ndarray, x: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """The disc pixels ``(y, x)`` whose L is within ``tolerance`` of the L at ``centre``.

    ``centre`` is ``([plane,] y, x)``; only the disc's bounding box of ``L`` is read, so ``L``
    may be a dask array of any size.
    """
    y0, y1, x0, x1 = int(y.min()), int(y.max()) + 1, int(x.min()), int(x.max()) + 1
    window = np.asarray(L[tuple(int(c) for c in centre[:-2]) + (slice(y0, y1), slice(x0, x1))], np.float32)
    ref = window[int(centre[-2]) - y0, int(centre[-1]) - x0]
    keep = np.abs(window[y - y0, x - x0] - ref) <= tolerance
    return y[keep], x[keep]


def max_hint_radius(shape: Sequence[int]) -> float:
    """The largest hint radius over an image of ``shape`` (..., H, W): its diagonal, in pixels.

    A disc of that radius around any pixel already covers the whole image.
    """
    return float(np.hypot(shape[-2], shape[-1]))


def _disc_in_image(cy: int, cx: int, radius: float, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels (y, x) of the disc of ``radius`` around (cy, cx) that lie in an h x w image.

    Only the disc's bounding box inside the image is looked at, so the cost follows the pixels
    covered, not ``radius**2``.
    """
    r = int(np.floor(radius))
    y0, y1 = max(0, cy - r), min(h, cy + r + 1)
    x0, x1 = max(0, cx - r), min(w, cx + r + 1)
    dy = np.arange(y0, y1, dtype=np.int64)[:, None] - cy
    dx = np.arange(x0, x1, dtype=np.int64)[None, :] - cx
    keep = dy**2 + dx**2 <= radius**2 + 1e-9
    ys, xs = np.nonzero(keep)
    return ys + y0, xs + x0


def check_hint_radii(radii: np.ndarray | Sequence[float], shape: Sequence[int]) -> None:
    """Raise :class:`InputError` for a negative hint radius or one above :func:`max_hint_radius`."""
    radii = np.asarray(radii, np.float64)
    if not radii.size:
        return
    if not np.all(np.isfinite(radii)) or radii.min() < 0:
        bad = radii[~np.isfinite(radii) | (radii < 0)][0]
        raise InputError(f"hint radius must be a number >= 0, got {bad:g}")
    top = max_hint_radius(shape)
    if radii.max() > top:
        raise InputError(
            f"hint radius {radii.max():g} px is larger than the image ({shape[-2]} x {shape[-1]} px, "
            f"diagonal {top:.0f} px); use a radius up to {top:.0f}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class Hints:
    """Color hints over an image or a stack.

    Parameters
    ----------
    ab : ndarray, (..., H, W, 2)
        Hint chroma in Lab units (read only where ``mask`` is nonzero).
    mask : ndarray, (..., H, W)
        1 where a hint is, 0 elsewhere (values in 0..1).
    """

    ab: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        ab, mask = np.asarray(self.ab), np.asarray(self.mask)
        if ab.ndim < 3 or ab.shape[-1] != 2:
            raise InputError(f"hint ab must have shape (..., H, W, 2), got {ab.shape}")
        if mask.shape != ab.shape[:-1]:
            raise InputError(f"hint mask shape {mask.shape} does not match ab shape {ab.shape}")
        for name, arr in (("ab", ab), ("mask", mask)):
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise InputError(f"hint {name} must be numeric, got dtype {arr.dtype}")
        ab, mask = ab.astype(np.float32), mask.astype(np.float32)
        if not (np.all(np.isfinite(ab)) and np.all(np.isfinite(mask))):
            raise InputError("hints contain NaN or infinite values")
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise InputError(f"hint mask values must be in 0..1, got {mask.min()}..{mask.max()}")
        object.__setattr__(self, "ab", ab)
        object.__setattr__(self, "mask", mask)

    # -- properties ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the image the hints cover: (H, W) or (T, H, W)."""
        return self.mask.shape

    @property
    def empty(self) -> bool:
        """Whether there is no hint at all."""
        return not bool(np.any(self.mask > 0))

    def __len__(self) -> int:
        """Number of hinted pixels."""
        return int(np.count_nonzero(self.mask > 0))

    def __repr__(self) -> str:
        return f"Hints(shape={self.shape}, pixels={len(self)})"

    @classmethod
    def none(cls, shape: Sequence[int]) -> Hints:
        """No hints over an image of ``shape``."""
        shape = tuple(int(s) for s in shape)
        return cls(np.zeros(shape + (2,), np.float32), np.zeros(shape, np.float32))

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_points(
        cls,
        points: PointTable,
        shape: Sequence[int],
        *,
        radius: float = 0,
        L: np.ndarray | da.Array | None = None,
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
        rows = cls._point_rows(points, nlead, float(radius))
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
        return cls._paint(shape, coords, colors / scale, radii, L=L, edge_tolerance=edge_tolerance)

    @staticmethod
    def _point_rows(points: PointTable, nlead: int, radius: float) -> np.ndarray:
        rows: np.ndarray | list[list[Any]]
        if isinstance(points, np.ndarray) and points.dtype != object:
            rows = points
        else:
            rows = []
            for i, p in enumerate(points):
                flat: list[Any] = []
                for item in p:
                    if isinstance(item, (Sequence, np.ndarray)) and not isinstance(item, str):
                        flat.extend(item)
                    else:
                        flat.append(item)
                if len(flat) == nlead + 3:
                    flat.append(radius)
                if len(flat) != nlead + 4:
                    raise InputError(
                        f"hint point {i} has {len(flat)} values; expected {nlead} coordinates, "
                        "a color (3 values) and an optional radius"
                    )
                rows.append(flat)
        try:
            rows = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("hint points must be numbers: (y, x, color[, radius])") from None
        if rows.size == 0:
            return np.zeros((0, nlead + 3))
        if rows.ndim != 2:
            raise InputError(f"hint points must form a table (N, values), got shape {rows.shape}")
        return rows

    @classmethod
    def _paint(
        cls,
        shape: tuple[int, ...],
        coords: np.ndarray,
        rgb01: np.ndarray,
        radii: np.ndarray,
        *,
        L: np.ndarray | da.Array | None = None,
        edge_tolerance: float = HINT_EDGE_TOLERANCE,
    ) -> Hints:
        """Paint discs of color at integer coordinates (later points over earlier ones).

        With ``L`` (of ``shape``), a disc keeps only the pixels whose L is within
        ``edge_tolerance`` of its centre's (see :meth:`from_points`).
        """
        if L is not None and tuple(np.shape(L)) != tuple(shape):
            raise InputError(f"L of shape {tuple(np.shape(L))} does not match the hints' shape {shape}")
        if not edge_tolerance >= 0:
            raise InputError(f"edge_tolerance must be >= 0, got {edge_tolerance}")
        for i, (c, limit) in enumerate(zip(coords.T, shape)):
            bad = np.flatnonzero((c < 0) | (c >= limit))
            if bad.size:
                k = int(bad[0])
                what = ("plane", "y", "x")[3 - len(shape) + i]
                extra = f" (the stack has {limit} planes)" if what == "plane" else ""
                raise InputError(
                    f"hint {k} at {tuple(int(v) for v in coords[k])} is outside the image of shape "
                    f"{shape}: {what} must be in 0..{limit - 1}{extra}"
                )
        check_hint_radii(radii, shape)
        ab = np.zeros(shape + (2,), np.float32)
        mask = np.zeros(shape, np.float32)
        colors = _colors2ab(rgb01)
        h, w = shape[-2], shape[-1]
        for k in range(len(coords)):
            y, x = _disc_in_image(int(coords[k, -2]), int(coords[k, -1]), float(radii[k]), h, w)
            if L is not None and len(y) > 1 and np.isfinite(edge_tolerance):
                y, x = _same_lightness(L, coords[k], y, x, edge_tolerance)
            idx = (y, x) if len(shape) == 2 else (coords[k, 0], y, x)
            ab[idx] = colors[k]
            mask[idx] = 1.0
        return cls(ab, mask)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        *,
        L: np.ndarray | da.Array | None = None,
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
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputError(f"no such hints file: {path}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read hints file {path}: {e}") from None
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        cols = [h.strip().lower() for h in header] if header else []
        unknown = [c for c in cols if c not in CSV_COLUMNS + _CSV_OPTIONAL]
        missing = [c for c in CSV_COLUMNS if c not in cols]
        if not cols or unknown or missing or len(set(cols)) != len(cols):
            raise InputError(
                f"{path}: the first line must be a header with columns y,x,r,g,b (optional: radius, plane); "
                f"got {','.join(cols) or 'nothing'}"
            )
        if len(shape) == 3 and "plane" not in cols:
            raise InputError(f"{path}: hints for a stack of {shape[0]} planes need a 'plane' column")
        if len(shape) == 2 and "plane" in cols:
            raise InputError(f"{path}: a 'plane' column was given but the image is a single plane {shape}")
        limits = {"r": 255.0, "g": 255.0, "b": 255.0}
        values = []
        for lineno, row in enumerate(reader, start=2):
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) != len(cols):
                raise InputError(f"{path}, line {lineno}: expected {len(cols)} values, got {len(row)}")
            rec = {}
            for c, v in zip(cols, row):
                try:
                    f = float(v)
                except ValueError:
                    raise InputError(
                        f"{path}, line {lineno}, column {c}: {v.strip()!r} is not a number"
                    ) from None
                if not np.isfinite(f) or f < 0 or f > limits.get(c, np.inf):
                    rng = f"0..{limits[c]:g}" if c in limits else ">= 0"
                    raise InputError(
                        f"{path}, line {lineno}, column {c}: {v.strip()} is out of range ({rng})"
                    )
                rec[c] = f
            values.append(rec)
        lead = (["plane"] if len(shape) == 3 else []) + ["y", "x"]
        coords = np.rint([[r[c] for c in lead] for r in values]).reshape(-1, len(lead)).astype(np.int64)
        rgb = np.asarray([[r["r"], r["g"], r["b"]] for r in values], np.float64).reshape(-1, 3) / 255.0
        radii = np.asarray([r.get("radius", 0.0) for r in values], np.float64)
        try:
            return cls._paint(shape, coords, rgb, radii, L=L, edge_tolerance=edge_tolerance)
        except InputError as e:
            raise InputError(f"{path}: {e}") from None

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the hints as CSV (one row per hinted pixel), atomically; :meth:`from_csv` reads it back.

        The r, g, b written are a color of the hint's ab (its lightness does not matter), with
        decimals so that the ab round-trips.
        """
        from .io import atomic_write

        path = Path(path)
        idx = np.nonzero(self.mask > 0)
        rgb = _ab2colors(self.ab[idx])
        cols = (["plane"] if len(self.shape) == 3 else []) + list(CSV_COLUMNS)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        coords = np.stack(idx, axis=1) if len(idx[0]) else np.zeros((0, len(self.shape)), np.int64)
        for c, color in zip(coords, rgb):
            w.writerow([int(v) for v in c] + [f"{v:.4f}" for v in color])
        with atomic_write(path, "w") as f:
            f.write(buf.getvalue())
        return path

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
        from .color import to_float01

        marked, gray = np.asarray(marked), np.asarray(gray)
        if marked.ndim != 3 or marked.shape[-1] not in (3, 4):
            raise InputError(f"a marked image must be RGB (H, W, 3), got shape {marked.shape}")
        if gray.shape[:2] != marked.shape[:2] or gray.ndim not in (2, 3):
            raise InputError(
                f"the marked image ({marked.shape[0]}x{marked.shape[1]}) and the gray image "
                f"({'x'.join(map(str, gray.shape[:2]))}) differ in size"
            )
        m = to_float01(marked)[..., :3]
        g = to_float01(gray)
        g = g[..., :3] if g.ndim == 3 else g[..., None]
        mask = np.abs(m - g).max(axis=-1) > threshold
        ab = np.zeros(mask.shape + (2,), np.float32)
        ab[mask] = _colors2ab(m[mask])
        return cls(ab, mask.astype(np.float32))

    # -- geometry --------------------------------------------------------------------------------
    def crop(self, y0: int, y1: int, x0: int, x1: int) -> Hints:
        """The hints inside rows ``y0:y1`` and columns ``x0:x1`` (of every plane)."""
        H, W = self.shape[-2:]
        if not (0 <= y0 < y1 <= H and 0 <= x0 < x1 <= W):
            raise InputError(f"crop ({y0}:{y1}, {x0}:{x1}) is empty or outside the hints' {H}x{W}")
        return Hints(self.ab[..., y0:y1, x0:x1, :].copy(), self.mask[..., y0:y1, x0:x1].copy())

    def resize(self, shape: Sequence[int]) -> Hints:
        """Downscale to ``shape`` (h, w): mask-weighted mean ab per block, mask = the block's max."""
        shape = tuple(int(s) for s in shape)[-2:]
        if len(shape) != 2:
            raise InputError(f"resize needs a shape (h, w), got {shape}")
        if shape == self.shape[-2:]:
            return self
        ab = block_mean(self.ab, shape, weights=self.mask)
        return Hints(ab, _block_max(self.mask, shape))

    def plane(self, i: int) -> Hints:
        """The hints of plane ``i`` of a stack."""
        if len(self.shape) != 3:
            raise InputError(f"these hints cover a single plane {self.shape}, not a stack")
        T = self.shape[0]
        if not -T <= int(i) < T:
            raise InputError(f"plane {i} is not in the stack of {T} planes")
        return Hints(self.ab[int(i)], self.mask[int(i)])

    def check_shape(self, shape: Sequence[int]) -> Hints:
        """Return self if the hints cover an image of ``shape``, else raise a clear InputError."""
        shape = tuple(int(s) for s in shape)
        if self.shape != shape:
            raise InputError(f"the hints cover shape {self.shape} but the image has shape {shape}")
        return self


def downscale_points(points: PointTable, shape: Sequence[int], new_shape: Sequence[int]) -> np.ndarray:
    """Move a table of hint points from an image of ``shape`` onto its downscaled grid ``new_shape``.

    The grid is :meth:`Hints.resize`'s (and :func:`~napari_colorize.propagation.block_mean`'s):
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
    rows = np.array(Hints._point_rows(points, nlead, 0.0), dtype=np.float64, copy=True)
    if len(rows) == 0:
        return rows
    y, x = np.rint(rows[:, nlead - 2]).astype(np.int64), np.rint(rows[:, nlead - 1]).astype(np.int64)
    rows[:, nlead - 2] = (y * h) // H  # the block of the pixel (propagation._block_index)
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

"""How hints are painted: points, CSV files and marked images to hinted pixels.

A hint is a disc of one color around a point; with the image's lightness L known, a disc wider
than a pixel keeps only the pixels whose L is within :data:`HINT_EDGE_TOLERANCE` of its centre's
(a brush that stops at edges).  These functions give pixels (coordinates and ab);
:class:`~napari_colorize.hints.Hints` holds them.  Pure numpy; nothing here imports the engine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from .errors import InputError

__all__ = [
    "PointTable",
    "HINT_EDGE_TOLERANCE",
    "CSV_COLUMNS",
    "max_hint_radius",
    "check_hint_radii",
    "point_rows",
    "paint_discs",
    "read_hints_csv",
    "write_hints_csv",
    "marked_pixels",
]

#: Hint points as :meth:`Hints.from_points <napari_colorize.hints.Hints.from_points>` takes them:
#: a table (N, columns) of rows ``[plane,] y, x, r, g, b[, radius]``, or a sequence of rows, each a
#: sequence of numbers or tuples ``([plane,] y, x, color[, radius])`` whose color has 3 numbers.
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
    L: Any, centre: np.ndarray, y: np.ndarray, x: np.ndarray, tolerance: float
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


def check_hint_radii(radii: Any, shape: Sequence[int]) -> None:
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


def point_rows(points: Any, nlead: int, radius: float) -> np.ndarray:
    """Hint points as a float table (N, nlead + 3 or + 4): ``nlead`` coordinates, a color, a radius.

    Tuples with a nested color are flattened, and a missing radius is ``radius``.
    """
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


def paint_discs(
    shape: tuple[int, ...],
    coords: np.ndarray,
    rgb01: np.ndarray,
    radii: np.ndarray,
    *,
    L: Any = None,
    edge_tolerance: float = HINT_EDGE_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """The pixels and ab of discs of color at integer coordinates (later points over earlier ones).

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
    colors = _colors2ab(rgb01)
    h, w = shape[-2], shape[-1]
    pix: list[np.ndarray] = [np.zeros((0, len(shape)), np.int64)]
    ab: list[np.ndarray] = [np.zeros((0, 2), np.float32)]
    for k in range(len(coords)):
        y, x = _disc_in_image(int(coords[k, -2]), int(coords[k, -1]), float(radii[k]), h, w)
        if L is not None and len(y) > 1 and np.isfinite(edge_tolerance):
            y, x = _same_lightness(L, coords[k], y, x, edge_tolerance)
        lead = [np.full(len(y), coords[k, 0], np.int64)] if len(shape) == 3 else []
        pix.append(np.stack(lead + [y, x], axis=1))
        ab.append(np.broadcast_to(colors[k], (len(y), 2)))
    return np.concatenate(pix), np.concatenate(ab)  # in order: later discs win


def read_hints_csv(path: Path, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points of a hints CSV file (header ``y,x,r,g,b``, optional ``radius``, ``plane``).

    Returns the integer coordinates (N, len(shape)), the sRGB colors (N, 3) in 0..1 and the radii
    (N,); :meth:`Hints.from_csv <napari_colorize.hints.Hints.from_csv>` paints them.

    Raises
    ------
    InputError
        A missing file, a wrong header, a non-numeric or out-of-range value (its row and column
        named).
    """
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
    return coords, rgb, radii


def write_hints_csv(path: Path, shape: tuple[int, ...], coords: np.ndarray, ab: np.ndarray) -> Path:
    """Write hinted pixels as CSV (one row each), atomically; :func:`read_hints_csv` reads it back.

    The r, g, b written are a color of the hint's ab (its lightness does not matter), with
    decimals so that the ab round-trips.
    """
    from .io import atomic_write

    rgb = _ab2colors(ab)
    cols = (["plane"] if len(shape) == 3 else []) + list(CSV_COLUMNS)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for c, color in zip(coords, rgb):
        w.writerow([int(v) for v in c] + [f"{v:.4f}" for v in color])
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())
    return path


def marked_pixels(
    marked: np.ndarray, gray: np.ndarray, *, threshold: float = 0.01
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """The painted pixels of Levin et al.'s format: ``(shape, coords (N, 2), ab (N, 2))``.

    The arguments are those of :meth:`Hints.from_marked_image
    <napari_colorize.hints.Hints.from_marked_image>`, which holds these pixels.
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
    return mask.shape, np.argwhere(mask), _colors2ab(m[mask])

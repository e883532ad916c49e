"""Tile planning and ab merging for colorization at full resolution.

A :class:`TilePlan` cuts an image of shape (H, W) into tiles.  Each tile has

- a *write box*: the part of the output it contributes to.  Neighbouring
  write boxes overlap by ``overlap`` px, and the overlap is blended;
- a *read box*: the write box plus a ``halo`` on every side (shifted inside
  the image at its borders).  The model sees the read box; its output is
  cropped back to the write box.  With a halo at least the model's receptive
  field, a convolutional model's output inside each write box is exactly its
  untiled output;
- a *core box*: the part of the write box closest to the tile's centre
  (the write boxes cut at the middle of each overlap).  The ``crop`` blend
  keeps only the cores; they partition the image.

Tile sizes, strides and halos are multiples of the model's block size (its
total downsampling).  Edge tiles are shifted inside the image rather than
padded; only an image smaller than a read box is padded (by reflection, to a
multiple of the block size) and cropped back.

Only ab is ever merged (:class:`Merger`); L always comes from the input.
Everything here is pure numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import ConfigError, InputError

__all__ = [
    "BLENDS",
    "Blend",
    "TilingOptions",
    "TILING_KEYS",
    "Tile",
    "TilePlan",
    "plan_tiles",
    "resolve_tiling",
    "blend_window",
    "Merger",
    "pad_to_block",
    "seam_measure",
]

Blend = Literal["average", "max", "gaussian", "hann", "crop"]
#: the blend modes; see :class:`Merger`
BLENDS: tuple[str, ...] = ("average", "max", "gaussian", "hann", "crop")

#: smallest blend weight: weights never reach 0 so that borders never give 0/0
MIN_WEIGHT = 1e-3

Box = tuple[int, int, int, int]  # (y0, x0, y1, x1), half-open


@dataclass(frozen=True)
class Tile:
    """One tile of a :class:`TilePlan`.

    Attributes
    ----------
    index : int
        Position in the plan (row-major over ``grid``).
    grid : (int, int)
        Row and column of the tile in the tile grid.
    read : (y0, x0, y1, x1)
        Box the model sees (write box plus halo, inside the image).
    write : (y0, x0, y1, x1)
        Box the tile's output is written to.
    core : (y0, x0, y1, x1)
        The part of ``write`` kept by the ``crop`` blend.
    """

    index: int
    grid: tuple[int, int]
    read: Box
    write: Box
    core: Box

    @property
    def read_shape(self) -> tuple[int, int]:
        return (self.read[2] - self.read[0], self.read[3] - self.read[1])

    @property
    def write_shape(self) -> tuple[int, int]:
        return (self.write[2] - self.write[0], self.write[3] - self.write[1])

    def write_in_read(self) -> tuple[slice, slice]:
        """Slices that cut the write box out of an array covering the read box."""
        return (
            slice(self.write[0] - self.read[0], self.write[2] - self.read[0]),
            slice(self.write[1] - self.read[1], self.write[3] - self.read[1]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "grid": list(self.grid),
            "read": list(self.read),
            "write": list(self.write),
            "core": list(self.core),
        }


@dataclass
class TilePlan:
    """The tiles of one image plane.

    Attributes
    ----------
    shape : (H, W)
        Shape of the plane.
    tile : (th, tw)
        Write-box size per axis (the requested tile, shrunk to the image
        where the image is smaller).
    overlap : int
        Overlap of neighbouring write boxes, px.
    halo : int
        Context added around each write box for the read box, px.
    block_size : int
        The model's block size; read boxes are padded to a multiple of it.
    tiles : list of Tile
    """

    shape: tuple[int, int]
    tile: tuple[int, int]
    overlap: int
    halo: int
    block_size: int = 1
    tiles: list[Tile] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tiles)

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)

    @property
    def grid_shape(self) -> tuple[int, int]:
        if not self.tiles:
            return (0, 0)
        return (max(t.grid[0] for t in self.tiles) + 1, max(t.grid[1] for t in self.tiles) + 1)

    @property
    def read_shape(self) -> tuple[int, int]:
        """The read-box shape (the same for every tile of a plan)."""
        return self.tiles[0].read_shape

    def rectangles(self, *, which: Literal["write", "read", "core"] = "write") -> list[list[list[int]]]:
        """Boxes as napari rectangles ``[[y0, x0], [y1, x1]]`` (write boxes by default).

        ``y1``/``x1`` are exclusive pixel edges, so the rectangle outlines
        the pixels in image coordinates (add a leading index for stacks).
        """
        out = []
        for t in self.tiles:
            b = getattr(t, which)
            out.append([[int(b[0]), int(b[1])], [int(b[2]), int(b[3])]])
        return out

    def tiles_in(self, box: Box) -> list[Tile]:
        """The tiles whose write box intersects ``box``."""
        y0, x0, y1, x1 = box
        return [
            t
            for t in self.tiles
            if t.write[0] < y1 and t.write[2] > y0 and t.write[1] < x1 and t.write[3] > x0
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (``--tiles-json``): plan fields, tiles and napari rectangles."""
        return {
            "shape": list(self.shape),
            "tile": list(self.tile),
            "overlap": int(self.overlap),
            "halo": int(self.halo),
            "block_size": int(self.block_size),
            "grid": list(self.grid_shape),
            "tiles": [t.to_dict() for t in self.tiles],
            "rectangles": self.rectangles(),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TilePlan:
        tiles = [
            Tile(int(t["index"]), tuple(t["grid"]), tuple(t["read"]), tuple(t["write"]), tuple(t["core"]))  # type: ignore[arg-type]
            for t in d["tiles"]
        ]
        return cls(
            tuple(d["shape"]),
            tuple(d["tile"]),
            int(d["overlap"]),
            int(d["halo"]),
            int(d.get("block_size", 1)),
            tiles,
        )  # type: ignore[arg-type]

    @classmethod
    def whole(cls, shape: Sequence[int]) -> TilePlan:
        """A one-tile plan covering a whole (H, W) plane (what untiled colorization does)."""
        h, w = int(shape[-2]), int(shape[-1])
        box = (0, 0, h, w)
        return cls((h, w), (h, w), 0, 0, 1, [Tile(0, (0, 0), box, box, box)])


def _align_down(v: int, b: int) -> int:
    return (v // b) * b


def _align_up(v: int, b: int) -> int:
    return -(-v // b) * b


def resolve_tiling(
    shape: Sequence[int],
    *,
    tile: int | str | None,
    overlap: int | float | None = None,
    halo: int | None = None,
    block_size: int = 1,
    receptive_field: int = 0,
    default_tile: int = 512,
    default_overlap: int = 64,
) -> tuple[int, int, int]:
    """Check tiling options and turn them into ``(tile, overlap, halo)`` in px.

    Parameters
    ----------
    shape : (..., H, W)
    tile : int or "auto"
        Tile (write-box) size; ``"auto"`` uses ``default_tile``.  Rounded
        down to a multiple of ``block_size``.
    overlap : int or float, optional
        Overlap of write boxes in px, or a fraction of the tile when a float
        in [0, 1).  Defaults to ``default_overlap``, reduced below the tile.
    halo : int, optional
        Context around each write box.  Defaults to ``receptive_field``,
        capped at a quarter of the tile.  Rounded up to the block size.

    Raises
    ------
    ConfigError
        For a tile smaller than the block size, or an overlap >= tile.
    """
    b = max(1, int(block_size))
    if isinstance(tile, str):
        if tile != "auto":
            raise ConfigError(f"tile must be a number of pixels or 'auto', got {tile!r}")
        tile = int(default_tile)
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise ConfigError(f"tile must be an integer number of pixels, got {tile!r}")
    tile = int(tile)
    if tile < b or tile < 1:
        raise ConfigError(
            f"tile {tile} is smaller than the model's block size {b}; use a tile of at least {b} px"
        )
    tile = _align_down(tile, b)
    if overlap is None:
        ov = min(int(default_overlap), tile // 2)
        ov = _align_down(ov, b)
    else:
        if (
            isinstance(overlap, bool)
            or not isinstance(overlap, (int, float, np.integer, np.floating))
            or not math.isfinite(overlap)
        ):
            raise ConfigError(
                f"overlap must be a number of pixels or a fraction of the tile, got {overlap!r}"
            )
        if overlap < 0:
            raise ConfigError(f"overlap must be >= 0, got {overlap}")
        if isinstance(overlap, (float, np.floating)) and overlap < 1:
            ov = int(round(float(overlap) * tile))
        else:
            if float(overlap) != int(overlap):
                raise ConfigError(f"overlap must be whole pixels or a fraction < 1, got {overlap}")
            ov = int(overlap)
        if ov >= tile:
            raise ConfigError(f"overlap {ov} must be smaller than the tile {tile}")
        ov = _align_up(ov, b) if ov % b else ov
        if ov >= tile:
            ov = tile - b
    if halo is None:
        h = min(int(receptive_field), tile // 4)
        h = min(_align_up(h, b), _align_down(tile // 4, b)) if h else 0
    else:
        if isinstance(halo, bool) or int(halo) != halo or halo < 0:
            raise ConfigError(f"halo must be a whole number of pixels >= 0, got {halo!r}")
        h = _align_up(int(halo), b)
    return tile, ov, h


@dataclass(frozen=True)
class TilingOptions:
    """How the engine tiles and merges: one validated value passed from the API to the engine.

    Parameters
    ----------
    tile : int, "auto" or None
        Write-box size in px (rounded down to the model's block size); ``"auto"`` uses the
        model's ``default_tile``; None colorizes each plane whole.
    overlap : int or float, optional
        Overlap of tiles, px or a fraction of the tile in [0, 1); must be < tile.  Defaults
        to the model's ``default_overlap``.
    blend : {"average", "max", "gaussian", "hann", "crop"}
        How overlapping tiles are merged (see :class:`Merger`).
    global_anchor : bool
        Anchor each tile's low-frequency ab to a low-resolution whole-plane pass.
    batch_size : int, optional
        Tiles per model call (default: about 1 MP of tiles, at most 16).
    halo : int, optional
        Context around each tile, px (default: the model's receptive field, capped at a
        quarter of the tile).

    Raises
    ------
    ConfigError
        A value of the wrong type or range, or an unknown key in :meth:`from_dict`.
    """

    tile: int | str | None = None
    overlap: int | float | None = None
    blend: str = "gaussian"
    global_anchor: bool = False
    batch_size: int | None = None
    halo: int | None = None

    def __post_init__(self) -> None:
        t = self.tile
        if isinstance(t, str):
            if t != "auto":
                raise ConfigError(f"tile must be a number of pixels, 'auto' or None, got {t!r}")
        elif t is not None:
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or int(t) < 1:
                raise ConfigError(f"tile must be a positive whole number of pixels, got {t!r}")
            object.__setattr__(self, "tile", int(t))
        ov = self.overlap
        if ov is not None and (
            isinstance(ov, bool)
            or not isinstance(ov, (int, float, np.integer, np.floating))
            or not math.isfinite(ov)
            or ov < 0
        ):
            raise ConfigError(f"overlap must be pixels >= 0 or a fraction of the tile, got {ov!r}")
        if self.blend not in BLENDS:
            raise ConfigError(f"unknown blend {self.blend!r}; choose one of {', '.join(BLENDS)}")
        if not isinstance(self.global_anchor, (bool, np.bool_)):
            raise ConfigError(f"global_anchor must be true or false, got {self.global_anchor!r}")
        object.__setattr__(self, "global_anchor", bool(self.global_anchor))
        for name in ("batch_size", "halo"):
            v = getattr(self, name)
            low = 1 if name == "batch_size" else 0
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                    raise ConfigError(f"{name} must be a whole number >= {low}, got {v!r}")
                object.__setattr__(self, name, int(v))

    @property
    def tiled(self) -> bool:
        """Whether planes are cut into tiles (``tile`` is not None)."""
        return self.tile is not None

    def replace(self, **changes: Any) -> TilingOptions:
        """A copy with some fields changed (validated)."""
        return TilingOptions.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (the inverse of :meth:`from_dict`)."""
        return {
            "tile": self.tile,
            "overlap": self.overlap,
            "blend": self.blend,
            "global_anchor": self.global_anchor,
            "batch_size": self.batch_size,
            "halo": self.halo,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TilingOptions:
        """Options from a dict such as :meth:`to_dict` gives; unknown keys are a ConfigError."""
        d = dict(d or {})
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"unknown tiling option(s) {', '.join(unknown)}; known: {', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**d)

    @classmethod
    def coerce(cls, options: TilingOptions | dict[str, Any] | None = None, **kw: Any) -> TilingOptions:
        """``options`` (a TilingOptions, a dict or None) with the keywords ``kw`` on top."""
        if options is None or isinstance(options, dict):
            return cls.from_dict({**(options or {}), **kw})
        if not isinstance(options, TilingOptions):
            raise ConfigError(f"options must be TilingOptions or a dict, got {type(options).__name__}")
        return options.replace(**kw) if kw else options


#: the fields of :class:`TilingOptions`, in order (the keys of its dict form)
TILING_KEYS: tuple[str, ...] = tuple(TilingOptions.__dataclass_fields__)


def _balanced_tile(n: int, tile: int, overlap: int, block: int) -> int:
    """The smallest block-aligned tile <= ``tile`` that covers ``n`` px with as few tiles as ``tile`` does."""
    if n <= tile:
        return n
    k = math.ceil((n - overlap) / (tile - overlap))
    t = math.ceil((n + (k - 1) * overlap) / k)
    t = _align_up(t, block)
    return int(min(max(t, overlap + block), tile))


def _axis_starts(n: int, tile: int, stride: int) -> list[int]:
    """Write-box starts along one axis: a regular grid, the last one shifted inside."""
    if n <= tile:
        return [0]
    starts = list(range(0, n - tile, stride))
    if starts[-1] + tile < n:
        starts.append(n - tile)
    return sorted(set(starts))


def _axis_cores(starts: list[int], size: int, n: int) -> list[tuple[int, int]]:
    cuts = [0]
    for a, b in zip(starts[:-1], starts[1:]):
        # middle of the overlap [b, a + size) (or of the gap if none)
        cuts.append((b + min(a + size, n)) // 2)
    cuts.append(n)
    return [(cuts[i], cuts[i + 1]) for i in range(len(starts))]


def plan_tiles(
    shape: Sequence[int],
    *,
    tile: int,
    overlap: int = 0,
    halo: int = 0,
    block_size: int = 1,
    balance: bool = True,
) -> TilePlan:
    """Plan the tiles of an (H, W) plane (values as given by :func:`resolve_tiling`).

    Parameters
    ----------
    shape : (..., H, W)
        Only the last two axes are tiled.
    tile, overlap, halo : int
        Write-box size, overlap of write boxes and halo, px.
    block_size : int
        The model's block size.
    balance : bool
        Treat ``tile`` as the largest tile: per axis, use the fewest tiles of
        at most ``tile`` px and shrink them (to a multiple of the block size)
        so that they spread evenly over the image.  Without it, a 2048 px
        side with 1024 px tiles needs a third tile that mostly repeats its
        neighbour; balanced, three tiles of 704 px do the same job with half
        the pixels.

    Returns
    -------
    TilePlan
    """
    if len(shape) < 2:
        raise InputError(f"expected an image (..., H, W), got shape {tuple(shape)}")
    H, W = int(shape[-2]), int(shape[-1])
    if H < 1 or W < 1:
        raise InputError(f"cannot tile an empty image of shape {tuple(shape)}")
    if overlap >= tile:
        raise ConfigError(f"overlap {overlap} must be smaller than the tile {tile}")
    per_axis = []
    for n in (H, W):
        t = _balanced_tile(n, tile, overlap, block_size) if balance else min(tile, n)
        starts = _axis_starts(n, t, t - overlap)
        cores = _axis_cores(starts, t, n)
        r = t + 2 * halo
        if r >= n:
            reads = [(0, n)] * len(starts)
        else:
            reads = [(min(max(s - halo, 0), n - r), min(max(s - halo, 0), n - r) + r) for s in starts]
        per_axis.append((t, starts, cores, reads))
    (th, ys, ycores, yreads), (tw, xs, xcores, xreads) = per_axis
    tiles = []
    for i, (y, yc, yr) in enumerate(zip(ys, ycores, yreads)):
        for j, (x, xc, xr) in enumerate(zip(xs, xcores, xreads)):
            tiles.append(
                Tile(
                    index=len(tiles),
                    grid=(i, j),
                    read=(yr[0], xr[0], yr[1], xr[1]),
                    write=(y, x, y + th, x + tw),
                    core=(yc[0], xc[0], yc[1], xc[1]),
                )
            )
    return TilePlan((H, W), (th, tw), int(overlap), int(halo), int(block_size), tiles)


def pad_to_block(x: np.ndarray, block_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the last two axes at their end, by reflection, to a multiple of ``block_size``.

    Returns the padded array and the original (H, W) to crop back to.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % block_size, (-w) % block_size
    if not ph and not pw:
        return x, (h, w)
    pads = [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)]
    # 'reflect' needs a side longer than the pad; fall back to 'symmetric', then 'edge'
    if ph < h and pw < w:
        out = np.pad(x, pads, mode="reflect")
    elif ph <= h and pw <= w:
        out = np.pad(x, pads, mode="symmetric")
    else:
        out = np.pad(x, pads, mode="edge")
    return out, (h, w)


def blend_window(size: int, blend: str) -> np.ndarray:
    """1D blending weights (float32, >= ``MIN_WEIGHT``) for a write box side of ``size`` px."""
    if blend in ("average", "max", "crop"):
        return np.ones(size, np.float32)
    x = np.arange(size, dtype=np.float64) + 0.5
    if blend == "gaussian":
        # sigma = size / 4, lowered so it reaches 0 at the box edge: a tile's weight then
        # fades in continuously (a plain Gaussian starts with a step), and the
        # transition spreads over the overlap (MONAI's sigma = size / 8 makes it a
        # few px wide).  Measured with tests/engine/test_engine.py's drifting model.
        sigma = max(size / 4.0, 0.5)
        w = np.exp(-0.5 * ((x - size / 2.0) / sigma) ** 2)
        edge = np.exp(-0.5 * (size / 2.0 / sigma) ** 2)
        w = (w - edge) / (1.0 - edge)
    elif blend == "hann":
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * x / size)
    else:
        raise ConfigError(f"unknown blend {blend!r}; choose one of {', '.join(BLENDS)}")
    return np.maximum(w, MIN_WEIGHT).astype(np.float32)


def _inter(a: Box, b: Box) -> Box | None:
    y0, x0 = max(a[0], b[0]), max(a[1], b[1])
    y1, x1 = min(a[2], b[2]), min(a[3], b[3])
    if y0 >= y1 or x0 >= x1:
        return None
    return (y0, x0, y1, x1)


class Merger:
    """Merge tiles' ab (h, w, 2) into a region ``box`` of the plane.

    Blend modes
    -----------
    average
        Plain mean over the tiles covering a pixel.
    max
        Max pooling: each pixel keeps the prediction with the largest chroma
        ``sqrt(a^2 + b^2)`` among the tiles covering it (a per-channel max
        would bias every color towards red and yellow).
    gaussian, hann
        Weighted mean with separable Gaussian (sigma = side / 4, lowered to
        reach 0 at the edges) or Hann windows over each write box, clamped to
        at least ``MIN_WEIGHT``.
    crop
        Each pixel comes from one tile only: the one whose core box holds it.

    Parameters
    ----------
    plan : TilePlan
    blend : str
    box : (y0, x0, y1, x1), optional
        The region to assemble (the whole plane by default).
    """

    def __init__(self, plan: TilePlan, blend: str, box: Box | None = None) -> None:
        if blend not in BLENDS:
            raise ConfigError(f"unknown blend {blend!r}; choose one of {', '.join(BLENDS)}")
        self.plan = plan
        self.blend = blend
        self.box = box if box is not None else (0, 0) + tuple(plan.shape)  # type: ignore[assignment]
        h, w = self.box[2] - self.box[0], self.box[3] - self.box[1]
        self.out = np.zeros((h, w, 2), np.float32)
        if blend in ("average", "gaussian", "hann"):
            self.wsum = np.zeros((h, w), np.float32)
        elif blend == "max":
            self.best = np.full((h, w), -1.0, np.float32)
        self._windows: dict[tuple[int, int], np.ndarray] = {}
        self._normalised = False

    def _window(self, shape: tuple[int, int]) -> np.ndarray:
        win = self._windows.get(shape)
        if win is None:
            win = blend_window(shape[0], self.blend)[:, None] * blend_window(shape[1], self.blend)[None, :]
            self._windows[shape] = win
        return win

    def target(self, tile: Tile) -> Box:
        """The part of the plane a tile's ab is merged into: its core box (``crop``) or its write box."""
        return tile.core if self.blend == "crop" else tile.write

    def add(self, tile: Tile, ab: np.ndarray, *, part: Box | None = None) -> None:
        """Add a tile's ab over its write box, shape ``tile.write_shape + (2,)``.

        With ``part`` (a box inside ``tile.write``), ``ab`` covers only that part of the write
        box: what a neighbouring region needs of a tile that another region ran.
        """
        part = tile.write if part is None else part
        shape = (part[2] - part[0], part[3] - part[1])
        if ab.shape != shape + (2,) or _inter(part, tile.write) != tuple(part):
            raise InputError(f"tile {tile.index}: ab shape {ab.shape} != write box {shape} + (2,)")
        inter = _inter(self.target(tile), self.box)
        inter = None if inter is None else _inter(inter, part)
        if inter is None:
            return
        y0, x0, y1, x1 = inter
        dst = (slice(y0 - self.box[0], y1 - self.box[0]), slice(x0 - self.box[1], x1 - self.box[1]))
        src = (slice(y0 - part[0], y1 - part[0]), slice(x0 - part[1], x1 - part[1]))
        a = ab[src]
        if self.blend == "crop":
            self.out[dst] = a
        elif self.blend == "max":
            c = a[..., 0] ** 2 + a[..., 1] ** 2
            better = c > self.best[dst]
            self.best[dst] = np.where(better, c, self.best[dst])
            self.out[dst] = np.where(better[..., None], a, self.out[dst])
        else:
            w = self._window(tile.write_shape)[
                y0 - tile.write[0] : y1 - tile.write[0], x0 - tile.write[1] : x1 - tile.write[1]
            ]
            self.out[dst] += a * w[..., None]
            self.wsum[dst] += w

    def result(self) -> np.ndarray:
        """The merged ab (h, w, 2) float32 of ``box``."""
        if self.blend in ("average", "gaussian", "hann") and not self._normalised:
            wsum = self.wsum
            if not wsum.min() > 0:
                raise InputError("some pixels are covered by no tile (plan does not cover the region)")
            self.out /= wsum[..., None]
            self._normalised = True
        return self.out


def seam_measure(ab: np.ndarray, plan: TilePlan) -> float:
    """Seam strength: the ab jump across tile borders over the mean jump in the image.

    The jump between neighbouring pixels is their Euclidean ab difference.
    For each border between neighbouring rows (columns) of tiles, the jump
    across it is the largest row-mean (column-mean) jump within the band
    where the two tiles' write boxes overlap, edges included (so a seam is
    found wherever the blend puts it).  The result is the mean of these
    over all borders, divided by the mean jump over the whole image:
    about 1 means no visible seams; much more than 1 means seams.
    """
    ab = np.asarray(ab, np.float32)
    H, W = plan.shape
    dy = np.sqrt(((ab[1:] - ab[:-1]) ** 2).sum(-1))  # (H-1, W): jump between rows y and y+1
    dx = np.sqrt(((ab[:, 1:] - ab[:, :-1]) ** 2).sum(-1))  # (H, W-1)
    base = float(np.concatenate([dy.ravel(), dx.ravel()]).mean()) if dy.size + dx.size else 0.0
    peaks = []
    for axis, d, n, size in ((0, dy, H, plan.tile[0]), (1, dx, W, plan.tile[1])):
        line = d.mean(axis=1 - axis)  # mean jump per line
        starts = sorted({t.write[axis] for t in plan.tiles})
        for a, b in zip(starts[:-1], starts[1:]):
            lo, hi = max(b - 1, 0), min(a + size, n - 1)  # jumps into and out of the overlap band
            if hi >= lo and line.size:
                peaks.append(float(line[lo : hi + 1].max()))
    if not peaks or base <= 0:
        return 1.0
    return float(np.mean(peaks) / base)

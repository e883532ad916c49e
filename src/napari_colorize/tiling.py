"""The words of tiling that both sides of the process boundary share.

:class:`TilingOptions` is how a caller asks for tiles (the napari plugin, the CLI, the Python
API and the engine all read it); :class:`TilePlan` is what comes back: the tiles of one image
plane, which the plugin draws.  A plan cuts an image of shape (H, W) into tiles.  Each tile has

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

Planning is the engine's (:mod:`napari_colorize.engine.tile_plan`), and so are blending and
merging (:mod:`napari_colorize.engine.tile_loop`); :func:`pad_to_block` is shared with the methods.
Only an image smaller than a read box is padded (by reflection, to a multiple of the block
size) and cropped back.  Everything here is pure numpy and imports nothing of the engine.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .config import Config
from .errors import ConfigError

__all__ = [
    "BLENDS",
    "Blend",
    "Box",
    "TilingOptions",
    "TILING_KEYS",
    "Tile",
    "TilePlan",
    "pad_to_block",
]

Blend = Literal["average", "max", "gaussian", "hann", "crop"]
#: the blend modes; see :class:`~napari_colorize.engine.tile_loop.Merger`
BLENDS: tuple[str, ...] = ("average", "max", "gaussian", "hann", "crop")

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
            Tile(int(t["index"]), tuple(t["grid"]), tuple(t["read"]), tuple(t["write"]), tuple(t["core"]))
            for t in d["tiles"]
        ]
        return cls(
            tuple(d["shape"]),
            tuple(d["tile"]),
            int(d["overlap"]),
            int(d["halo"]),
            int(d.get("block_size", 1)),
            tiles,
        )

    @classmethod
    def whole(cls, shape: Sequence[int]) -> TilePlan:
        """A one-tile plan covering a whole (H, W) plane (what untiled colorization does)."""
        h, w = int(shape[-2]), int(shape[-1])
        box = (0, 0, h, w)
        return cls((h, w), (h, w), 0, 0, 1, [Tile(0, (0, 0), box, box, box)])


def _check_tile(t: Any) -> int | str | None:
    if isinstance(t, str):
        if t != "auto":
            raise ConfigError(f"tile must be a number of pixels, 'auto' or None, got {t!r}")
        return t
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or int(t) < 1:
        raise ConfigError(f"tile must be a positive whole number of pixels, got {t!r}")
    return int(t)


def _check_overlap(ov: Any) -> int | float | None:
    if ov is not None and (
        isinstance(ov, bool)
        or not isinstance(ov, (int, float, np.integer, np.floating))
        or not math.isfinite(ov)
        or ov < 0
    ):
        raise ConfigError(f"overlap must be pixels >= 0 or a fraction of the tile, got {ov!r}")
    # numpy scalars become Python numbers (as in _check_tile): the field says int | float, and
    # to_json cannot write a numpy integer
    if isinstance(ov, np.integer):
        return int(ov)
    if isinstance(ov, np.floating):
        return float(ov)
    return ov


def _check_blend(blend: Any) -> str:
    if blend not in BLENDS:
        raise ConfigError(f"unknown blend {blend!r}; choose one of {', '.join(BLENDS)}")
    return blend


def _check_flag(v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise ConfigError(f"global_anchor must be true or false, got {v!r}")
    return bool(v)


def _whole_number(name: str, low: int) -> Callable[[Any], int | None]:
    """The check of an optional whole number >= ``low``."""

    def check(v: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ConfigError(f"{name} must be a whole number >= {low}, got {v!r}")
        return int(v)

    return check


@dataclasses.dataclass(frozen=True, kw_only=True)
class TilingOptions(Config):
    """How the engine tiles and merges: one validated value passed from the API to the engine.

    A :class:`~napari_colorize.config.Config`: typed, validated, with a JSON round trip
    (:meth:`to_dict`, :meth:`from_dict`), :meth:`replace` and :meth:`coerce`.

    Parameters
    ----------
    tile : int, "auto" or None
        Write-box size in px (rounded down to the model's block size); ``"auto"`` uses the
        model's ``default_tile``; None colorizes each plane whole.
    overlap : int or float, optional
        Overlap of tiles, px or a fraction of the tile in [0, 1); must be < tile.  Defaults
        to the model's ``default_overlap``.
    blend : {"average", "max", "gaussian", "hann", "crop"}
        How overlapping tiles are merged (see :class:`~napari_colorize.engine.tile_loop.Merger`).
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

    tile: int | str | None = field(
        default=None,
        metadata={
            "help": "tile side, px; 'auto': the model's default; none: whole planes",
            "check": _check_tile,
        },
    )
    overlap: int | float | None = field(
        default=None,
        metadata={"help": "overlap of tiles, px or a fraction of the tile", "check": _check_overlap},
    )
    blend: str = field(
        default="gaussian", metadata={"help": "how overlapping tiles are merged", "check": _check_blend}
    )
    global_anchor: bool = field(
        default=False,
        metadata={"help": "anchor the tiles to a low-resolution whole-plane pass", "check": _check_flag},
    )
    batch_size: int | None = field(
        default=None,
        metadata={"help": "tiles per model call", "check": _whole_number("batch_size", 1)},
    )
    halo: int | None = field(
        default=None,
        metadata={"help": "context around each tile, px", "check": _whole_number("halo", 0)},
    )

    @property
    def tiled(self) -> bool:
        """Whether planes are cut into tiles (``tile`` is not None)."""
        return self.tile is not None

    @classmethod
    def unknown_keys_error(cls, unknown: list[str]) -> ConfigError:
        """The error for unknown keys: they and the known ones, in order."""
        return ConfigError(f"unknown tiling option(s) {', '.join(unknown)}; known: {', '.join(TILING_KEYS)}")


#: the fields of :class:`TilingOptions`, in order (the keys of its dict form)
TILING_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TilingOptions))


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

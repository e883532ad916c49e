"""The tile plan of a plane: from the tiling options to the tiles' boxes, and the seam measure.

:func:`resolve_tiling` checks the options against the model (block size, receptive field,
defaults) and gives the tile, overlap and halo in px; :func:`plan_tiles` cuts an (H, W) plane
into :class:`~napari_colorize.tiling.Tile` boxes (read, write, core; see
:mod:`napari_colorize.tiling`).  Tile sizes, strides and halos are multiples of the model's block
size; edge tiles are shifted inside the image rather than padded.  :func:`seam_measure` tells how
visible the tiles' borders are in a result.  Pure numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, InputError
from ..tiling import Tile, TilePlan


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
    tiles: list[Tile] = []
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

"""Run a model over L arrays of any size: numpy or dask, 2D or stacks, tiled or not.

:func:`colorize` is the one entry point.  It predicts ab for an L array
(..., H, W), plane by plane, either whole (``tile=None``) or in tiles planned
by :mod:`napari_colorize.tiling` and merged with a blend.  Tiles of the same
shape are sent to the model in batches (``model.predict_ab_batch``).

dask input stays lazy: the result is a dask array whose chunks (about
``DASK_CHUNK`` px, cut at tile starts) each run the tiles that touch them,
reading only the L they need, so a 100-megapixel image never sits in memory
as float32 at once.  A tile crossing a chunk border is run once and kept
until its other chunks have used it.  With ``global_anchor`` the low-res
whole-plane pass is computed once (a coarsened read of the plane) and cached.

This module imports neither TensorFlow nor napari.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import Cancelled, ColorizeError, ConfigError, InputError, user_stacklevel
from .tiling import BLENDS, Merger, Tile, TilePlan, pad_to_block, plan_tiles, resolve_tiling

__all__ = ["colorize", "EngineResult", "TileOOMWarning", "is_oom_error"]

#: target side of a dask output chunk, px (a whole number of tile strides)
DASK_CHUNK = 2048
#: target pixels per model batch when batch_size is not given
BATCH_PIXELS = 1 << 20


class TileOOMWarning(RuntimeWarning):
    """The model ran out of memory; the engine retried with smaller tiles."""


@dataclass
class EngineResult:
    """Result of :func:`colorize`.

    Attributes
    ----------
    ab : ndarray or dask array (..., H, W, 2) float32, Lab units
    plan : TilePlan or None
        The tiles of each plane (None when untiled).
    """

    ab: Any
    plan: TilePlan | None = None


def is_oom_error(e: BaseException) -> bool:
    """Whether ``e`` is an out-of-memory error of TensorFlow (checked by class name) or torch."""
    names = {c.__name__ for c in type(e).__mro__}
    return bool(names & {"ResourceExhaustedError", "OutOfMemoryError"})


class _TileOOM(Exception):
    """Out of memory with a batch of one tile."""


class _Progress:
    def __init__(
        self, total: int, callback: Callable[[int, int], None] | None, should_stop: Callable[[], bool] | None
    ) -> None:
        self.total = int(total)
        self.done = 0
        self.callback = callback
        self.should_stop = should_stop
        self._lock = threading.Lock()

    def check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Cancelled("colorization cancelled")

    def step(self, n: int = 1) -> None:
        with self._lock:
            self.done = min(self.done + n, self.total) if self.total else self.done + n
            done = self.done
        if self.callback is not None:
            self.callback(done, self.total)


def _is_dask(x: Any) -> bool:
    return hasattr(x, "dask") and hasattr(x, "chunks") and type(x).__module__.startswith("dask")


def _model_int(model: Any, name: str, default: int) -> int:
    v = getattr(model, name, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    """Predict (N, h, w) L -> (N, h, w, 2) ab, halving the batch on out-of-memory."""
    try:
        if x.shape[0] == 1:
            ab = np.asarray(model.predict_ab(x[0]), dtype=np.float32)[None]
        elif hasattr(model, "predict_ab_batch"):
            ab = np.asarray(model.predict_ab_batch(x), dtype=np.float32)
        else:
            ab = np.stack([np.asarray(model.predict_ab(p), np.float32) for p in x])
    except Exception as e:  # noqa: BLE001 - only OOM is handled here
        if not is_oom_error(e):
            raise
        if x.shape[0] == 1:
            raise _TileOOM(str(e)) from e
        half = x.shape[0] // 2
        warnings.warn(
            f"model out of memory with a batch of {x.shape[0]} tiles; retrying with {half}",
            TileOOMWarning,
            stacklevel=user_stacklevel(),
        )
        return np.concatenate([_predict(model, x[:half]), _predict(model, x[half:])])
    if ab.shape != x.shape + (2,):
        raise ColorizeError(
            f"{type(model).__name__} returned ab of shape {ab.shape[1:]} for L of shape {x.shape[1:]}; expected {x.shape[1:] + (2,)}"
        )
    return ab


def _predict_padded(model: Any, x: np.ndarray, block: int) -> np.ndarray:
    """Predict a batch (N, h, w), reflect-padded to the block size and cropped back."""
    xp, (h, w) = pad_to_block(x, block)
    return _predict(model, np.ascontiguousarray(xp, dtype=np.float32))[:, :h, :w]


# -- global anchor ---------------------------------------------------------------------------


@dataclass
class _Anchor:
    """A low-resolution whole-plane prediction and how to use it."""

    ab: np.ndarray  # (hs, ws, 2)
    factor: tuple[int, int]
    sigma: float

    def region(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """The anchor's ab bilinearly upsampled over ``box`` (y0, x0, y1, x1) of the full plane."""
        return _bilinear(self.ab, self.factor, box)

    def apply(self, ab: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Replace the low frequencies of a tile's ab (over ``box``) by the anchor's.

        ``ab - G(ab) + G(anchor) = ab + G(anchor - ab)`` with G a Gaussian
        low-pass of ``sigma`` px, run on a grid ``step`` times coarser (block
        means, then bilinear upsampling): G has no detail finer than that.
        """
        from scipy.ndimage import gaussian_filter

        d = self.region(box) - ab
        h, w = d.shape[:2]
        step = max(1, int(self.sigma // 4))
        if step > 1:
            hs, ws = -(-h // step), -(-w // step)
            dp = np.pad(d, ((0, hs * step - h), (0, ws * step - w), (0, 0)), mode="edge")
            small = dp.reshape(hs, step, ws, step, 2).mean(axis=(1, 3), dtype=np.float32)
            small = gaussian_filter(
                small, (self.sigma / step, self.sigma / step, 0), mode="reflect", truncate=3.0
            )
            low = _bilinear(small, (step, step), (0, 0, h, w))
        else:
            low = gaussian_filter(d, (self.sigma, self.sigma, 0), mode="reflect", truncate=3.0)
        return (ab + low).astype(np.float32)


def _interp_matrix(n0: int, n1: int, f: int, size: int) -> tuple[np.ndarray, int]:
    """Linear-interpolation weights (n1 - n0, k) from a coarse axis of ``size`` to fine pixels n0..n1, and the first coarse index."""
    c = np.clip((np.arange(n0, n1) + 0.5) / f - 0.5, 0, size - 1)
    i0 = np.minimum(np.floor(c).astype(int), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    w = (c - i0).astype(np.float32)
    lo = int(i0.min())
    m = np.zeros((n1 - n0, int(i1.max()) - lo + 1), np.float32)
    rows = np.arange(n1 - n0)
    np.add.at(m, (rows, i0 - lo), 1 - w)
    np.add.at(m, (rows, i1 - lo), w)
    return m, lo


def _bilinear(a: np.ndarray, factor: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """Bilinear upsampling of ``a`` (hs, ws, C) by ``factor``, over ``box`` of the upsampled grid (pixel centres aligned).

    Separable: two small matrix products per channel.
    """
    y0, x0, y1, x1 = box
    my, ly = _interp_matrix(y0, y1, factor[0], a.shape[0])
    mx, lx = _interp_matrix(x0, x1, factor[1], a.shape[1])
    sub = np.asarray(a[ly : ly + my.shape[1], lx : lx + mx.shape[1]], np.float32)
    out = np.empty((y1 - y0, x1 - x0, a.shape[2]), np.float32)
    for c in range(a.shape[2]):
        out[..., c] = my @ sub[..., c] @ mx.T
    return out


def _anchor_factor(shape: tuple[int, int], size: int) -> tuple[int, int]:
    f = max(1, math.ceil(max(shape) / max(size, 1)))
    return (min(f, shape[0]), min(f, shape[1]))


def _anchor_sigma(factor: tuple[int, int], tile: int) -> float:
    return float(max(2.0 * max(factor), 1.0) if tile <= 0 else min(max(2.0 * max(factor), 1.0), tile / 4.0))


def _downscale(L: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    fy, fx = factor
    hs, ws = L.shape[0] // fy, L.shape[1] // fx
    return L[: hs * fy, : ws * fx].reshape(hs, fy, ws, fx).mean(axis=(1, 3), dtype=np.float32)


def _anchor_from_small(
    small: np.ndarray, model: Any, block: int, factor: tuple[int, int], sigma: float
) -> _Anchor:
    ab = _predict_padded(model, np.asarray(small, np.float32)[None], block)[0]
    return _Anchor(ab, factor, sigma)


# -- tiles -----------------------------------------------------------------------------------


def _batches(tiles: Sequence[Tile], batch_size: int) -> list[list[Tile]]:
    groups: dict[tuple[int, int], list[Tile]] = {}
    for t in tiles:
        groups.setdefault(t.read_shape, []).append(t)
    out = []
    for group in groups.values():
        for i in range(0, len(group), batch_size):
            out.append(group[i : i + batch_size])
    return out


class _TileCache:
    """Write-box ab of tiles that neighbouring dask chunks share.

    A tile crossing a chunk border is needed by several chunks; the first
    to run it keeps its ab here until every chunk that needs it has taken
    it (or ``max_bytes`` is reached: then it is simply run again).
    """

    def __init__(self, needs: dict[Any, int], max_bytes: int = 512 << 20) -> None:
        self.needs = dict(needs)
        self.max_bytes = max_bytes
        self.data: dict[Any, np.ndarray] = {}
        self.nbytes = 0
        self._lock = threading.Lock()

    def take(self, key: Any) -> np.ndarray | None:
        with self._lock:
            a = self.data.get(key)
            if a is not None:
                self.needs[key] -= 1
                if self.needs[key] <= 0:
                    del self.data[key]
                    self.nbytes -= a.nbytes
            return a

    def give(self, key: Any, a: np.ndarray) -> None:
        with self._lock:
            self.needs[key] = self.needs.get(key, 1) - 1
            if self.needs[key] > 0 and key not in self.data and self.nbytes + a.nbytes <= self.max_bytes:
                self.data[key] = a
                self.nbytes += a.nbytes


def _predict_or_split(model: Any, L: np.ndarray, block: int, halo: int) -> np.ndarray:
    """Predict one (h, w) read box; if it runs out of memory, tile it in turn (halo kept).

    Used where the tile plan cannot change any more (the dask path, whose chunks follow the
    plan): a box that does not fit is cut into sub-tiles of half its size, each with the same
    halo, and their write boxes are put together (recursively).  With a halo at least the
    receptive field the result equals the whole box's prediction.  Raises ``_TileOOM`` when
    the sub-tiles would be smaller than the block size or no smaller than the box.
    """
    try:
        return _predict_padded(model, L[None], block)[0]
    except _TileOOM:
        pass
    h, w = L.shape
    new = (max(h, w) // 2 // block) * block
    if new < max(block, 8) or new + 2 * halo >= max(h, w):
        raise _TileOOM(f"out of memory even on {h}x{w} px")
    warnings.warn(
        f"model out of memory on a tile of {h}x{w} px; predicting it in sub-tiles of {new} px",
        TileOOMWarning,
        stacklevel=user_stacklevel(),
    )
    sub = plan_tiles((h, w), tile=new, overlap=0, halo=halo, block_size=block)
    merger = Merger(sub, "crop")
    for t in sub.tiles:
        y0, x0, y1, x1 = t.read
        ab = _predict_or_split(model, np.ascontiguousarray(L[y0:y1, x0:x1]), block, halo)
        merger.add(t, np.ascontiguousarray(ab[t.write_in_read()]))
    return merger.result()


def _run_tiles(
    read: Callable[[Tile], np.ndarray],
    tiles: Sequence[Tile],
    merger: Merger,
    model: Any,
    block: int,
    batch_size: int,
    anchor: _Anchor | None,
    prog: _Progress,
    cache: _TileCache | None = None,
    cache_key: Any = (),
    split_halo: int | None = None,
) -> np.ndarray:
    todo = []
    for t in tiles:
        a = cache.take(cache_key + (t.index,)) if cache is not None else None
        if a is None:
            todo.append(t)
        else:
            merger.add(t, a)
    for group in _batches(todo, batch_size):
        prog.check()
        x = np.stack([read(t) for t in group])
        try:
            ab = _predict_padded(model, x, block)
        except _TileOOM:
            if split_halo is None:
                raise
            # tile by tile, each split only if it alone does not fit
            ab = np.stack([_predict_or_split(model, xi, block, split_halo) for xi in x])
        for t, a in zip(group, ab):
            if anchor is not None:
                a = anchor.apply(a, t.read)
            a = np.ascontiguousarray(a[t.write_in_read()])
            merger.add(t, a)
            if cache is not None:
                cache.give(cache_key + (t.index,), a)
        prog.step(len(group))
    return merger.result()


def _default_batch(plan: TilePlan, batch_size: int | None) -> int:
    if batch_size is not None:
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        return int(batch_size)
    rh, rw = plan.read_shape
    return int(max(1, min(16, BATCH_PIXELS // max(rh * rw, 1))))


def _check_plane(L: np.ndarray) -> np.ndarray:
    from .methods.base import check_L

    return check_L(L, ndim=2)


def _check_array(L: Any) -> None:
    shape = tuple(L.shape)
    if len(shape) < 2:
        raise InputError(f"L must be an array (..., H, W) with at least 2 dimensions, got shape {shape}")
    if any(s == 0 for s in shape):
        raise InputError(f"L is empty (shape {shape})")
    dt = np.dtype(L.dtype)
    if not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer) or dt.kind == "b"):
        raise InputError(f"L must be numeric, got dtype {dt}")


# -- public ----------------------------------------------------------------------------------


def colorize(
    L: Any,
    model: Any,
    *,
    tile: int | str | None = None,
    overlap: int | float | None = None,
    blend: str = "gaussian",
    global_anchor: bool = False,
    batch_size: int | None = None,
    halo: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EngineResult:
    """Predict ab for L (..., H, W) with ``model``.

    Parameters
    ----------
    L : ndarray or dask array (..., H, W)
        Lightness 0..100.  Leading axes (time, z, ...) are processed plane
        by plane.  A dask array gives a lazy dask result.
    model : Colorizer
        Anything with ``predict_ab`` (and optionally ``predict_ab_batch``,
        ``block_size``, ``receptive_field``, ``default_tile``,
        ``default_overlap``).
    tile : int, "auto" or None
        Write-box size in px (rounded down to the block size); ``"auto"``
        uses ``model.default_tile``; None colorizes each plane whole.
    overlap : int or float, optional
        Overlap of tiles, px or a fraction of the tile; must be < tile.
        Defaults to ``model.default_overlap`` (kept below the tile).
    blend : {"gaussian", "hann", "average", "max", "crop"}
        How overlapping tiles are merged (see :class:`~napari_colorize.tiling.Merger`).
    global_anchor : bool
        Colorize a downscaled copy of each plane once (at about the tile
        size) and replace each tile's low-frequency ab by the anchor's,
        keeping the tile's high-frequency detail.  Removes color drift
        between tiles.  Ignored when untiled (``tile=None``).
    batch_size : int, optional
        Tiles per model call (default: about 1 MP of tiles, at most 16).
    halo : int, optional
        Context around each tile, px.  Defaults to ``model.receptive_field``
        capped at a quarter of the tile.
    progress : callable(done, total), optional
        Called after each batch of tiles (or plane when untiled).
    should_stop : callable() -> bool, optional
        Polled before each batch; True raises :class:`~napari_colorize.errors.Cancelled`.

    Returns
    -------
    EngineResult
        ``ab`` (..., H, W, 2) float32 (dask when ``L`` is dask) and the tile
        plan of a plane (None when untiled).

    Raises
    ------
    InputError
        Empty, non-numeric or NaN input.
    ConfigError
        Tile smaller than the block size, overlap >= tile, unknown blend.
    """
    if blend not in BLENDS:
        raise ConfigError(f"unknown blend {blend!r}; choose one of {', '.join(BLENDS)}")
    if not _is_dask(L):
        L = np.asarray(L)
    _check_array(L)
    block = max(1, _model_int(model, "block_size", 1))
    H, W = int(L.shape[-2]), int(L.shape[-1])
    plan: TilePlan | None = None
    tile_px = 0
    if tile is not None:
        tile_px, ov, h = resolve_tiling(
            L.shape,
            tile=tile,
            overlap=overlap,
            halo=halo,
            block_size=block,
            receptive_field=_model_int(model, "receptive_field", 0),
            default_tile=_model_int(model, "default_tile", 512),
            default_overlap=_model_int(model, "default_overlap", 64),
        )
        plan = plan_tiles((H, W), tile=tile_px, overlap=ov, halo=h, block_size=block)
    anchor_size = tile_px if tile_px else _model_int(model, "default_tile", 512)
    opts = dict(
        blend=blend,
        global_anchor=bool(global_anchor),
        batch_size=batch_size,
        block=block,
        anchor_size=anchor_size,
    )
    if _is_dask(L):
        return _colorize_dask(L, model, plan, progress=progress, should_stop=should_stop, **opts)
    return _colorize_numpy(
        L, model, plan, progress=progress, should_stop=should_stop, overlap=overlap, halo=halo, **opts
    )


def _colorize_numpy(
    L: np.ndarray,
    model: Any,
    plan: TilePlan | None,
    *,
    blend: str,
    global_anchor: bool,
    batch_size: int | None,
    block: int,
    anchor_size: int,
    progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
    overlap: int | float | None,
    halo: int | None,
) -> EngineResult:
    lead = L.shape[:-2]
    planes = L.reshape((-1,) + L.shape[-2:])
    n = planes.shape[0]
    out = np.empty(planes.shape + (2,), np.float32)
    per_plane = len(plan) if plan is not None else 1
    prog = _Progress(
        n * (per_plane + (1 if global_anchor and plan is not None else 0)), progress, should_stop
    )
    for i in range(n):
        Lp = _check_plane(planes[i])
        while True:
            try:
                out[i] = _plane_numpy(
                    Lp,
                    model,
                    plan,
                    blend=blend,
                    global_anchor=global_anchor,
                    batch_size=batch_size,
                    block=block,
                    anchor_size=anchor_size,
                    prog=prog,
                )
                break
            except _TileOOM:
                old = plan.tile if plan is not None else Lp.shape
                new = max(old) // 2
                new = (new // block) * block
                if new < max(block, 8):
                    raise ColorizeError(
                        f"the model ran out of memory even on tiles of {max(old)} px; free memory or use a smaller model"
                    ) from None
                warnings.warn(
                    f"model out of memory on tiles of {max(old)} px; retrying with tiles of {new} px",
                    TileOOMWarning,
                    stacklevel=user_stacklevel(),
                )
                t, ov, h = resolve_tiling(
                    Lp.shape,
                    tile=new,
                    overlap=None if plan is None else min(plan.overlap, new // 2),
                    halo=None if plan is None else min(plan.halo, new // 4),
                    block_size=block,
                    receptive_field=_model_int(model, "receptive_field", 0),
                    default_tile=new,
                    default_overlap=_model_int(model, "default_overlap", 64),
                )
                plan = plan_tiles(Lp.shape, tile=t, overlap=ov, halo=h, block_size=block)
                per_plane = len(plan)
                prog = _Progress(n * (per_plane + (1 if global_anchor else 0)), progress, should_stop)
                prog.done = i * (per_plane + (1 if global_anchor else 0))
    return EngineResult(out.reshape(lead + L.shape[-2:] + (2,)), plan)


def _plane_numpy(
    Lp: np.ndarray,
    model: Any,
    plan: TilePlan | None,
    *,
    blend: str,
    global_anchor: bool,
    batch_size: int | None,
    block: int,
    anchor_size: int,
    prog: _Progress,
) -> np.ndarray:
    if plan is None:
        prog.check()
        ab = _predict_padded(model, Lp[None], block)[0]
        prog.step()
        return ab
    anchor = None
    if global_anchor:
        prog.check()
        factor = _anchor_factor(Lp.shape, anchor_size)
        anchor = _anchor_from_small(
            _downscale(Lp, factor), model, block, factor, _anchor_sigma(factor, max(plan.tile))
        )
        prog.step()
    merger = Merger(plan, blend)

    def read(t: Tile) -> np.ndarray:
        y0, x0, y1, x1 = t.read
        return Lp[y0:y1, x0:x1]

    return _run_tiles(read, plan.tiles, merger, model, block, _default_batch(plan, batch_size), anchor, prog)


# -- dask ------------------------------------------------------------------------------------


def _axis_chunks(starts: list[int], n: int, stride: int) -> list[int]:
    """Chunk boundaries along an axis at tile starts, about DASK_CHUNK apart."""
    k = max(1, round(DASK_CHUNK / max(stride, 1)))
    cuts = [0] + [s for s in starts[k::k]] + [n]
    return sorted(set(cuts))


def _colorize_dask(
    L: Any,
    model: Any,
    plan: TilePlan | None,
    *,
    blend: str,
    global_anchor: bool,
    batch_size: int | None,
    block: int,
    anchor_size: int,
    progress: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
) -> EngineResult:
    import dask
    import dask.array as da

    L = L.astype(np.float32) if L.dtype != np.float32 else L
    lead = L.shape[:-2]
    H, W = L.shape[-2:]
    if plan is None:
        # untiled: one task per plane
        Lw = L.rechunk({L.ndim - 2: -1, L.ndim - 1: -1})
        nplanes = int(np.prod(lead)) if lead else 1
        prog = _Progress(nplanes, progress, should_stop)

        def whole(block_L: np.ndarray) -> np.ndarray:
            planes = block_L.reshape((-1,) + block_L.shape[-2:])
            out = np.empty(planes.shape + (2,), np.float32)
            for i, p in enumerate(planes):
                prog.check()
                out[i] = _predict_padded(model, _check_plane(p)[None], block)[0]
                prog.step()
            return out.reshape(block_L.shape + (2,))

        ab = Lw.map_blocks(whole, dtype=np.float32, chunks=Lw.chunks + ((2,),), new_axis=L.ndim)
        return EngineResult(ab, None)

    ys = sorted({t.write[0] for t in plan.tiles})
    xs = sorted({t.write[1] for t in plan.tiles})
    ycuts = _axis_chunks(ys, H, max(plan.tile[0] - plan.overlap, 1))
    xcuts = _axis_chunks(xs, W, max(plan.tile[1] - plan.overlap, 1))
    bsize = _default_batch(plan, batch_size)
    # work units: tiles per output chunk (tiles crossing chunk borders run in both)
    chunk_tiles = {}
    for a in range(len(ycuts) - 1):
        for b in range(len(xcuts) - 1):
            box = (ycuts[a], xcuts[b], ycuts[a + 1], xcuts[b + 1])
            chunk_tiles[a, b] = (
                box,
                plan.tiles_in(box) if blend != "crop" else [t for t in plan.tiles if _hits(t.core, box)],
            )
    nplanes = int(np.prod(lead)) if lead else 1
    per_plane = len(plan) + (1 if global_anchor else 0)
    prog = _Progress(nplanes * per_plane, progress, should_stop)
    needs: dict[Any, int] = {}
    for idx in np.ndindex(*lead) if lead else [()]:
        for _, tiles in chunk_tiles.values():
            for t in tiles:
                needs[idx + (t.index,)] = needs.get(idx + (t.index,), 0) + 1
    cache = _TileCache(needs)

    def run_chunk(
        Lreg: np.ndarray,
        region: tuple[int, int, int, int],
        box: tuple[int, int, int, int],
        tiles: list[Tile],
        anchor: Any,
        key: tuple[int, ...],
    ) -> np.ndarray:
        Lreg = _check_plane(np.asarray(Lreg))
        merger = Merger(plan, blend, box)

        def read(t: Tile) -> np.ndarray:
            y0, x0, y1, x1 = t.read
            return Lreg[y0 - region[0] : y1 - region[0], x0 - region[1] : x1 - region[1]]

        try:
            return _run_tiles(
                read, tiles, merger, model, block, bsize, anchor, prog, cache, key, split_halo=plan.halo
            )
        except _TileOOM:
            raise ColorizeError(
                f"the model ran out of memory on one tile of {max(plan.tile)} px; pass a smaller tile"
            ) from None

    anchor_cache: dict[tuple[int, ...], _Anchor] = {}
    anchor_lock = threading.Lock()
    planes_out = []
    for idx in np.ndindex(*lead) if lead else [()]:
        Lp = L[idx]
        anchor = None
        if global_anchor:
            factor = _anchor_factor((H, W), anchor_size)
            small = da.coarsen(np.mean, Lp, {0: factor[0], 1: factor[1]}, trim_excess=True)

            def get_anchor(
                key: tuple[int, ...], small: Any = small, factor: tuple[int, int] = factor
            ) -> _Anchor:
                # computed once and cached: a caller computing the result band by band
                # must not re-read the whole plane for every band
                with anchor_lock:
                    if key not in anchor_cache:
                        prog.check()
                        s = small.compute(scheduler="sync")
                        anchor_cache[key] = _anchor_from_small(
                            _check_plane(s), model, block, factor, _anchor_sigma(factor, max(plan.tile))
                        )
                        prog.step()
                    return anchor_cache[key]

            anchor = dask.delayed(get_anchor)(idx)
        rows = []
        for a in range(len(ycuts) - 1):
            row = []
            for b in range(len(xcuts) - 1):
                box, tiles = chunk_tiles[a, b]
                region = (
                    min(t.read[0] for t in tiles),
                    min(t.read[1] for t in tiles),
                    max(t.read[2] for t in tiles),
                    max(t.read[3] for t in tiles),
                )
                Lreg = Lp[region[0] : region[2], region[1] : region[3]]
                d = dask.delayed(run_chunk)(Lreg, region, box, tiles, anchor, idx)
                row.append(da.from_delayed(d, shape=(box[2] - box[0], box[3] - box[1], 2), dtype=np.float32))
            rows.append(row)
        planes_out.append(da.concatenate([da.concatenate(row, axis=1) for row in rows], axis=0))
    if lead:
        ab = da.stack(planes_out).reshape(lead + (H, W, 2))
    else:
        ab = planes_out[0]
    return EngineResult(ab, plan)


def _hits(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]

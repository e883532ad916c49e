"""The model-agnostic tile loop: tiles in batches through the model, merged with a blend.

:func:`_run_tiles` reads each tile's box, sends tiles of the same shape to the model in batches
(:func:`_batches`), applies the global anchor, and merges each tile's write box into a
:class:`Merger` (``average``, ``max``, ``gaussian``, ``hann`` or ``crop``).  A tile that alone
does not fit in memory is predicted in sub-tiles (:func:`_predict_or_split`).  On the dask path
a tile crossing a chunk border runs once and its neighbours' parts wait in a :class:`_TileCache`.
:func:`_plane_numpy` runs one in-memory plane.  Only ab is ever merged; L always comes from the
input.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, InputError, user_stacklevel
from ..progress import TileProgress
from ..tiling import BLENDS, Box, Tile, TilePlan
from .anchor import _anchor_factor, _anchor_from_small, _anchor_sigma, _downscale
from .hint_points import _some
from .predict import Predictor, TileOOMWarning, _predict_padded, _TileOOM
from .tile_plan import plan_tiles

if TYPE_CHECKING:
    from ..hints import Hints
    from .anchor import _Anchor
    from .job import _Job


#: smallest blend weight: weights never reach 0 so that borders never give 0/0
MIN_WEIGHT = 1e-3
#: target pixels per model batch when batch_size is not given
BATCH_PIXELS = 1 << 20


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
        self.box: Box = box if box is not None else (0, 0, *plan.shape)
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
    """What each dask chunk needs of the tiles that another chunk ran.

    A tile crossing a chunk border is needed by several chunks (``boxes``: each
    tile's chunk boxes); the first to run it keeps, for each other chunk, only the
    part of its ab that chunk merges (usually a strip as wide as the tiles' overlap,
    not the whole tile: a whole slide keeps a row of such tiles while the next band
    runs) until that chunk takes it.  When ``max_bytes`` would be passed, a part is
    not kept and that chunk simply runs the tile again.
    """

    def __init__(self, boxes: dict[Any, list[Box]], max_bytes: int = 512 << 20) -> None:
        #: per tile, the chunks that have neither run it nor taken their part
        self.pending = {key: set(bs) for key, bs in boxes.items()}
        self.max_bytes = max_bytes
        self.data: dict[tuple[Any, Box], tuple[Box | None, np.ndarray]] = {}
        self.nbytes = 0
        self._lock = threading.Lock()

    def take(self, key: Any, box: Box) -> tuple[Box | None, np.ndarray] | None:
        """Chunk ``box``'s part of tile ``key``: (its box in the plane, or None: nothing to merge; ab)."""
        with self._lock:
            self.pending.get(key, set()).discard(box)
            got = self.data.pop((key, box), None)
            if got is not None:
                self.nbytes -= got[1].nbytes
            return got

    def give(self, key: Any, a: np.ndarray, target: Box, write: Box, box: Box) -> None:
        """Keep each other chunk's part of tile ``key``'s ab ``a`` (over ``write``), run by chunk ``box``."""
        with self._lock:
            for other in self.pending.get(key, set()) - {box}:
                part = _inter(target, other)
                if part is None:  # it only reads the tile: nothing to merge, nothing to run
                    self.data[key, other] = (None, np.empty((0, 0, 2), np.float32))
                    continue
                rows = slice(part[0] - write[0], part[2] - write[0])
                cols = slice(part[1] - write[1], part[3] - write[1])
                kept = a[rows, cols]
                if self.nbytes + kept.nbytes <= self.max_bytes:
                    self.data[key, other] = (part, np.ascontiguousarray(kept))
                    self.nbytes += kept.nbytes


def _predict_or_split(
    model: Predictor, L: np.ndarray, block: int, halo: int, hints: Any = None
) -> np.ndarray:
    """Predict one (h, w) read box; if it runs out of memory, tile it in turn (halo kept).

    Used where the tile plan cannot change any more (the dask path, whose chunks follow the
    plan): a box that does not fit is cut into sub-tiles of half its size, each with the same
    halo, and their write boxes are put together (recursively).  With a halo at least the
    receptive field the result equals the whole box's prediction.  Raises ``_TileOOM`` when
    the sub-tiles would be smaller than the block size or no smaller than the box.
    """
    try:
        return _predict_padded(model, L[None], block, None if hints is None else [hints])[0]
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
        sub_hints = None
        if hints is not None:
            sub_hints = hints.crop(y0, y1, x0, x1)
            sub_hints = None if sub_hints.empty else sub_hints
        ab = _predict_or_split(model, np.ascontiguousarray(L[y0:y1, x0:x1]), block, halo, sub_hints)
        merger.add(t, np.ascontiguousarray(ab[t.write_in_read()]))
    return merger.result()


def _run_tiles(
    read: Callable[[Tile], np.ndarray],
    tiles: Sequence[Tile],
    merger: Merger,
    model: Predictor,
    block: int,
    batch_size: int,
    anchor: _Anchor | None,
    prog: TileProgress,
    cache: _TileCache | None = None,
    cache_key: Any = (),
    split_halo: int | None = None,
    hints: Hints | None = None,
) -> np.ndarray:
    todo = []
    for t in tiles:
        got = cache.take(cache_key + (t.index,), merger.box) if cache is not None else None
        if got is None:
            todo.append(t)
        elif got[0] is not None:
            merger.add(t, got[1], part=got[0])
    for group in _batches(todo, batch_size):
        prog.check()
        x = np.stack([read(t) for t in group])
        hs = None if hints is None else [_some(hints.box(t.read)) for t in group]
        if anchor is not None and anchor.border:
            hs = [
                anchor.border_hints(None if hs is None else hs[k], t.read, x[k]) for k, t in enumerate(group)
            ]
        try:
            ab = _predict_padded(model, x, block, hs)
        except _TileOOM:
            if split_halo is None:
                raise
            # tile by tile, each split only if it alone does not fit
            ab = np.stack(
                [
                    _predict_or_split(model, xi, block, split_halo, None if hs is None else hs[k])
                    for k, xi in enumerate(x)
                ]
            )
        for t, a in zip(group, ab):
            if anchor is not None and not anchor.border:
                a = anchor.apply(a, t.read)
            a = np.ascontiguousarray(a[t.write_in_read()])
            merger.add(t, a)
            if cache is not None:
                cache.give(cache_key + (t.index,), a, merger.target(t), t.write, merger.box)
        prog.step(len(group))
    return merger.result()


def _default_batch(plan: TilePlan, batch_size: int | None) -> int:
    if batch_size is not None:
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        return int(batch_size)
    rh, rw = plan.read_shape
    return int(max(1, min(16, BATCH_PIXELS // max(rh * rw, 1))))


def _plane_numpy(
    Lp: np.ndarray,
    model: Predictor,
    plan: TilePlan | None,
    job: _Job,
    prog: TileProgress,
    hints: Hints | None = None,
) -> np.ndarray:
    block = job.block
    if plan is None:
        prog.check()
        ab = _predict_padded(model, Lp[None], block, None if hints is None else [hints])[0]
        prog.step()
        return ab
    anchor = None
    if job.opts.global_anchor:
        prog.check()
        factor = _anchor_factor(Lp.shape, job.anchor_size, job.border_anchor)
        anchor = _anchor_from_small(
            _downscale(Lp, factor),
            model,
            block,
            factor,
            _anchor_sigma(factor, max(plan.tile)),
            hints,
            Lp.shape,
            job.border_anchor,
        )
        prog.step()
    merger = Merger(plan, job.opts.blend)

    def read(t: Tile) -> np.ndarray:
        y0, x0, y1, x1 = t.read
        return Lp[y0:y1, x0:x1]

    bsize = _default_batch(plan, job.opts.batch_size)
    return _run_tiles(read, plan.tiles, merger, model, block, bsize, anchor, prog, hints=hints)

"""The dask path: a lazy ab whose chunks each run the tiles that touch them.

Output chunks (about :data:`DASK_CHUNK` px, cut at tile starts) read only the L they need, so a
100-megapixel image never sits in memory as float32 at once.  A tile crossing a chunk border is
run once and kept until its other chunks have used it (:class:`~.tile_loop._TileCache`).  With
``global_anchor`` the low-res whole-plane pass is computed once (a coarsened read of the plane)
and cached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ColorizeError
from ..progress import ProgressCallback, StopCallback, TileProgress
from ..tiling import Box, Tile, TilePlan
from .anchor import _Anchor, _anchor_factor, _anchor_from_small, _anchor_sigma
from .hint_points import _some
from .job import EngineResult, _Job
from .predict import Predictor, _check_plane, _predict_padded, _TileOOM
from .tile_loop import Merger, _default_batch, _run_tiles, _TileCache

if TYPE_CHECKING:
    from ..hints import Hints


#: target side of a dask output chunk, px (a whole number of tile strides)
DASK_CHUNK = 2048


def _axis_chunks(starts: list[int], n: int, stride: int) -> list[int]:
    """Chunk boundaries along an axis at tile starts, about DASK_CHUNK apart."""
    k = max(1, round(DASK_CHUNK / max(stride, 1)))
    cuts = [0] + [s for s in starts[k::k]] + [n]
    return sorted(set(cuts))


def _chunk_layout(
    plan: TilePlan, shape: tuple[int, int], blend: str
) -> tuple[list[int], list[int], dict[tuple[int, int], tuple[Box, list[Tile], Box]]]:
    """Output chunks at tile starts: (row cuts, column cuts, {(a, b): (box, tiles, read region)})."""
    H, W = shape
    ys = sorted({t.write[0] for t in plan.tiles})
    xs = sorted({t.write[1] for t in plan.tiles})
    ycuts = _axis_chunks(ys, H, max(plan.tile[0] - plan.overlap, 1))
    xcuts = _axis_chunks(xs, W, max(plan.tile[1] - plan.overlap, 1))
    layout = {}
    for a in range(len(ycuts) - 1):
        for b in range(len(xcuts) - 1):
            box = (ycuts[a], xcuts[b], ycuts[a + 1], xcuts[b + 1])
            tiles = plan.tiles_in(box) if blend != "crop" else [t for t in plan.tiles if _hits(t.core, box)]
            region = (
                min(t.read[0] for t in tiles),
                min(t.read[1] for t in tiles),
                max(t.read[2] for t in tiles),
                max(t.read[3] for t in tiles),
            )
            layout[a, b] = (box, tiles, region)
    return ycuts, xcuts, layout


def _chunk_ab(
    Lreg: np.ndarray,
    region: Box,
    box: Box,
    tiles: list[Tile],
    anchor: _Anchor | None,
    model: Predictor,
    plan: TilePlan,
    job: _Job,
    prog: TileProgress,
    cache: _TileCache | None = None,
    key: tuple[int, ...] = (),
    hints: Hints | None = None,
) -> np.ndarray:
    """ab of one output chunk ``box`` from the L of its read ``region``: its tiles, blended."""
    Lreg = _check_plane(np.asarray(Lreg))
    merger = Merger(plan, job.opts.blend, box)

    def read(t: Tile) -> np.ndarray:
        y0, x0, y1, x1 = t.read
        return Lreg[y0 - region[0] : y1 - region[0], x0 - region[1] : x1 - region[1]]

    bsize = _default_batch(plan, job.opts.batch_size)
    try:
        return _run_tiles(
            read,
            tiles,
            merger,
            model,
            job.block,
            bsize,
            anchor,
            prog,
            cache,
            key,
            split_halo=plan.halo,
            hints=hints,
        )
    except _TileOOM:
        raise ColorizeError(
            f"the model ran out of memory on one tile of {max(plan.tile)} px; pass a smaller tile"
        ) from None


def _colorize_dask(
    L: Any,
    model: Predictor,
    plan: TilePlan | None,
    job: _Job,
    pts: Hints | None = None,
    *,
    progress: ProgressCallback | None,
    should_stop: StopCallback | None,
) -> EngineResult:
    import dask.array as da
    from dask.delayed import delayed

    L = L.astype(np.float32) if L.dtype != np.float32 else L
    lead = L.shape[:-2]
    H, W = L.shape[-2:]
    block = job.block
    if plan is None:
        # untiled: one task per plane
        Lw = L.rechunk({L.ndim - 2: -1, L.ndim - 1: -1})
        nplanes = int(np.prod(lead)) if lead else 1
        prog = TileProgress(nplanes, progress, should_stop)

        def whole(block_L: np.ndarray, block_info: Any = None) -> np.ndarray:
            planes = block_L.reshape((-1,) + block_L.shape[-2:])
            out = np.empty(planes.shape + (2,), np.float32)
            for i, (p, h) in enumerate(zip(planes, _block_hints(pts, block_L.shape, block_info))):
                prog.check()
                out[i] = _predict_padded(model, _check_plane(p)[None], block, None if h is None else [h])[0]
                prog.step()
            return out.reshape(block_L.shape + (2,))

        ab = Lw.map_blocks(whole, dtype=np.float32, chunks=Lw.chunks + ((2,),), new_axis=L.ndim)
        return EngineResult(ab, None)

    ycuts, xcuts, layout = _chunk_layout(plan, (H, W), job.opts.blend)
    global_anchor = job.opts.global_anchor
    nplanes = int(np.prod(lead)) if lead else 1
    per_plane = len(plan) + (1 if global_anchor else 0)
    prog = TileProgress(nplanes * per_plane, progress, should_stop)
    boxes: dict[Any, list[Box]] = {}
    for idx in np.ndindex(*lead) if lead else [()]:
        for box, tiles, _ in layout.values():
            for t in tiles:
                boxes.setdefault(idx + (t.index,), []).append(box)
    cache = _TileCache(boxes)

    plane_hints = {idx: _some(pts.plane(idx)) for idx in np.ndindex(*lead)} if pts is not None else {}

    def run_chunk(
        Lreg: np.ndarray, region: Box, box: Box, tiles: list[Tile], anchor: Any, key: tuple[int, ...]
    ) -> np.ndarray:
        return _chunk_ab(
            Lreg, region, box, tiles, anchor, model, plan, job, prog, cache, key, plane_hints.get(key)
        )

    anchor_cache: dict[tuple[int, ...], _Anchor] = {}
    anchor_lock = threading.Lock()
    planes_out = []
    for idx in np.ndindex(*lead) if lead else [()]:
        Lp = L[idx]
        anchor = None
        if global_anchor:
            factor = _anchor_factor((H, W), job.anchor_size, job.border_anchor)
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
                            _check_plane(s),
                            model,
                            block,
                            factor,
                            _anchor_sigma(factor, max(plan.tile)),
                            plane_hints.get(key),
                            (H, W),
                            job.border_anchor,
                        )
                        prog.step()
                    return anchor_cache[key]

            anchor = delayed(get_anchor)(idx)
        planes_out.append(
            _assemble(Lp, layout, ycuts, xcuts, lambda *a, idx=idx: delayed(run_chunk)(*a, idx), anchor)
        )
    ab = da.stack(planes_out).reshape(lead + (H, W, 2)) if lead else planes_out[0]
    return EngineResult(ab, plan)


def _assemble(
    Lp: Any,
    layout: dict[tuple[int, int], tuple[Box, list[Tile], Box]],
    ycuts: list[int],
    xcuts: list[int],
    task: Callable[..., Any],
    anchor: Any,
) -> Any:
    """One plane's lazy ab from one delayed ``task(Lreg, region, box, tiles, anchor)`` per chunk."""
    import dask.array as da

    rows = []
    for a in range(len(ycuts) - 1):
        row = []
        for b in range(len(xcuts) - 1):
            box, tiles, region = layout[a, b]
            Lreg = Lp[region[0] : region[2], region[1] : region[3]]
            d = task(Lreg, region, box, tiles, anchor)
            row.append(da.from_delayed(d, shape=(box[2] - box[0], box[3] - box[1], 2), dtype=np.float32))
        rows.append(row)
    return da.concatenate([da.concatenate(row, axis=1) for row in rows], axis=0)


def _hits(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


def _block_hints(pts: Hints | None, shape: tuple[int, ...], block_info: Any) -> list[Any]:
    """The hints (or None) of each plane of a dask block of whole planes."""
    n = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    if pts is None or block_info is None or None not in block_info:
        return [None] * n
    loc = block_info[None]["array-location"][:-3]  # leading axes (the ab output has one more)
    ranges = [range(a, b) for a, b in loc]
    out = []
    for idx in np.ndindex(*[len(r) for r in ranges]) if ranges else [()]:
        out.append(_some(pts.plane(tuple(r[k] for r, k in zip(ranges, idx)))))
    return out

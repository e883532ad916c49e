"""The distributed path: the dask path with only module-level functions and small values in the graph.

Under an active ``distributed.Client`` the graph holds a :class:`~.models.ModelRef`, the tile
plan and the options; each worker loads the model once (:func:`~.models.cached_model`).  The
blend is the one of the local path, so the results are equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..progress import TileProgress
from ..tiling import Box, Tile, TilePlan
from .anchor import _Anchor, _anchor_factor, _anchor_from_small, _anchor_sigma
from .hint_points import _some
from .job import EngineResult, _Job
from .lazy import _assemble, _block_hints, _chunk_ab, _chunk_layout
from .models import ModelRef, cached_model
from .predict import _check_plane, _predict_padded

if TYPE_CHECKING:
    from ..hints import Hints


def _distributed_client() -> Any:
    """The active ``distributed.Client``, or None (no client, or distributed not installed)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _remote_anchor(
    small: np.ndarray,
    ref: ModelRef,
    job: _Job,
    factor: tuple[int, int],
    tile: int,
    hints: Hints | None = None,
    shape: tuple[int, int] | None = None,
) -> _Anchor:
    model = cached_model(ref)
    return _anchor_from_small(
        _check_plane(small),
        model,
        job.block,
        factor,
        _anchor_sigma(factor, tile),
        hints,
        shape,
        job.border_anchor,
    )


def _remote_chunk(
    Lreg: np.ndarray,
    region: Box,
    box: Box,
    tiles: list[Tile],
    anchor: _Anchor | None,
    ref: ModelRef,
    plan: TilePlan,
    job: _Job,
    hints: Hints | None = None,
) -> np.ndarray:
    return _chunk_ab(
        Lreg, region, box, tiles, anchor, cached_model(ref), plan, job, TileProgress(0), hints=hints
    )


def _remote_planes(
    block_L: np.ndarray,
    ref: ModelRef,
    block: int,
    pts: Hints | None = None,
    block_info: Any = None,
) -> np.ndarray:
    model = cached_model(ref)
    planes = block_L.reshape((-1,) + block_L.shape[-2:])
    out = np.empty(planes.shape + (2,), np.float32)
    for i, (p, h) in enumerate(zip(planes, _block_hints(pts, block_L.shape, block_info))):
        out[i] = _predict_padded(model, _check_plane(p)[None], block, None if h is None else [h])[0]
    return out.reshape(block_L.shape + (2,))


def _colorize_dask_distributed(
    L: Any, ref: ModelRef, plan: TilePlan | None, job: _Job, pts: Hints | None = None
) -> EngineResult:
    """The dask path for a distributed cluster: only module-level functions and small values in the graph.

    Tiles that cross a chunk border run once per chunk (processes share no cache); the
    blend is the same as on the local path, so the result is the same.
    """
    import dask.array as da
    from dask.delayed import delayed

    L = L.astype(np.float32) if L.dtype != np.float32 else L
    lead = L.shape[:-2]
    H, W = L.shape[-2:]
    if plan is None:
        Lw = L.rechunk({L.ndim - 2: -1, L.ndim - 1: -1})
        ab = Lw.map_blocks(
            _remote_planes,
            ref,
            job.block,
            pts,
            dtype=np.float32,
            chunks=Lw.chunks + ((2,),),
            new_axis=L.ndim,
        )
        return EngineResult(ab, None)
    ycuts, xcuts, layout = _chunk_layout(plan, (H, W), job.opts.blend)
    plan_d = delayed(plan, pure=True)
    planes_out = []
    for idx in np.ndindex(*lead) if lead else [()]:
        Lp = L[idx]
        hp = None if pts is None else _some(pts.plane(idx))
        hp_d = None if hp is None else delayed(hp, pure=True, traverse=False)
        anchor = None
        if job.opts.global_anchor:
            factor = _anchor_factor((H, W), job.anchor_size, job.border_anchor)
            small = da.coarsen(np.mean, Lp, {0: factor[0], 1: factor[1]}, trim_excess=True)
            anchor = delayed(_remote_anchor, pure=True)(
                small, ref, job, factor, max(plan.tile), hp_d, (H, W)
            )

        def task(*a: Any, hp_d: Any = hp_d) -> Any:
            return delayed(_remote_chunk, pure=True)(*a, ref, plan_d, job, hp_d)

        planes_out.append(_assemble(Lp, layout, ycuts, xcuts, task, anchor))
    ab = da.stack(planes_out).reshape(lead + (H, W, 2)) if lead else planes_out[0]
    return EngineResult(ab, plan)

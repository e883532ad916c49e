""":func:`colorize`, the engine's entry point: checks, the tile plan, then one of the paths.

The paths: in memory (:func:`_colorize_numpy`, plane by plane, retried with smaller tiles on
out of memory), dask (:mod:`.lazy`), distributed (:mod:`.remote`), or a whole stack for a
``stack_aware`` model with hints (:func:`_predict_stack`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ColorizeError, user_stacklevel
from ..progress import ProgressCallback, StopCallback, TileProgress
from ..request import check_stack_smoothing
from ..tiling import TilePlan, TilingOptions
from .anchor import BORDER_HALO
from .hint_points import _checked_hints, _some
from .job import EngineResult, _Job
from .lazy import _colorize_dask
from .models import ModelRef, cached_model, model_ref
from .predict import (
    Predictor,
    TileOOMWarning,
    _check_ab_shape,
    _check_array,
    _check_plane,
    _is_dask,
    _model_int,
    _TileOOM,
)
from .remote import _colorize_dask_distributed, _distributed_client
from .smoothing import _smooth
from .tile_loop import _plane_numpy
from .tile_plan import plan_tiles, resolve_tiling

if TYPE_CHECKING:
    from ..hints import Hints


def colorize(
    L: Any,
    model: Predictor | ModelRef,
    options: TilingOptions | dict[str, Any] | None = None,
    *,
    hints: Any = None,
    stack_smoothing: float = 0.0,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    **tiling: Any,
) -> EngineResult:
    """Predict ab for L (..., H, W) with ``model``, optionally guided by color hints.

    Parameters
    ----------
    L : ndarray or dask array (..., H, W)
        Lightness 0..100.  Leading axes (time, z, ...) are processed plane
        by plane.  A dask array gives a lazy dask result.
    model : Predictor or ModelRef
        Anything with ``predict_ab`` (see :class:`Predictor`), or a reference to a model folder.
    options : TilingOptions or dict, optional
        How to tile and merge (see :class:`~napari_colorize.tiling.TilingOptions`); the
        default colorizes each plane whole.
    hints : Hints, optional
        Color hints over ``L.shape`` (:class:`~napari_colorize.hints.Hints`).  Each plane gets
        its own (``model.predict_ab(L_plane, hints=...)``; tiles get theirs cropped to the box
        they read); None or empty hints give exactly the output without hints.  A model with
        ``stack_aware = True`` gets an untiled stack (T, H, W) whole, so hints on one plane
        color the others; a model with ``needs_global_anchor = True`` tiled with hints gets
        ``global_anchor`` switched on.
    stack_smoothing : float
        Smoothing of ab along the stack axis (-3) where L does not change, for any model
        (:func:`~napari_colorize.hints.smooth_stack`'s ``weight``); 0 (default) is none.
    progress : callable(done, total), optional
        Called after each batch of tiles (or plane when untiled).  Not called on a
        distributed cluster (the work runs in other processes).
    should_stop : callable() -> bool, optional
        Polled before each batch; True raises :class:`~napari_colorize.errors.Cancelled`.
    **tiling
        Fields of :class:`~napari_colorize.tiling.TilingOptions` (``tile=64``, ...),
        applied on top of ``options``.

    Returns
    -------
    EngineResult
        ``ab`` (..., H, W, 2) float32 (dask when ``L`` is dask) and the tile
        plan of a plane (None when untiled).

    Raises
    ------
    InputError
        Empty, non-numeric or NaN input; hints of another shape.
    ConfigError
        Tile smaller than the block size, overlap >= tile, unknown blend or option, negative
        ``stack_smoothing``.
    """
    opts = TilingOptions.coerce(options, **tiling)
    smoothing = check_stack_smoothing(stack_smoothing)
    if not _is_dask(L):
        L = np.asarray(L)
    _check_array(L)
    pts = _checked_hints(hints, tuple(int(s) for s in L.shape))
    ref = model if isinstance(model, ModelRef) else None
    predictor = cached_model(model) if isinstance(model, ModelRef) else model
    if (
        pts is not None
        and opts.tiled
        and not opts.global_anchor
        and getattr(predictor, "needs_global_anchor", False)
    ):
        opts = opts.replace(global_anchor=True)
    res = _colorize(L, predictor, ref, opts, pts, progress=progress, should_stop=should_stop)
    if smoothing > 0 and L.ndim >= 3:
        res = EngineResult(_smooth(L, res.ab, smoothing), res.plan)
    return res


def _colorize(
    L: Any,
    model: Predictor,
    ref: ModelRef | None,
    opts: TilingOptions,
    pts: Hints | None,
    *,
    progress: ProgressCallback | None,
    should_stop: StopCallback | None,
) -> EngineResult:
    """:func:`colorize` after its checks: picks the numpy, dask or distributed path."""
    block = max(1, _model_int(model, "block_size", 1))
    H, W = int(L.shape[-2]), int(L.shape[-1])
    plan: TilePlan | None = None
    tile_px = 0
    border = pts is not None and bool(getattr(model, "needs_global_anchor", False))
    if opts.tiled:
        tile_px, ov, h = resolve_tiling(
            L.shape,
            tile=opts.tile,
            overlap=opts.overlap,
            halo=opts.halo,
            block_size=block,
            # a global solve anchored at the tiles' border: the wider the halo, the less the
            # border's error reaches the write box (default: a quarter tile, at most BORDER_HALO)
            receptive_field=BORDER_HALO if border else _model_int(model, "receptive_field", 0),
            default_tile=_model_int(model, "default_tile", 512),
            default_overlap=_model_int(model, "default_overlap", 64),
        )
        plan = plan_tiles((H, W), tile=tile_px, overlap=ov, halo=h, block_size=block)
    job = _Job(opts, block, tile_px if tile_px else _model_int(model, "default_tile", 512), border)
    stack_aware = pts is not None and L.ndim == 3 and bool(getattr(model, "stack_aware", False))
    # a whole stack in one call: its hints (there are some when stack_aware)
    stack_pts = pts if stack_aware and plan is None else None
    if stack_aware and plan is not None and L.shape[0] > 1:
        warnings.warn(
            "tiled, each plane of the stack is colored from its own hints only; "
            "colorize untiled (tile=None) to spread hints along the stack",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    if _is_dask(L):
        if _distributed_client() is not None:
            ref = ref if ref is not None else model_ref(model)
            if stack_pts is not None:
                return _stack_dask(L, ref, stack_pts)
            return _colorize_dask_distributed(L, ref, plan, job, pts)
        if stack_pts is not None:
            return _stack_dask(L, model, stack_pts)
        return _colorize_dask(L, model, plan, job, pts, progress=progress, should_stop=should_stop)
    if stack_pts is not None:
        prog = TileProgress(1, progress, should_stop)
        prog.check()
        ab = _predict_stack(np.asarray(L), model, stack_pts)
        prog.step()
        return EngineResult(ab, None)
    return _colorize_numpy(L, model, plan, job, pts, progress=progress, should_stop=should_stop)


def _predict_stack(L: np.ndarray, model: Predictor | ModelRef, pts: Hints) -> np.ndarray:
    """ab of a whole stack (T, H, W) from a ``stack_aware`` model, with all its hints in one call."""
    from ..methods.colorizer import check_L

    if isinstance(model, ModelRef):
        model = cached_model(model)
    L = check_L(L, ndim=3)
    ab = np.asarray(model.predict_ab(L, hints=pts), dtype=np.float32)
    _check_ab_shape(model, ab.shape, L.shape)
    return ab


def _stack_dask(L: Any, model: Predictor | ModelRef, pts: Hints) -> EngineResult:
    """The dask path of a ``stack_aware`` model: the stack is one chunk (the solve couples its planes)."""
    Lw = L.astype(np.float32).rechunk(-1)
    ab = Lw.map_blocks(_predict_stack, model, pts, dtype=np.float32, chunks=Lw.chunks + ((2,),), new_axis=3)
    return EngineResult(ab, None)


def _colorize_numpy(
    L: np.ndarray,
    model: Predictor,
    plan: TilePlan | None,
    job: _Job,
    pts: Hints | None = None,
    *,
    progress: ProgressCallback | None,
    should_stop: StopCallback | None,
) -> EngineResult:
    lead = L.shape[:-2]
    planes = L.reshape((-1,) + L.shape[-2:])
    n = planes.shape[0]
    out = np.empty(planes.shape + (2,), np.float32)
    anchored = job.opts.global_anchor and plan is not None
    per_plane = len(plan) if plan is not None else 1
    prog = TileProgress(n * (per_plane + (1 if anchored else 0)), progress, should_stop)
    block = job.block
    lead_idx = list(np.ndindex(*lead)) if lead else [()]
    for i in range(n):
        Lp = _check_plane(planes[i])
        hp = None if pts is None else _some(pts.plane(lead_idx[i]))
        while True:
            try:
                out[i] = _plane_numpy(Lp, model, plan, job, prog, hp)
                break
            except _TileOOM:
                old = plan.tile if plan is not None else Lp.shape
                new = max(old) // 2
                new = (new // block) * block
                if new < max(block, 8):
                    raise ColorizeError(
                        f"the model ran out of memory even on tiles of {max(old)} px; "
                        "free memory or use a smaller model"
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
                anchor_units = 1 if job.opts.global_anchor else 0
                prog = TileProgress(n * (per_plane + anchor_units), progress, should_stop)
                prog.done = i * (per_plane + anchor_units)
    return EngineResult(out.reshape(lead + L.shape[-2:] + (2,)), plan)

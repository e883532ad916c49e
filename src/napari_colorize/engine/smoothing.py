"""Stack smoothing: ab smoothed along a stack where L does not change, for any model."""

from __future__ import annotations

from typing import Any

import numpy as np

from .predict import _is_dask


def _smooth_block(ab: np.ndarray, L: np.ndarray, weight: float) -> np.ndarray:
    """:func:`~napari_colorize.hints.smooth_stack` along axis -3 of (..., T, H, W) L and its ab."""
    from ..hints import smooth_stack

    L = np.asarray(L, np.float32)
    if L.ndim == ab.ndim:  # dask passes L with a trailing length-1 axis
        L = L[..., 0]
    lead = L.shape[:-3]
    Ls = L.reshape((-1,) + L.shape[-3:])
    abs_ = np.asarray(ab, np.float32).reshape(Ls.shape + (2,))
    out = np.stack([smooth_stack(l, a, weight=weight) for l, a in zip(Ls, abs_)])
    return out.reshape(lead + out.shape[1:])


def _smooth(L: Any, ab: Any, weight: float) -> Any:
    """ab smoothed along the stack axis (-3 of L); numpy or dask (one chunk along the stack)."""
    if not _is_dask(ab):
        return _smooth_block(ab, L, weight)
    import dask.array as da

    t_axis = ab.ndim - 4
    ab = ab.rechunk({t_axis: -1})
    Lc = da.asarray(L).astype(np.float32)[..., None].rechunk(ab.chunks[:-1] + ((1,),))
    return da.map_blocks(_smooth_block, ab, Lc, weight, dtype=np.float32)

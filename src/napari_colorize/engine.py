"""Run a model over L arrays of any size: numpy or dask, 2D or stacks.

PLACEHOLDER (untiled only) until the tiling issue lands: see tiling.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import Cancelled, InputError

__all__ = ["colorize", "EngineResult"]


@dataclass
class EngineResult:
    """ab (..., H, W, 2) float32 and the tile plan (None when untiled)."""

    ab: Any
    plan: Any = None


def colorize(
    L: Any,
    model: Any,
    *,
    tile: int | None = None,
    overlap: int | float | None = None,
    blend: str = "gaussian",
    global_anchor: bool = False,
    batch_size: int | None = None,
    halo: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EngineResult:
    """Predict ab for L (..., H, W) with ``model``; returns :class:`EngineResult`."""
    L = np.asarray(L, dtype=np.float32)
    if L.ndim < 2 or L.size == 0:
        raise InputError(f"L must be a non-empty (..., H, W) array, got shape {L.shape}")
    planes = L.reshape((-1,) + L.shape[-2:])
    out = np.empty(planes.shape + (2,), np.float32)
    for i, p in enumerate(planes):
        if should_stop is not None and should_stop():
            raise Cancelled("colorization cancelled")
        out[i] = model.predict_ab(p)
        if progress is not None:
            progress(i + 1, len(planes))
    return EngineResult(out.reshape(L.shape + (2,)), None)

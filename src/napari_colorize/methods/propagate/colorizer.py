"""Method ``propagate``: colorization from color hints by optimization (Levin, Lischinski & Weiss 2004).

No training and no weights: the hints' chroma spreads over the regions of similar lightness, with
the solver of :mod:`napari_colorize.edge_aware_solver`.  Without hints the result is gray (ab = 0).  A
stack (T, H, W) is solved as one volume, with affinities along its first axis (``stack_weight``),
so hints on a few planes color the whole stack consistently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...edge_aware_solver import propagate
from ...errors import InputError
from ..colorizer import Colorizer, check_L
from .config import PropagateConfig

__all__ = ["PropagateColorizer"]


class PropagateColorizer(Colorizer):
    """Colors from hints, spread along the edges of L; needs no training."""

    name = "propagate"
    Config = PropagateConfig
    #: takes hints natively (no fusion with a separate prediction)
    native_hints: ClassVar[bool] = True
    stack_aware: ClassVar[bool] = True
    needs_global_anchor: ClassVar[bool] = True

    def __init__(self, config: PropagateConfig | dict[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.trained = True  # nothing to learn

    @property
    def default_tile(self) -> int:
        return 1024  # a global solve: 1024 px tiles keep a 100 MP run near 1.5 GB (2048: 3.2 GB)

    def fit(
        self, data: Any, *, epochs: int | None = None, callbacks: Sequence[Any] | None = None, **kwargs: Any
    ) -> dict[str, list[float]]:
        """Nothing to learn: returns an empty history (colors come from hints at prediction time)."""
        return {}

    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        """ab (L.shape + (2,)) spread from ``hints`` over L (H, W) or (T, H, W); gray without hints."""
        L = np.asarray(L)
        if L.ndim not in (2, 3):
            raise InputError(f"L must be a plane (H, W) or a stack (T, H, W), got shape {L.shape}")
        L = check_L(L, ndim=L.ndim)
        if hints is None or hints.empty:
            return np.zeros(L.shape + (2,), np.float32)
        hints.check_shape(L.shape)
        return propagate(L, hints.ab, hints.mask, options=self.config)

    def _save_weights(self, folder: Path) -> None:
        """No weights: the folder holds only config.json."""

    def _load_weights(self, folder: Path) -> None:
        """No weights to read."""

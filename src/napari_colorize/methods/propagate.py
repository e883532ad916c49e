"""Method ``propagate``: colorization from color hints by optimization (Levin, Lischinski & Weiss 2004).

No training and no weights: the hints' chroma spreads over the regions of similar lightness, with
the solver of :mod:`napari_colorize.propagation`.  Without hints the result is gray (ab = 0).  A
stack (T, H, W) is solved as one volume, with affinities along its first axis (``stack_weight``),
so hints on a few planes color the whole stack consistently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ..config import Config
from ..errors import InputError
from ..propagation import PropagationOptions, propagate
from .base import Colorizer, check_L

__all__ = ["PropagateConfig", "PropagateColorizer"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PropagateConfig(Config):
    """Config of the ``propagate`` method (the fields of :class:`PropagationOptions`)."""

    method = "propagate"

    sigma: float = dataclasses.field(
        default=3.0, metadata={"help": "affinity width, L units: colors stop at steps of L well above it"}
    )
    variance_scale: float = dataclasses.field(
        default=0.0, metadata={"help": "widen sigma with the local variance of L (Levin et al.: 0.6)"}
    )
    stack_weight: float = dataclasses.field(
        default=1.0, metadata={"help": "affinity between planes of a stack (0: planes apart)"}
    )
    data_weight: float = dataclasses.field(
        default=1e-2,
        metadata={"help": "pull towards gray, over a whole plane (larger: hints act more locally)"},
    )
    solver: Literal["multiscale", "direct"] = dataclasses.field(
        default="multiscale", metadata={"help": "coarse-to-fine (fast) or one exact solve at full resolution"}
    )
    coarse_pixels: int = dataclasses.field(
        default=40_000, metadata={"help": "multiscale: pixels of the coarsest grid, solved exactly"}
    )
    iterations: int = dataclasses.field(
        default=3, metadata={"help": "multiscale: conjugate-gradient steps per finer level"}
    )
    tol: float = dataclasses.field(
        default=1e-3, metadata={"help": "multiscale: relative residual at which a level stops early"}
    )

    def validate(self) -> None:
        self.options()

    def options(self) -> PropagationOptions:
        """The solver options (validated: an invalid value raises ConfigError)."""
        return PropagationOptions(**self.to_dict())


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
        return propagate(L, hints.ab, hints.mask, options=self.config.options())

    def _save_weights(self, folder: Path) -> None:
        """No weights: the folder holds only config.json."""

    def _load_weights(self, folder: Path) -> None:
        """No weights to read."""

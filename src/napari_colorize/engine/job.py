"""One engine call: its options with what the model adds (:class:`_Job`), and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..tiling import TilePlan, TilingOptions
from .anchor import _anchor_factor, _border_anchor_factor


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


@dataclass(frozen=True)
class _Job:
    """The options of one engine call with what was derived from the model (small, picklable)."""

    opts: TilingOptions
    block: int
    anchor_size: int
    #: tiles take the anchor as border hints (a ``needs_global_anchor`` model with hints)
    border_anchor: bool = False

    def anchor_factor(self, shape: tuple[int, int]) -> tuple[int, int]:
        """How much coarser than a plane of ``shape`` its anchor pass is.

        About one tile for the low-frequency anchor; for the border anchor (a global solve)
        as fine as :data:`~.anchor.BORDER_ANCHOR_PIXELS` allows, since its error is the tiles' error.
        """
        if not self.border_anchor:
            return _anchor_factor(shape, self.anchor_size)
        return _border_anchor_factor(shape)

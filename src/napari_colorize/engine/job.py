"""One engine call: its options with what the model adds (:class:`_Job`), and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..tiling import TilePlan, TilingOptions


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
    #: the tile side the low-frequency anchor is about one of, px
    anchor_size: int
    #: tiles take the anchor as border hints (a ``needs_global_anchor`` model with hints)
    border_anchor: bool = False

"""Color hints as points: what the engine keeps of a dense :class:`~napari_colorize.hints.Hints`.

Points (coordinates, ab and mask weight) are small and picklable; they are made dense per tile,
cropped to its read box with the halo (:meth:`HintPoints.box`), and coarsened for the
global-anchor pass (:meth:`HintPoints.coarsen`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..tiling import Box
from .predict import _hints_class


@dataclass(frozen=True, eq=False)
class HintPoints:
    """Color hints as points: small and picklable, made dense only over the box a tile reads.

    What the engine keeps of a :class:`~napari_colorize.hints.Hints` (a dense Hints costs
    12 bytes per pixel; a caller colorizing a huge image can convert with :meth:`of` and let
    the dense one go).  :func:`colorize` takes either.

    Attributes
    ----------
    shape : the (..., H, W) the hints cover
    coords : (N, len(shape)) int64 indices of the hinted pixels
    ab : (N, 2) float32, Lab units
    mask : (N,) float32 in (0, 1], the hints' weights
    """

    shape: tuple[int, ...]
    coords: np.ndarray
    ab: np.ndarray
    mask: np.ndarray

    @classmethod
    def of(cls, hints: Any) -> HintPoints:
        """The points of a dense :class:`~napari_colorize.hints.Hints`."""
        mask = np.asarray(hints.mask)
        idx = np.nonzero(mask > 0)
        return cls(
            tuple(int(s) for s in mask.shape),
            np.stack(idx, axis=1).astype(np.int64).reshape(-1, mask.ndim),
            np.asarray(hints.ab)[idx].astype(np.float32).reshape(-1, 2),
            mask[idx].astype(np.float32),
        )

    def __len__(self) -> int:
        return len(self.mask)

    def plane(self, idx: tuple[int, ...]) -> HintPoints | None:
        """The hints of the plane at leading index ``idx`` (None when it has none)."""
        k = len(idx)
        if k == 0:
            return self if len(self) else None
        sel = np.all(self.coords[:, :k] == np.asarray(idx, np.int64), axis=1)
        if not sel.any():
            return None
        return HintPoints(self.shape[k:], self.coords[sel, k:], self.ab[sel], self.mask[sel])

    def box(self, box: Box) -> Any:
        """Dense Hints over ``box`` (y0, x0, y1, x1) of the (last two) axes; None when none is inside."""
        y0, x0, y1, x1 = box
        y, x = self.coords[:, -2], self.coords[:, -1]
        sel = (y >= y0) & (y < y1) & (x >= x0) & (x < x1)
        if not sel.any():
            return None
        size = self.shape[:-2] + (y1 - y0, x1 - x0)
        ab = np.zeros(size + (2,), np.float32)
        mask = np.zeros(size, np.float32)
        c = self.coords[sel] - np.asarray([0] * (len(self.shape) - 2) + [y0, x0], np.int64)
        ab[tuple(c.T)] = self.ab[sel]
        mask[tuple(c.T)] = self.mask[sel]
        return _hints_class()(ab, mask)

    def dense(self) -> Any:
        """Dense Hints over the whole shape (None when there is no hint)."""
        return self.box((0, 0) + self.shape[-2:])

    def coarsen(self, factor: tuple[int, int], shape: tuple[int, int]) -> Any:
        """Dense Hints on a grid ``factor`` times coarser, of ``shape`` (trimmed like ``_downscale``).

        Each coarse pixel gets the mask-weighted mean ab of its block and the block's largest
        mask, as :meth:`Hints.resize <napari_colorize.hints.Hints.resize>` does, computed from
        the points so that no full-resolution array is made.
        """
        fy, fx = factor
        hs, ws = int(shape[0]), int(shape[1])
        cy, cx = self.coords[:, -2] // fy, self.coords[:, -1] // fx
        sel = (cy < hs) & (cx < ws)
        if not sel.any():
            return None
        flat = cy[sel] * ws + cx[sel]
        w = self.mask[sel].astype(np.float64)
        wsum = np.bincount(flat, w, hs * ws)
        ab = np.stack([np.bincount(flat, w * self.ab[sel, c], hs * ws) for c in range(2)], axis=-1)
        ab = ab / np.maximum(wsum, 1e-12)[:, None]
        mx = np.zeros(hs * ws, np.float32)
        np.maximum.at(mx, flat, self.mask[sel])
        return _hints_class()(ab.reshape(hs, ws, 2).astype(np.float32), mx.reshape(hs, ws))


def _as_point_hints(hints: Any, shape: tuple[int, ...]) -> HintPoints | None:
    """Checked hints over an image of ``shape`` as points; None for no hints or empty hints."""
    if hints is None:
        return None
    if isinstance(hints, HintPoints):
        pts = hints
    elif hasattr(hints, "ab") and hasattr(hints, "mask"):
        pts = HintPoints.of(hints)
    else:
        raise InputError(f"hints must be a napari_colorize.Hints, got {type(hints).__name__}")
    if pts.shape != tuple(shape):
        raise InputError(f"the hints cover shape {pts.shape} but the image has shape {tuple(shape)}")
    return pts if len(pts) else None

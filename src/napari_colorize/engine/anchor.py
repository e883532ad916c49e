"""The global anchor: a low-resolution whole-plane pass that the tiles of a plane agree with.

With ``global_anchor`` each plane is first predicted whole on a grid coarse enough to fit
(about one tile); each tile's low frequencies are then replaced by the anchor's
(:meth:`_Anchor.apply`).  A model with ``needs_global_anchor = True`` (its solve is global:
``propagate``) tiled with hints uses the anchor differently: its solution, upsampled guided by L,
becomes extra hints along the border of each tile's read box (:meth:`_Anchor.border_hints`), at
up to :data:`BORDER_ANCHOR_PIXELS`, with a halo of up to :data:`BORDER_HALO`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..tiling import Box
from .hint_points import _some
from .predict import Predictor, _hints_class, _predict_padded

if TYPE_CHECKING:
    from ..hints import Hints


#: largest anchor pass of a ``needs_global_anchor`` model tiled with hints, px
BORDER_ANCHOR_PIXELS = 2048 * 2048
#: default halo of those tiles, px (a quarter of the tile when that is less)
BORDER_HALO = 256


@dataclass
class _Anchor:
    """A low-resolution whole-plane prediction and how to use it."""

    ab: np.ndarray  # (hs, ws, 2)
    factor: tuple[int, int]
    sigma: float
    #: the coarse L the anchor was predicted from, when tiles are anchored at their border
    #: (``needs_global_anchor`` models with hints) instead of by their low frequencies
    L: np.ndarray | None = None
    #: (H, W) of the full plane (for the border mode)
    shape: tuple[int, int] | None = None

    @property
    def border(self) -> bool:
        """Whether tiles take the anchor as hints on their border rather than as low frequencies."""
        return self.L is not None

    def region(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """The anchor's ab bilinearly upsampled over ``box`` (y0, x0, y1, x1) of the full plane."""
        return _bilinear(self.ab, self.factor, box)

    def border_hints(self, hints: Any, box: Box, L: np.ndarray) -> Any:
        """A tile's hints plus the anchor's ab on the sides of its read ``box`` inside the plane.

        A global solve (``needs_global_anchor``) cut into tiles: each tile is solved with
        the coarse solution as boundary values, so a tile far from every hint still gets
        the colours that reach it from outside.  The coarse ab is upsampled guided by the
        tile's own L (:meth:`guided`); the tile's own hints win where both are.
        """
        y0, x0, y1, x1 = box
        H, W = self.shape if self.shape is not None else (y1, x1)
        ring = np.zeros((y1 - y0, x1 - x0), bool)
        ring[0, :] |= y0 > 0
        ring[-1, :] |= y1 < H
        ring[:, 0] |= x0 > 0
        ring[:, -1] |= x1 < W
        if not ring.any():
            return hints
        ys, xs = np.nonzero(ring)
        ab = np.zeros(ring.shape + (2,), np.float32)
        ab[ys, xs] = self.guided(ys + y0, xs + x0, np.asarray(L, np.float32)[ys, xs])
        mask = ring.astype(np.float32)
        if hints is not None:
            own = hints.mask > 0
            ab[own] = hints.ab[own]
            mask = np.maximum(mask, hints.mask)
        return _hints_class()(ab, mask)

    def guided(self, y: np.ndarray, x: np.ndarray, L: np.ndarray, sigma_L: float = 5.0) -> np.ndarray:
        """The anchor's ab at full-resolution pixels (y, x) of lightness L: joint bilateral upsampling.

        The four coarse neighbours are weighted bilinearly and by how close their L is to
        the pixel's, so a pixel next to an edge takes the colour of its own side.
        """
        assert self.L is not None
        hs, ws = self.ab.shape[:2]
        cy = np.clip((y + 0.5) / self.factor[0] - 0.5, 0, hs - 1)
        cx = np.clip((x + 0.5) / self.factor[1] - 0.5, 0, ws - 1)
        iy, ix = np.floor(cy).astype(np.int64), np.floor(cx).astype(np.int64)
        fy, fx = (cy - iy).astype(np.float32), (cx - ix).astype(np.float32)
        acc = np.zeros((len(y), 2), np.float32)
        wsum = np.zeros(len(y), np.float32)
        for jy, wy in ((iy, 1 - fy), (np.minimum(iy + 1, hs - 1), fy)):
            for jx, wx in ((ix, 1 - fx), (np.minimum(ix + 1, ws - 1), fx)):
                sim = np.exp(-((L - self.L[jy, jx]) ** 2) / np.float32(sigma_L**2)) + 1e-4
                w = wy * wx * sim
                acc += w[:, None] * self.ab[jy, jx]
                wsum += w
        return acc / np.maximum(wsum, 1e-12)[:, None]

    def apply(self, ab: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Replace the low frequencies of a tile's ab (over ``box``) by the anchor's.

        ``ab - G(ab) + G(anchor) = ab + G(anchor - ab)`` with G a Gaussian
        low-pass of ``sigma`` px, run on a grid ``step`` times coarser (block
        means, then bilinear upsampling): G has no detail finer than that.
        """
        from scipy.ndimage import gaussian_filter

        d = self.region(box) - ab
        h, w = d.shape[:2]
        step = max(1, int(self.sigma // 4))
        if step > 1:
            hs, ws = -(-h // step), -(-w // step)
            dp = np.pad(d, ((0, hs * step - h), (0, ws * step - w), (0, 0)), mode="edge")
            small = dp.reshape(hs, step, ws, step, 2).mean(axis=(1, 3), dtype=np.float32)
            small = gaussian_filter(
                small, (self.sigma / step, self.sigma / step, 0), mode="reflect", truncate=3.0
            )
            low = _bilinear(small, (step, step), (0, 0, h, w))
        else:
            low = gaussian_filter(d, (self.sigma, self.sigma, 0), mode="reflect", truncate=3.0)
        return (ab + low).astype(np.float32)


def _interp_matrix(n0: int, n1: int, f: int, size: int) -> tuple[np.ndarray, int]:
    """Linear-interpolation weights (n1 - n0, k) from a coarse axis of ``size`` to fine pixels n0..n1.

    Also returns the first coarse index that the weights refer to.
    """
    c = np.clip((np.arange(n0, n1) + 0.5) / f - 0.5, 0, size - 1)
    i0 = np.minimum(np.floor(c).astype(int), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    w = (c - i0).astype(np.float32)
    lo = int(i0.min())
    m = np.zeros((n1 - n0, int(i1.max()) - lo + 1), np.float32)
    rows = np.arange(n1 - n0)
    np.add.at(m, (rows, i0 - lo), 1 - w)
    np.add.at(m, (rows, i1 - lo), w)
    return m, lo


def _bilinear(a: np.ndarray, factor: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """Bilinear upsampling of ``a`` (hs, ws, C) by ``factor``, over ``box`` of the upsampled grid.

    Pixel centres are aligned.

    Separable: two small matrix products per channel.
    """
    y0, x0, y1, x1 = box
    my, ly = _interp_matrix(y0, y1, factor[0], a.shape[0])
    mx, lx = _interp_matrix(x0, x1, factor[1], a.shape[1])
    sub = np.asarray(a[ly : ly + my.shape[1], lx : lx + mx.shape[1]], np.float32)
    out = np.empty((y1 - y0, x1 - x0, a.shape[2]), np.float32)
    for c in range(a.shape[2]):
        out[..., c] = my @ sub[..., c] @ mx.T
    return out


def _anchor_factor(shape: tuple[int, int], size: int, border: bool = False) -> tuple[int, int]:
    """How much coarser than a plane of ``shape`` its anchor pass is.

    About one tile of ``size`` px for the low-frequency anchor; for the ``border`` anchor (a
    global solve) as fine as :data:`BORDER_ANCHOR_PIXELS` allows, since its error is the tiles'
    error.
    """
    if border:
        f = max(1, math.ceil(math.sqrt(shape[0] * shape[1] / BORDER_ANCHOR_PIXELS)))
    else:
        f = max(1, math.ceil(max(shape) / max(size, 1)))
    return (min(f, shape[0]), min(f, shape[1]))


def _anchor_sigma(factor: tuple[int, int], tile: int) -> float:
    return float(max(2.0 * max(factor), 1.0) if tile <= 0 else min(max(2.0 * max(factor), 1.0), tile / 4.0))


def _downscale(L: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    fy, fx = factor
    hs, ws = L.shape[0] // fy, L.shape[1] // fx
    return L[: hs * fy, : ws * fx].reshape(hs, fy, ws, fx).mean(axis=(1, 3), dtype=np.float32)


def _anchor_from_small(
    small: np.ndarray,
    model: Predictor,
    block: int,
    factor: tuple[int, int],
    sigma: float,
    hints: Hints | None = None,
    shape: tuple[int, int] | None = None,
    border: bool = False,
) -> _Anchor:
    """The anchor of a plane of ``shape`` from its coarse L ``small``.

    With ``border`` (a model that ``needs_global_anchor``, given hints) and hints on this
    plane, tiles are anchored at their border.
    """
    small = np.asarray(small, np.float32)
    h = None if hints is None else _some(hints.resize(small.shape, factor=factor))
    ab = _predict_padded(model, small[None], block, None if h is None else [h])[0]
    if h is not None and border:
        return _Anchor(ab, factor, sigma, small, shape)
    return _Anchor(ab, factor, sigma)

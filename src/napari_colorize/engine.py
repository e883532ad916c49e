"""Run a model over L arrays of any size: numpy or dask, 2D or stacks, tiled or not.

:func:`colorize` is the one entry point.  It predicts ab for an L array
(..., H, W), plane by plane, either whole (``tile=None``) or in tiles planned
by :mod:`napari_colorize.tiling` and merged with a blend.  Tiles of the same
shape are sent to the model in batches (``model.predict_ab_batch``).

dask input stays lazy: the result is a dask array whose chunks (about
``DASK_CHUNK`` px, cut at tile starts) each run the tiles that touch them,
reading only the L they need, so a 100-megapixel image never sits in memory
as float32 at once.  A tile crossing a chunk border is run once and kept
until its other chunks have used it.  With ``global_anchor`` the low-res
whole-plane pass is computed once (a coarsened read of the plane) and cached.

Color hints (:class:`~napari_colorize.hints.Hints`) travel as points (coordinates, ab and
mask weight: small and picklable) and are made dense per tile, cropped to its read box
with the halo; the global-anchor pass gets them coarsened to its grid.  A model with
``needs_global_anchor = True`` (its solve is global: ``propagate``) tiled with hints gets
the anchor switched on, at up to :data:`BORDER_ANCHOR_PIXELS`, and used differently: its
solution, upsampled guided by L, becomes extra hints along the border of each tile's read
box (a quarter-tile halo by default, at most :data:`BORDER_HALO`), so each tile is solved
with the colours that reach it from outside.  A model with ``stack_aware = True`` gets an
untiled stack (T, H, W) with its hints in one call.  ``stack_smoothing`` smooths any
model's ab along a stack where L does not change (:func:`napari_colorize.hints.smooth_stack`).

Under an active ``distributed.Client`` the dask graph holds only small picklable
objects: a :class:`ModelRef` (the model folder and its modification time), the tile plan
and the options.  Each worker process loads the model once and caches it
(:func:`cached_model`).  Blending is the same as on the local path, so results are equal.

This module imports neither TensorFlow nor napari.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ColorizeError, ConfigError, InputError, user_stacklevel
from .progress import ProgressCallback, StopCallback, TileProgress
from .tiling import Merger, Tile, TilePlan, TilingOptions, _inter, pad_to_block, plan_tiles, resolve_tiling

__all__ = [
    "colorize",
    "EngineResult",
    "HintPoints",
    "check_stack_smoothing",
    "has_confidence",
    "require_confidence",
    "predict_confidence",
    "Predictor",
    "ModelRef",
    "model_ref",
    "remember_folder",
    "cached_model",
    "TileOOMWarning",
    "is_oom_error",
]


@runtime_checkable
class Predictor(Protocol):
    """What the engine needs from a model.

    ``predict_ab`` is required.  The engine also uses, when present: ``predict_ab_batch``
    ((N, h, w) L -> (N, h, w, 2) ab), ``block_size`` (total downsampling: tiles are
    multiples of it), ``receptive_field`` (px; the default halo), ``default_tile`` and
    ``default_overlap`` (px, for ``tile="auto"``).  Every method's ``Colorizer`` is one.
    With color hints, ``predict_ab(L, hints=...)`` is called tile by tile; ``needs_global_anchor``
    and ``stack_aware`` (see the module docstring) are read when present.
    """

    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        """(h, w) float32 L in 0..100 -> (h, w, 2) float32 ab (``hints=`` only when hints are given)."""
        ...


#: target side of a dask output chunk, px (a whole number of tile strides)
DASK_CHUNK = 2048
#: target pixels per model batch when batch_size is not given
BATCH_PIXELS = 1 << 20
#: largest anchor pass of a ``needs_global_anchor`` model tiled with hints, px
BORDER_ANCHOR_PIXELS = 2048 * 2048
#: default halo of those tiles, px (a quarter of the tile when that is less)
BORDER_HALO = 256


class TileOOMWarning(RuntimeWarning):
    """The model ran out of memory; the engine retried with smaller tiles."""


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


def is_oom_error(e: BaseException) -> bool:
    """Whether ``e`` is an out-of-memory error of TensorFlow (checked by class name) or torch."""
    names = {c.__name__ for c in type(e).__mro__}
    return bool(names & {"ResourceExhaustedError", "OutOfMemoryError"})


class _TileOOM(Exception):
    """Out of memory with a batch of one tile."""


def _is_dask(x: Any) -> bool:
    return hasattr(x, "dask") and hasattr(x, "chunks") and type(x).__module__.startswith("dask")


def _model_int(model: Predictor, name: str, default: int) -> int:
    v = getattr(model, name, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _predict(model: Predictor, x: np.ndarray, hints: Sequence[Any] | None = None) -> np.ndarray:
    """Predict (N, h, w) L -> (N, h, w, 2) ab, halving the batch on out-of-memory.

    ``hints`` holds one dense Hints or None per item: hinted items are predicted one by one
    with ``predict_ab(x_i, hints=h_i)``, the others batched as without hints.
    """
    if hints is not None and any(h is not None for h in hints):
        out = np.empty(x.shape + (2,), np.float32)
        plain = [i for i, h in enumerate(hints) if h is None]
        if plain:
            out[plain] = _predict(model, x[plain])
        for i, h in enumerate(hints):
            if h is None:
                continue
            try:
                ab = np.asarray(model.predict_ab(x[i], hints=h), dtype=np.float32)
            except Exception as e:  # noqa: BLE001 - only OOM is handled here
                if is_oom_error(e):
                    raise _TileOOM(str(e)) from e
                raise
            _check_ab_shape(model, ab.shape, x[i].shape)
            out[i] = ab
        return out
    try:
        if x.shape[0] == 1:
            ab = np.asarray(model.predict_ab(x[0]), dtype=np.float32)[None]
        elif hasattr(model, "predict_ab_batch"):
            ab = np.asarray(model.predict_ab_batch(x), dtype=np.float32)
        else:
            ab = np.stack([np.asarray(model.predict_ab(p), np.float32) for p in x])
    except Exception as e:  # noqa: BLE001 - only OOM is handled here
        if not is_oom_error(e):
            raise
        if x.shape[0] == 1:
            raise _TileOOM(str(e)) from e
        half = x.shape[0] // 2
        warnings.warn(
            f"model out of memory with a batch of {x.shape[0]} tiles; retrying with {half}",
            TileOOMWarning,
            stacklevel=user_stacklevel(),
        )
        return np.concatenate([_predict(model, x[:half]), _predict(model, x[half:])])
    _check_ab_shape(model, ab.shape[1:], x.shape[1:])
    if len(ab) != len(x):
        _check_ab_shape(model, ab.shape, x.shape)
    return ab


def _check_ab_shape(model: Predictor, ab_shape: tuple[int, ...], L_shape: tuple[int, ...]) -> None:
    """A clear error when a model's ab does not have L's shape + (2,)."""
    if tuple(ab_shape) != tuple(L_shape) + (2,):
        raise ColorizeError(
            f"{type(model).__name__} returned ab of shape {tuple(ab_shape)} for L of shape "
            f"{tuple(L_shape)}; expected {tuple(L_shape) + (2,)}"
        )


def _predict_padded(
    model: Predictor, x: np.ndarray, block: int, hints: Sequence[Any] | None = None
) -> np.ndarray:
    """Predict a batch (N, h, w), reflect-padded to the block size and cropped back.

    Hints (one dense Hints or None per item) are padded with "no hint".
    """
    xp, (h, w) = pad_to_block(x, block)
    if hints is not None and xp.shape != x.shape:
        hints = [None if hi is None else _pad_hints(hi, xp.shape[-2:]) for hi in hints]
    return _predict(model, np.ascontiguousarray(xp, dtype=np.float32), hints)[:, :h, :w]


# -- global anchor ---------------------------------------------------------------------------


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

    def border_hints(self, hints: Any, box: Box4, L: np.ndarray) -> Any:
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


def _anchor_factor(shape: tuple[int, int], size: int) -> tuple[int, int]:
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
    hints: HintPoints | None = None,
    shape: tuple[int, int] | None = None,
    border: bool = False,
) -> _Anchor:
    """The anchor of a plane of ``shape`` from its coarse L ``small``.

    With ``border`` (a model that ``needs_global_anchor``, given hints) and hints on this
    plane, tiles are anchored at their border.
    """
    small = np.asarray(small, np.float32)
    h = None if hints is None else hints.coarsen(factor, small.shape)
    ab = _predict_padded(model, small[None], block, None if h is None else [h])[0]
    if h is not None and border:
        return _Anchor(ab, factor, sigma, small, shape)
    return _Anchor(ab, factor, sigma)


# -- hints -----------------------------------------------------------------------------------


def _hints_class() -> Any:
    from .hints import Hints

    return Hints


def _pad_hints(h: Any, shape: tuple[int, int]) -> Any:
    """Dense hints zero-padded at the end of their last two axes to ``shape`` (no hint there)."""
    ph, pw = shape[0] - h.mask.shape[-2], shape[1] - h.mask.shape[-1]
    pads = [(0, 0)] * (h.mask.ndim - 2) + [(0, ph), (0, pw)]
    return _hints_class()(np.pad(h.ab, pads + [(0, 0)]), np.pad(h.mask, pads))


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

    def box(self, box: Box4) -> Any:
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


def check_stack_smoothing(stack_smoothing: Any) -> float:
    """``stack_smoothing`` as a float >= 0, else a ConfigError."""
    try:
        s = float(stack_smoothing)
    except (TypeError, ValueError):
        s = float("nan")
    if isinstance(stack_smoothing, bool) or not (math.isfinite(s) and s >= 0):
        raise ConfigError(f"stack_smoothing must be a number >= 0, got {stack_smoothing!r}")
    return s


def has_confidence(model: Any) -> bool:
    """Whether ``model`` (a Predictor or a ModelRef) has ``predict_confidence``."""
    if isinstance(model, ModelRef):
        model = cached_model(model)
    return callable(getattr(model, "predict_confidence", None))


def require_confidence(model: Any) -> None:
    """A one-line ConfigError unless ``model`` has ``predict_confidence``."""
    if not has_confidence(model):
        if isinstance(model, ModelRef):
            model = cached_model(model)
        name = getattr(model, "name", type(model).__name__)
        raise ConfigError(f"the {name} model has no confidence (only models with predict_confidence do)")


def predict_confidence(L: Any, model: Predictor | ModelRef, *, hints: Any = None) -> np.ndarray:
    """The model's per-pixel confidence in its colors, (..., H, W) float32 in 0..1.

    Each plane of ``L`` is passed whole (untiled) to ``model.predict_confidence(L_plane,
    hints=...)`` with that plane's hints, so a huge plane costs what an untiled colorization
    costs.

    Parameters
    ----------
    L : ndarray or dask array (..., H, W)
        Lightness 0..100 (a dask array is computed plane by plane).
    model : Predictor or ModelRef
        A model with ``predict_confidence`` (see :func:`has_confidence`).
    hints : Hints or HintPoints, optional
        Color hints over ``L.shape``.

    Raises
    ------
    ConfigError
        The model has no ``predict_confidence``.
    """
    if isinstance(model, ModelRef):
        model = cached_model(model)
    require_confidence(model)
    if not _is_dask(L):
        L = np.asarray(L)
    _check_array(L)
    shape = tuple(int(s) for s in L.shape)
    pts = _as_point_hints(hints, shape)
    out = np.zeros(shape, np.float32)
    for idx in np.ndindex(*shape[:-2]):
        plane = L[idx]
        plane = np.asarray(plane.compute() if hasattr(plane, "compute") else plane, np.float32)
        p = pts.plane(idx) if pts is not None else None
        conf = np.asarray(model.predict_confidence(plane, hints=p.dense() if p is not None else None))
        if conf.shape != plane.shape:
            raise ConfigError(
                f"predict_confidence gave shape {conf.shape} for a plane of shape {plane.shape}"
            )
        out[idx] = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
    return out


def _smooth_block(ab: np.ndarray, L: np.ndarray, weight: float) -> np.ndarray:
    """:func:`~napari_colorize.hints.smooth_stack` along axis -3 of (..., T, H, W) L and its ab."""
    from .hints import smooth_stack

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


# -- tiles -----------------------------------------------------------------------------------


def _batches(tiles: Sequence[Tile], batch_size: int) -> list[list[Tile]]:
    groups: dict[tuple[int, int], list[Tile]] = {}
    for t in tiles:
        groups.setdefault(t.read_shape, []).append(t)
    out = []
    for group in groups.values():
        for i in range(0, len(group), batch_size):
            out.append(group[i : i + batch_size])
    return out


class _TileCache:
    """What each dask chunk needs of the tiles that another chunk ran.

    A tile crossing a chunk border is needed by several chunks (``boxes``: each
    tile's chunk boxes); the first to run it keeps, for each other chunk, only the
    part of its ab that chunk merges (usually a strip as wide as the tiles' overlap,
    not the whole tile: a whole slide keeps a row of such tiles while the next band
    runs) until that chunk takes it.  When ``max_bytes`` would be passed, a part is
    not kept and that chunk simply runs the tile again.
    """

    def __init__(self, boxes: dict[Any, list[Box4]], max_bytes: int = 512 << 20) -> None:
        #: per tile, the chunks that have neither run it nor taken their part
        self.pending = {key: set(bs) for key, bs in boxes.items()}
        self.max_bytes = max_bytes
        self.data: dict[tuple[Any, Box4], tuple[Box4 | None, np.ndarray]] = {}
        self.nbytes = 0
        self._lock = threading.Lock()

    def take(self, key: Any, box: Box4) -> tuple[Box4 | None, np.ndarray] | None:
        """Chunk ``box``'s part of tile ``key``: (its box in the plane, or None: nothing to merge; ab)."""
        with self._lock:
            self.pending.get(key, set()).discard(box)
            got = self.data.pop((key, box), None)
            if got is not None:
                self.nbytes -= got[1].nbytes
            return got

    def give(self, key: Any, a: np.ndarray, target: Box4, write: Box4, box: Box4) -> None:
        """Keep each other chunk's part of tile ``key``'s ab ``a`` (over ``write``), run by chunk ``box``."""
        with self._lock:
            for other in self.pending.get(key, set()) - {box}:
                part = _inter(target, other)
                if part is None:  # it only reads the tile: nothing to merge, nothing to run
                    self.data[key, other] = (None, np.empty((0, 0, 2), np.float32))
                    continue
                rows = slice(part[0] - write[0], part[2] - write[0])
                cols = slice(part[1] - write[1], part[3] - write[1])
                kept = a[rows, cols]
                if self.nbytes + kept.nbytes <= self.max_bytes:
                    self.data[key, other] = (part, np.ascontiguousarray(kept))
                    self.nbytes += kept.nbytes


def _predict_or_split(
    model: Predictor, L: np.ndarray, block: int, halo: int, hints: Any = None
) -> np.ndarray:
    """Predict one (h, w) read box; if it runs out of memory, tile it in turn (halo kept).

    Used where the tile plan cannot change any more (the dask path, whose chunks follow the
    plan): a box that does not fit is cut into sub-tiles of half its size, each with the same
    halo, and their write boxes are put together (recursively).  With a halo at least the
    receptive field the result equals the whole box's prediction.  Raises ``_TileOOM`` when
    the sub-tiles would be smaller than the block size or no smaller than the box.
    """
    try:
        return _predict_padded(model, L[None], block, None if hints is None else [hints])[0]
    except _TileOOM:
        pass
    h, w = L.shape
    new = (max(h, w) // 2 // block) * block
    if new < max(block, 8) or new + 2 * halo >= max(h, w):
        raise _TileOOM(f"out of memory even on {h}x{w} px")
    warnings.warn(
        f"model out of memory on a tile of {h}x{w} px; predicting it in sub-tiles of {new} px",
        TileOOMWarning,
        stacklevel=user_stacklevel(),
    )
    sub = plan_tiles((h, w), tile=new, overlap=0, halo=halo, block_size=block)
    merger = Merger(sub, "crop")
    for t in sub.tiles:
        y0, x0, y1, x1 = t.read
        sub_hints = None
        if hints is not None:
            sub_hints = hints.crop(y0, y1, x0, x1)
            sub_hints = None if sub_hints.empty else sub_hints
        ab = _predict_or_split(model, np.ascontiguousarray(L[y0:y1, x0:x1]), block, halo, sub_hints)
        merger.add(t, np.ascontiguousarray(ab[t.write_in_read()]))
    return merger.result()


def _run_tiles(
    read: Callable[[Tile], np.ndarray],
    tiles: Sequence[Tile],
    merger: Merger,
    model: Predictor,
    block: int,
    batch_size: int,
    anchor: _Anchor | None,
    prog: TileProgress,
    cache: _TileCache | None = None,
    cache_key: Any = (),
    split_halo: int | None = None,
    hints: HintPoints | None = None,
) -> np.ndarray:
    todo = []
    for t in tiles:
        got = cache.take(cache_key + (t.index,), merger.box) if cache is not None else None
        if got is None:
            todo.append(t)
        elif got[0] is not None:
            merger.add(t, got[1], part=got[0])
    for group in _batches(todo, batch_size):
        prog.check()
        x = np.stack([read(t) for t in group])
        hs = None if hints is None else [hints.box(t.read) for t in group]
        if anchor is not None and anchor.border:
            hs = [
                anchor.border_hints(None if hs is None else hs[k], t.read, x[k]) for k, t in enumerate(group)
            ]
        try:
            ab = _predict_padded(model, x, block, hs)
        except _TileOOM:
            if split_halo is None:
                raise
            # tile by tile, each split only if it alone does not fit
            ab = np.stack(
                [
                    _predict_or_split(model, xi, block, split_halo, None if hs is None else hs[k])
                    for k, xi in enumerate(x)
                ]
            )
        for t, a in zip(group, ab):
            if anchor is not None and not anchor.border:
                a = anchor.apply(a, t.read)
            a = np.ascontiguousarray(a[t.write_in_read()])
            merger.add(t, a)
            if cache is not None:
                cache.give(cache_key + (t.index,), a, merger.target(t), t.write, merger.box)
        prog.step(len(group))
    return merger.result()


def _default_batch(plan: TilePlan, batch_size: int | None) -> int:
    if batch_size is not None:
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        return int(batch_size)
    rh, rw = plan.read_shape
    return int(max(1, min(16, BATCH_PIXELS // max(rh * rw, 1))))


def _check_plane(L: np.ndarray) -> np.ndarray:
    from .methods.colorizer import check_L

    return check_L(L, ndim=2)


def _check_array(L: Any) -> None:
    shape = tuple(L.shape)
    if len(shape) < 2:
        raise InputError(f"L must be an array (..., H, W) with at least 2 dimensions, got shape {shape}")
    if any(s == 0 for s in shape):
        raise InputError(f"L is empty (shape {shape})")
    dt = np.dtype(L.dtype)
    if not (np.issubdtype(dt, np.floating) or np.issubdtype(dt, np.integer) or dt.kind == "b"):
        raise InputError(f"L must be numeric, got dtype {dt}")


# -- public ----------------------------------------------------------------------------------


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
    hints : Hints or HintPoints, optional
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
    pts = _as_point_hints(hints, tuple(int(s) for s in L.shape))
    ref = model if isinstance(model, ModelRef) else None
    if ref is not None:
        model = cached_model(ref)
    if (
        pts is not None
        and opts.tiled
        and not opts.global_anchor
        and getattr(model, "needs_global_anchor", False)
    ):
        opts = opts.replace(global_anchor=True)
    res = _colorize(L, model, ref, opts, pts, progress=progress, should_stop=should_stop)
    if smoothing > 0 and L.ndim >= 3:
        res = EngineResult(_smooth(L, res.ab, smoothing), res.plan)
    return res


def _colorize(
    L: Any,
    model: Predictor,
    ref: ModelRef | None,
    opts: TilingOptions,
    pts: HintPoints | None,
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
    whole_stack = stack_aware and plan is None
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
            if whole_stack:
                return _stack_dask(L, ref, pts)
            return _colorize_dask_distributed(L, ref, plan, job, pts)
        if whole_stack:
            return _stack_dask(L, model, pts)
        return _colorize_dask(L, model, plan, job, pts, progress=progress, should_stop=should_stop)
    if whole_stack:
        prog = TileProgress(1, progress, should_stop)
        prog.check()
        ab = _predict_stack(np.asarray(L), model, pts)
        prog.step()
        return EngineResult(ab, None)
    return _colorize_numpy(L, model, plan, job, pts, progress=progress, should_stop=should_stop)


def _predict_stack(L: np.ndarray, model: Predictor | ModelRef, pts: HintPoints) -> np.ndarray:
    """ab of a whole stack (T, H, W) from a ``stack_aware`` model, with all its hints in one call."""
    from .methods.colorizer import check_L

    if isinstance(model, ModelRef):
        model = cached_model(model)
    L = check_L(L, ndim=3)
    ab = np.asarray(model.predict_ab(L, hints=pts.dense()), dtype=np.float32)
    _check_ab_shape(model, ab.shape, L.shape)
    return ab


def _stack_dask(L: Any, model: Predictor | ModelRef, pts: HintPoints) -> EngineResult:
    """The dask path of a ``stack_aware`` model: the stack is one chunk (the solve couples its planes)."""
    Lw = L.astype(np.float32).rechunk(-1)
    ab = Lw.map_blocks(_predict_stack, model, pts, dtype=np.float32, chunks=Lw.chunks + ((2,),), new_axis=3)
    return EngineResult(ab, None)


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
        as fine as :data:`BORDER_ANCHOR_PIXELS` allows, since its error is the tiles' error.
        """
        if not self.border_anchor:
            return _anchor_factor(shape, self.anchor_size)
        f = max(1, math.ceil(math.sqrt(shape[0] * shape[1] / BORDER_ANCHOR_PIXELS)))
        return (min(f, shape[0]), min(f, shape[1]))


def _colorize_numpy(
    L: np.ndarray,
    model: Predictor,
    plan: TilePlan | None,
    job: _Job,
    pts: HintPoints | None = None,
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
        hp = None if pts is None else pts.plane(lead_idx[i])
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


def _plane_numpy(
    Lp: np.ndarray,
    model: Predictor,
    plan: TilePlan | None,
    job: _Job,
    prog: TileProgress,
    hints: HintPoints | None = None,
) -> np.ndarray:
    block = job.block
    if plan is None:
        prog.check()
        ab = _predict_padded(model, Lp[None], block, None if hints is None else [hints.dense()])[0]
        prog.step()
        return ab
    anchor = None
    if job.opts.global_anchor:
        prog.check()
        factor = job.anchor_factor(Lp.shape)
        anchor = _anchor_from_small(
            _downscale(Lp, factor),
            model,
            block,
            factor,
            _anchor_sigma(factor, max(plan.tile)),
            hints,
            Lp.shape,
            job.border_anchor,
        )
        prog.step()
    merger = Merger(plan, job.opts.blend)

    def read(t: Tile) -> np.ndarray:
        y0, x0, y1, x1 = t.read
        return Lp[y0:y1, x0:x1]

    bsize = _default_batch(plan, job.opts.batch_size)
    return _run_tiles(read, plan.tiles, merger, model, block, bsize, anchor, prog, hints=hints)


# -- dask ------------------------------------------------------------------------------------


def _axis_chunks(starts: list[int], n: int, stride: int) -> list[int]:
    """Chunk boundaries along an axis at tile starts, about DASK_CHUNK apart."""
    k = max(1, round(DASK_CHUNK / max(stride, 1)))
    cuts = [0] + [s for s in starts[k::k]] + [n]
    return sorted(set(cuts))


def _chunk_layout(
    plan: TilePlan, shape: tuple[int, int], blend: str
) -> tuple[list[int], list[int], dict[tuple[int, int], tuple[Box4, list[Tile], Box4]]]:
    """Output chunks at tile starts: (row cuts, column cuts, {(a, b): (box, tiles, read region)})."""
    H, W = shape
    ys = sorted({t.write[0] for t in plan.tiles})
    xs = sorted({t.write[1] for t in plan.tiles})
    ycuts = _axis_chunks(ys, H, max(plan.tile[0] - plan.overlap, 1))
    xcuts = _axis_chunks(xs, W, max(plan.tile[1] - plan.overlap, 1))
    layout = {}
    for a in range(len(ycuts) - 1):
        for b in range(len(xcuts) - 1):
            box = (ycuts[a], xcuts[b], ycuts[a + 1], xcuts[b + 1])
            tiles = plan.tiles_in(box) if blend != "crop" else [t for t in plan.tiles if _hits(t.core, box)]
            region = (
                min(t.read[0] for t in tiles),
                min(t.read[1] for t in tiles),
                max(t.read[2] for t in tiles),
                max(t.read[3] for t in tiles),
            )
            layout[a, b] = (box, tiles, region)
    return ycuts, xcuts, layout


Box4 = tuple[int, int, int, int]


def _chunk_ab(
    Lreg: np.ndarray,
    region: Box4,
    box: Box4,
    tiles: list[Tile],
    anchor: _Anchor | None,
    model: Predictor,
    plan: TilePlan,
    job: _Job,
    prog: TileProgress,
    cache: _TileCache | None = None,
    key: tuple[int, ...] = (),
    hints: HintPoints | None = None,
) -> np.ndarray:
    """ab of one output chunk ``box`` from the L of its read ``region``: its tiles, blended."""
    Lreg = _check_plane(np.asarray(Lreg))
    merger = Merger(plan, job.opts.blend, box)

    def read(t: Tile) -> np.ndarray:
        y0, x0, y1, x1 = t.read
        return Lreg[y0 - region[0] : y1 - region[0], x0 - region[1] : x1 - region[1]]

    bsize = _default_batch(plan, job.opts.batch_size)
    try:
        return _run_tiles(
            read,
            tiles,
            merger,
            model,
            job.block,
            bsize,
            anchor,
            prog,
            cache,
            key,
            split_halo=plan.halo,
            hints=hints,
        )
    except _TileOOM:
        raise ColorizeError(
            f"the model ran out of memory on one tile of {max(plan.tile)} px; pass a smaller tile"
        ) from None


def _colorize_dask(
    L: Any,
    model: Predictor,
    plan: TilePlan | None,
    job: _Job,
    pts: HintPoints | None = None,
    *,
    progress: ProgressCallback | None,
    should_stop: StopCallback | None,
) -> EngineResult:
    import dask
    import dask.array as da

    L = L.astype(np.float32) if L.dtype != np.float32 else L
    lead = L.shape[:-2]
    H, W = L.shape[-2:]
    block = job.block
    if plan is None:
        # untiled: one task per plane
        Lw = L.rechunk({L.ndim - 2: -1, L.ndim - 1: -1})
        nplanes = int(np.prod(lead)) if lead else 1
        prog = TileProgress(nplanes, progress, should_stop)

        def whole(block_L: np.ndarray, block_info: Any = None) -> np.ndarray:
            planes = block_L.reshape((-1,) + block_L.shape[-2:])
            out = np.empty(planes.shape + (2,), np.float32)
            for i, (p, h) in enumerate(zip(planes, _block_hints(pts, block_L.shape, block_info))):
                prog.check()
                out[i] = _predict_padded(model, _check_plane(p)[None], block, None if h is None else [h])[0]
                prog.step()
            return out.reshape(block_L.shape + (2,))

        ab = Lw.map_blocks(whole, dtype=np.float32, chunks=Lw.chunks + ((2,),), new_axis=L.ndim)
        return EngineResult(ab, None)

    ycuts, xcuts, layout = _chunk_layout(plan, (H, W), job.opts.blend)
    global_anchor = job.opts.global_anchor
    nplanes = int(np.prod(lead)) if lead else 1
    per_plane = len(plan) + (1 if global_anchor else 0)
    prog = TileProgress(nplanes * per_plane, progress, should_stop)
    boxes: dict[Any, list[Box4]] = {}
    for idx in np.ndindex(*lead) if lead else [()]:
        for box, tiles, _ in layout.values():
            for t in tiles:
                boxes.setdefault(idx + (t.index,), []).append(box)
    cache = _TileCache(boxes)

    plane_hints = {idx: pts.plane(idx) for idx in np.ndindex(*lead)} if pts is not None and lead else {}
    if pts is not None and not lead:
        plane_hints[()] = pts

    def run_chunk(
        Lreg: np.ndarray, region: Box4, box: Box4, tiles: list[Tile], anchor: Any, key: tuple[int, ...]
    ) -> np.ndarray:
        return _chunk_ab(
            Lreg, region, box, tiles, anchor, model, plan, job, prog, cache, key, plane_hints.get(key)
        )

    anchor_cache: dict[tuple[int, ...], _Anchor] = {}
    anchor_lock = threading.Lock()
    planes_out = []
    for idx in np.ndindex(*lead) if lead else [()]:
        Lp = L[idx]
        anchor = None
        if global_anchor:
            factor = job.anchor_factor((H, W))
            small = da.coarsen(np.mean, Lp, {0: factor[0], 1: factor[1]}, trim_excess=True)

            def get_anchor(
                key: tuple[int, ...], small: Any = small, factor: tuple[int, int] = factor
            ) -> _Anchor:
                # computed once and cached: a caller computing the result band by band
                # must not re-read the whole plane for every band
                with anchor_lock:
                    if key not in anchor_cache:
                        prog.check()
                        s = small.compute(scheduler="sync")
                        anchor_cache[key] = _anchor_from_small(
                            _check_plane(s),
                            model,
                            block,
                            factor,
                            _anchor_sigma(factor, max(plan.tile)),
                            plane_hints.get(key),
                            (H, W),
                            job.border_anchor,
                        )
                        prog.step()
                    return anchor_cache[key]

            anchor = dask.delayed(get_anchor)(idx)
        planes_out.append(
            _assemble(Lp, layout, ycuts, xcuts, lambda *a, idx=idx: dask.delayed(run_chunk)(*a, idx), anchor)
        )
    ab = da.stack(planes_out).reshape(lead + (H, W, 2)) if lead else planes_out[0]
    return EngineResult(ab, plan)


def _assemble(
    Lp: Any,
    layout: dict[tuple[int, int], tuple[Box4, list[Tile], Box4]],
    ycuts: list[int],
    xcuts: list[int],
    task: Callable[..., Any],
    anchor: Any,
) -> Any:
    """One plane's lazy ab from one delayed ``task(Lreg, region, box, tiles, anchor)`` per chunk."""
    import dask.array as da

    rows = []
    for a in range(len(ycuts) - 1):
        row = []
        for b in range(len(xcuts) - 1):
            box, tiles, region = layout[a, b]
            Lreg = Lp[region[0] : region[2], region[1] : region[3]]
            d = task(Lreg, region, box, tiles, anchor)
            row.append(da.from_delayed(d, shape=(box[2] - box[0], box[3] - box[1], 2), dtype=np.float32))
        rows.append(row)
    return da.concatenate([da.concatenate(row, axis=1) for row in rows], axis=0)


def _hits(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


# -- distributed -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """A model by its folder: what a distributed dask graph carries instead of the model.

    Attributes
    ----------
    folder : str
        The model folder (absolute; every worker must see it, e.g. on a shared file system).
    mtime : float
        Modification time of its ``config.json``: a model saved again is loaded again.
    """

    folder: str
    mtime: float

    @classmethod
    def of(cls, folder: str | os.PathLike) -> ModelRef:
        """A reference to the model folder ``folder`` as it is now."""
        f = Path(folder).resolve()
        cfg = f / "config.json"
        if not cfg.is_file():
            raise ConfigError(f"{f} is not a model folder (no config.json)")
        return cls(str(f), cfg.stat().st_mtime)


#: models a process keeps loaded (the least recently loaded goes first)
MODEL_CACHE_SIZE = 4
# per process: (folder, mtime) -> loaded model
_MODEL_CACHE: dict[tuple[str, float], Predictor] = {}
_MODEL_CACHE_LOCK = threading.Lock()
# loaded or saved models -> their folder (weak: forgetting a model forgets its folder)
_FOLDERS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def cached_model(ref: ModelRef) -> Predictor:
    """The model of ``ref``, loaded once per process and kept (a newer save replaces it)."""
    key = (ref.folder, ref.mtime)
    with _MODEL_CACHE_LOCK:
        m = _MODEL_CACHE.get(key)
        if m is None:
            from .methods import load_model

            for old in [k for k in _MODEL_CACHE if k[0] == ref.folder]:
                del _MODEL_CACHE[old]
            while len(_MODEL_CACHE) >= MODEL_CACHE_SIZE:
                del _MODEL_CACHE[next(iter(_MODEL_CACHE))]
            m = _MODEL_CACHE[key] = load_model(ref.folder)
            remember_folder(m, ref.folder)
        return m


def remember_folder(model: Predictor, folder: str | os.PathLike) -> None:
    """Note that ``model`` was loaded from (or saved as) the model folder ``folder``."""
    try:
        _FOLDERS[model] = str(Path(folder).resolve())
    except TypeError:  # not weak-referenceable: it is saved to a temporary folder when needed
        pass


def model_ref(model: Predictor) -> ModelRef:
    """A :class:`ModelRef` for ``model``: its known folder, or a temporary one it is saved to.

    A temporary folder is removed when this process exits.

    Raises
    ------
    ConfigError
        The model has no folder and cannot be saved (no ``save`` method).
    """
    folder = _FOLDERS.get(model) if _weakrefable(model) else None
    if folder is not None and (Path(folder) / "config.json").is_file():
        return ModelRef.of(folder)
    if not hasattr(model, "save"):
        raise ConfigError(
            f"a {type(model).__name__} has no model folder and cannot be saved; "
            "on a distributed cluster pass a model folder or a saved model"
        )
    parent = tempfile.mkdtemp(prefix="napari-colorize-model-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    tmp = Path(parent) / "model"
    model.save(tmp, optimizer=False)
    remember_folder(model, tmp)
    return ModelRef.of(tmp)


def _weakrefable(x: Any) -> bool:
    try:
        weakref.ref(x)
    except TypeError:
        return False
    return True


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
    hints: HintPoints | None = None,
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
    region: Box4,
    box: Box4,
    tiles: list[Tile],
    anchor: _Anchor | None,
    ref: ModelRef,
    plan: TilePlan,
    job: _Job,
    hints: HintPoints | None = None,
) -> np.ndarray:
    return _chunk_ab(
        Lreg, region, box, tiles, anchor, cached_model(ref), plan, job, TileProgress(0), hints=hints
    )


def _block_hints(pts: HintPoints | None, shape: tuple[int, ...], block_info: Any) -> list[Any]:
    """Dense hints (or None) of each plane of a dask block of whole planes."""
    n = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    if pts is None or block_info is None or None not in block_info:
        return [None] * n
    loc = block_info[None]["array-location"][:-3]  # leading axes (the ab output has one more)
    ranges = [range(a, b) for a, b in loc]
    out = []
    for idx in np.ndindex(*[len(r) for r in ranges]) if ranges else [()]:
        hp = pts.plane(tuple(r[k] for r, k in zip(ranges, idx)))
        out.append(None if hp is None else hp.dense())
    return out


def _remote_planes(
    block_L: np.ndarray,
    ref: ModelRef,
    block: int,
    pts: HintPoints | None = None,
    block_info: Any = None,
) -> np.ndarray:
    model = cached_model(ref)
    planes = block_L.reshape((-1,) + block_L.shape[-2:])
    out = np.empty(planes.shape + (2,), np.float32)
    for i, (p, h) in enumerate(zip(planes, _block_hints(pts, block_L.shape, block_info))):
        out[i] = _predict_padded(model, _check_plane(p)[None], block, None if h is None else [h])[0]
    return out.reshape(block_L.shape + (2,))


def _colorize_dask_distributed(
    L: Any, ref: ModelRef, plan: TilePlan | None, job: _Job, pts: HintPoints | None = None
) -> EngineResult:
    """The dask path for a distributed cluster: only module-level functions and small values in the graph.

    Tiles that cross a chunk border run once per chunk (processes share no cache); the
    blend is the same as on the local path, so the result is the same.
    """
    import dask
    import dask.array as da

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
    plan_d = dask.delayed(plan, pure=True)
    planes_out = []
    for idx in np.ndindex(*lead) if lead else [()]:
        Lp = L[idx]
        hp = None if pts is None else pts.plane(idx)
        hp_d = None if hp is None else dask.delayed(hp, pure=True, traverse=False)
        anchor = None
        if job.opts.global_anchor:
            factor = job.anchor_factor((H, W))
            small = da.coarsen(np.mean, Lp, {0: factor[0], 1: factor[1]}, trim_excess=True)
            anchor = dask.delayed(_remote_anchor, pure=True)(
                small, ref, job, factor, max(plan.tile), hp_d, (H, W)
            )

        def task(*a: Any, hp_d: Any = hp_d) -> Any:
            return dask.delayed(_remote_chunk, pure=True)(*a, ref, plan_d, job, hp_d)

        planes_out.append(_assemble(Lp, layout, ycuts, xcuts, task, anchor))
    ab = da.stack(planes_out).reshape(lead + (H, W, 2)) if lead else planes_out[0]
    return EngineResult(ab, plan)

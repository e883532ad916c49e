"""Method ``lookup``: a gray-level -> color table learned from reference images.

The Grayscale_to_colors project builds a vocabulary from gray value to the
RGB of reference pixels and recolors pixel by pixel in Python loops.  Here
the same idea is vectorised and made robust:

- each L level (``n_levels`` levels over 0..100) collects the ab of every
  reference pixel of that lightness;
- optionally (``texture=True``, after Welsh et al. 2002) the level is split
  further by the local standard deviation of L in a ``texture_window``
  window, in ``texture_bins`` quantile bins;
- the color of a level is the mean, median or mode of its ab (``policy``);
- levels never seen are filled by linear interpolation from the nearest
  seen levels (and unseen texture bins fall back to the level's pointwise
  color).

Prediction is one fancy-indexing lookup: no per-pixel Python loop.  The
default is pointwise (no texture), so tiling is exact for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...data import as_sources, iter_lab
from ...errors import InputError, ModelFolderError
from ..colorizer import Colorizer
from .config import LookupConfig

__all__ = ["LookupColorizer"]

# ab histograms: 1-unit bins over [-128, 128) for the median, 4-unit bins for the mode
_AB_LO, _AB_HI = -128.0, 128.0
_N_AB = 256
_MODE_STEP = 4
_N_MODE = _N_AB // _MODE_STEP


def _local_std(L: np.ndarray, size: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    L = L.astype(np.float32)
    m = uniform_filter(L, size, mode="reflect")
    m2 = uniform_filter(L * L, size, mode="reflect")
    return np.sqrt(np.maximum(m2 - m * m, 0)).astype(np.float32)


class LookupColorizer(Colorizer):
    """Gray-level (optionally + texture) -> ab lookup table."""

    name = "lookup"
    Config = LookupConfig

    def __init__(self, config: LookupConfig | dict[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        nt = c.texture_bins if c.texture else 1
        shape = (c.n_levels, nt)
        self._count = np.zeros(shape, np.int64)
        self._sum = np.zeros(shape + (2,), np.float64)
        self._hist = np.zeros(shape + (2, _N_AB), np.int64)  # per-channel 1D histograms (median)
        self._hist2 = np.zeros(shape + (_N_MODE, _N_MODE), np.int64)  # joint histogram (mode)
        self._edges = np.zeros(max(nt - 1, 0), np.float32)  # texture quantile edges
        self.table: np.ndarray | None = None  # (n_levels, nt, 2) float32

    @property
    def receptive_field(self) -> int:
        return self.config.texture_window // 2 if self.config.texture else 0

    @property
    def default_tile(self) -> int:
        return 1024

    @property
    def default_overlap(self) -> int:
        return 32

    # -- helpers -------------------------------------------------------------
    def _level(self, L: np.ndarray) -> np.ndarray:
        n = self.config.n_levels
        return np.clip(np.rint(L * ((n - 1) / 100.0)), 0, n - 1).astype(np.intp)

    def _tbin(self, L: np.ndarray) -> np.ndarray:
        if not self.config.texture:
            return np.zeros(L.shape, np.intp)
        return np.searchsorted(self._edges, _local_std(L, self.config.texture_window), side="right").astype(
            np.intp
        )

    # -- training --------------------------------------------------------------
    def fit(
        self, data: Any, *, epochs: int | None = None, callbacks: Sequence[Any] | None = None, **kwargs: Any
    ) -> dict[str, list[float]]:
        """Accumulate reference pixels per level; calling again adds more references."""
        c = self.config
        sources = as_sources(data, box=c.crop)
        callbacks = list(callbacks or [])
        _call(callbacks, "on_train_begin")
        _call(callbacks, "on_epoch_begin", 0)
        if c.texture and self._count.sum() == 0:
            # texture bin edges: quantiles of the local std over the references
            stds = np.concatenate(
                [_local_std(L, c.texture_window).ravel()[::7] for L, _ in iter_lab(sources)]
            )
            qs = np.linspace(0, 1, c.texture_bins + 1)[1:-1]
            self._edges = np.quantile(stds, qs).astype(np.float32)
        n_pixels = 0
        for i, (L, ab) in enumerate(iter_lab(sources)):
            lev = self._level(L).ravel()
            tb = self._tbin(L).ravel()
            nt = self._count.shape[1]
            cell = lev * nt + tb
            ncell = self._count.size
            a, b = ab[..., 0].ravel(), ab[..., 1].ravel()
            self._count += np.bincount(cell, minlength=ncell).reshape(self._count.shape)
            self._sum[..., 0] += np.bincount(cell, a, minlength=ncell).reshape(self._count.shape)
            self._sum[..., 1] += np.bincount(cell, b, minlength=ncell).reshape(self._count.shape)
            ia = np.clip((a - _AB_LO).astype(np.intp), 0, _N_AB - 1)
            ib = np.clip((b - _AB_LO).astype(np.intp), 0, _N_AB - 1)
            self._hist[..., 0, :] += np.bincount(cell * _N_AB + ia, minlength=ncell * _N_AB).reshape(
                self._hist.shape[:2] + (_N_AB,)
            )
            self._hist[..., 1, :] += np.bincount(cell * _N_AB + ib, minlength=ncell * _N_AB).reshape(
                self._hist.shape[:2] + (_N_AB,)
            )
            j = (ia // _MODE_STEP) * _N_MODE + ib // _MODE_STEP
            self._hist2 += np.bincount(
                cell * _N_MODE * _N_MODE + j, minlength=ncell * _N_MODE * _N_MODE
            ).reshape(self._hist2.shape)
            n_pixels += lev.size
            _call(callbacks, "on_train_batch_end", i, {"pixels": float(n_pixels)})
        if self._count.sum() == 0:
            raise InputError("no reference pixels to learn from")
        self._build_table()
        self.trained = True
        # training error (mean ab distance to the table's color), for the history
        err = self._fit_error(sources[:4])
        logs = {"loss": err}
        _call(callbacks, "on_epoch_end", 0, logs)
        _call(callbacks, "on_train_end", logs)
        return {"loss": [err]}

    def _fit_error(self, sources: Sequence[Any]) -> float:
        errs = [
            float(np.mean(np.linalg.norm(self.predict_ab(L) - ab, axis=-1))) for L, ab in iter_lab(sources)
        ]
        return float(np.mean(errs)) if errs else float("nan")

    def _build_table(self) -> None:
        c = self.config
        count = self._count
        if c.policy == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                table = (self._sum / count[..., None]).astype(np.float32)
        elif c.policy == "median":
            cdf = np.cumsum(self._hist, axis=-1)
            half = count[..., None, None] / 2.0
            idx = (cdf < half).sum(axis=-1)  # first bin whose cdf reaches half
            table = (idx + 0.5 + _AB_LO).astype(np.float32)
        else:  # mode
            flat = self._hist2.reshape(count.shape + (-1,))
            j = flat.argmax(axis=-1)
            ia, ib = j // _N_MODE, j % _N_MODE
            table = np.stack([ia, ib], axis=-1).astype(np.float32) * _MODE_STEP + _MODE_STEP / 2 + _AB_LO
        seen = count > 0
        table[~seen] = np.nan
        # pointwise color per level over all texture bins (fallback for unseen bins)
        tot = count.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pointwise = (self._sum.sum(axis=1) / tot[:, None]).astype(np.float32)
        if table.shape[1] == 1:
            pointwise = table[:, 0].copy()
        pointwise = _fill_levels(pointwise, tot > 0)
        for t in range(table.shape[1]):
            col = table[:, t]
            miss = ~seen[:, t]
            col[miss] = pointwise[miss]
        self.table = table.astype(np.float32)

    # -- inference -------------------------------------------------------------
    def _table(self) -> np.ndarray:
        if self.table is None:
            raise ModelFolderError(
                "the lookup model is not trained: call fit() or load a trained model folder"
            )
        return self.table

    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        return self._table()[self._level(L), self._tbin(L)]

    def _predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        if not self.config.texture:
            return self._table()[self._level(L), 0]
        return super()._predict_ab_batch(L)

    # -- model folder ----------------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        if self.table is None:
            raise ModelFolderError("cannot save an untrained lookup model")
        with open(folder / "lookup.npz", "wb") as f:
            np.savez_compressed(
                f,
                table=self.table,
                count=self._count,
                sum=self._sum,
                hist=self._hist,
                hist2=self._hist2,
                edges=self._edges,
            )

    def _load_weights(self, folder: Path) -> None:
        path = folder / "lookup.npz"
        if not path.is_file():
            raise ModelFolderError(f"{folder}: lookup.npz is missing")
        with np.load(path) as z:
            table = z["table"].astype(np.float32)
            if table.shape[:2] != self._count.shape or table.shape[2] != 2:
                raise ModelFolderError(f"{path}: table shape {table.shape} does not match the config")
            self.table = table
            self._count, self._sum = z["count"], z["sum"]
            self._hist, self._hist2, self._edges = z["hist"], z["hist2"], z["edges"]


def _fill_levels(table: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Fill unseen levels of a (n_levels, 2) table by linear interpolation (edges: nearest)."""
    out = table.copy()
    if not seen.any():
        return np.zeros_like(out)
    x = np.arange(len(table))
    for ch in range(table.shape[-1]):
        out[:, ch] = np.interp(x, x[seen], table[seen, ch])
    return out


def _call(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)

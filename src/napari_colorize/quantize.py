"""Quantised ab colors for classification colorization (Zhang et al., ECCV 2016).

The ab plane is cut into square cells of side ``grid`` (10 Lab units), centred
on the multiples of ``grid``; the cell of an ab value is
``(floor(a / grid + 1/2), floor(b / grid + 1/2))``.

**The bin rule.**  A cell is a bin if at least one of the 256**3 8-bit sRGB
colors falls into it, its ab computed with :func:`skimage.color.rgb2lab`
(D65, 2 degree observer).  Bins are ordered by a, then b.  With ``grid=10``
this gives 261 bins; every sRGB color then lies within half a cell diagonal
(``grid / sqrt(2)``, about 7.07) of its bin centre.  The authors' table
(``pts_in_hull.npy``, 313 bins) was derived from their data and is larger;
models imported from their weights carry their own 313 centres, so the number
of bins is always a property of a model, never a constant.

The table for ``grid=10`` ships as ``data_files/ab_bins_10.npy``;
:func:`gamut_bins` recomputes it (tests check that both agree).

Also here: soft-encoding of ab targets over the k nearest bins
(:func:`soft_encode`), the class-rebalancing weights
(:func:`rebalance_weights`) and the annealed-mean decoding
(:func:`annealed_mean`).  All pure numpy, float32.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ConfigError, InputError

__all__ = [
    "srgb_gamut_ab",
    "gamut_bins",
    "load_bins",
    "bins_path",
    "nearest_bin",
    "soft_encode",
    "empirical_prior",
    "smooth_prior",
    "rebalance_weights",
    "annealed_mean",
]

_DATA = Path(__file__).parent / "data_files"
#: cell index offset so that (a, b) cells map to non-negative ids
_OFF = 64


def srgb_gamut_ab(*, chunk: int = 16) -> np.ndarray:
    """ab (256**3, 2) float32 of every 8-bit sRGB color (skimage rgb2lab, D65).

    Computed ``chunk`` red levels at a time (about 5 s, 134 MB result).
    """
    from skimage import color as skcolor

    v = np.arange(256, dtype=np.float64) / 255.0
    out = []
    for r in range(0, 256, chunk):
        rgb = np.stack(np.meshgrid(v[r : r + chunk], v, v, indexing="ij"), axis=-1).reshape(-1, 1, 3)
        out.append(skcolor.rgb2lab(rgb).reshape(-1, 3)[:, 1:].astype(np.float32))
    return np.concatenate(out)


def _cells(ab: np.ndarray, grid: float) -> np.ndarray:
    return np.floor(np.asarray(ab, dtype=np.float64) / grid + 0.5).astype(np.int64)


def gamut_bins(grid: int = 10, *, ab: np.ndarray | None = None) -> np.ndarray:
    """The bin centres (Q, 2) float32 of the sRGB gamut quantised on ``grid``.

    Parameters
    ----------
    grid : int
        Cell side in Lab units.
    ab : ndarray (N, 2), optional
        The ab values to quantise; default all 8-bit sRGB colors
        (:func:`srgb_gamut_ab`).

    Returns
    -------
    ndarray of float32, shape (Q, 2)
        Cell centres (multiples of ``grid``) holding at least one color,
        sorted by a, then b.
    """
    if grid <= 0:
        raise ConfigError(f"grid must be positive, got {grid}")
    if ab is None:
        ab = srgb_gamut_ab()
    c = _cells(ab, grid)
    span = 2 * _OFF
    if c.min() < -_OFF or c.max() >= _OFF:
        raise InputError(f"ab values out of range for grid {grid}")
    ids = (c[:, 0] + _OFF) * span + (c[:, 1] + _OFF)
    used = np.flatnonzero(np.bincount(ids, minlength=span * span))
    centres = np.stack([used // span - _OFF, used % span - _OFF], axis=1) * grid
    return centres.astype(np.float32)


def bins_path(grid: int = 10) -> Path:
    """Path of the shipped bin table for ``grid``."""
    return _DATA / f"ab_bins_{int(grid)}.npy"


@lru_cache(maxsize=4)
def _load_bins_cached(grid: int) -> np.ndarray:
    p = bins_path(grid)
    if p.is_file():
        return np.load(p).astype(np.float32)
    return gamut_bins(grid)


def load_bins(grid: int = 10) -> np.ndarray:
    """The bin table for ``grid``: the shipped file, or computed if none ships."""
    return _load_bins_cached(int(grid)).copy()


def _check_bins(bins: np.ndarray) -> np.ndarray:
    bins = np.asarray(bins, dtype=np.float32)
    if bins.ndim != 2 or bins.shape[1] != 2 or bins.shape[0] < 2:
        raise InputError(f"bins must have shape (Q, 2) with Q >= 2, got {bins.shape}")
    return bins


def _check_ab(ab: np.ndarray) -> np.ndarray:
    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape[-1:] != (2,):
        raise InputError(f"ab must have a last axis of 2, got shape {ab.shape}")
    if not np.all(np.isfinite(ab)):
        raise InputError("ab contains NaN or infinite values")
    return ab


def _sq_dist(ab: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Squared distances (..., Q) from ab (..., 2) to every bin."""
    d = ab[..., None, :] - bins
    return np.einsum("...qc,...qc->...q", d, d)


def nearest_bin(ab: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Index (...) of the nearest bin of each ab (..., 2)."""
    ab, bins = _check_ab(ab), _check_bins(bins)
    flat = ab.reshape(-1, 2)
    out = np.empty(len(flat), dtype=np.int64)
    for i in range(0, len(flat), 65536):
        out[i : i + 65536] = np.argmin(_sq_dist(flat[i : i + 65536], bins), axis=-1)
    return out.reshape(ab.shape[:-1])


def soft_encode(ab: np.ndarray, bins: np.ndarray, *, k: int = 5, sigma: float = 5.0) -> np.ndarray:
    """Soft-encode ab (..., 2) over the ``k`` nearest bins.

    Each value gets Gaussian weights ``exp(-d**2 / (2 sigma**2))`` on its
    ``k`` nearest bin centres (distance ``d``), normalised to sum to 1;
    all other bins get 0.  Returns float32 (..., Q).
    """
    ab, bins = _check_ab(ab), _check_bins(bins)
    if not 1 <= k <= len(bins):
        raise ConfigError(f"k must be in 1..{len(bins)}, got {k}")
    if sigma <= 0:
        raise ConfigError(f"sigma must be positive, got {sigma}")
    d2 = _sq_dist(ab, bins)
    idx = np.argpartition(d2, k - 1, axis=-1)[..., :k]
    dk = np.take_along_axis(d2, idx, axis=-1)
    # subtract the smallest distance for numerical safety (cancels on normalising)
    w = np.exp(-(dk - dk.min(axis=-1, keepdims=True)) / (2.0 * sigma**2))
    w /= w.sum(axis=-1, keepdims=True)
    out = np.zeros(d2.shape, dtype=np.float32)
    np.put_along_axis(out, idx, w.astype(np.float32), axis=-1)
    return out


def empirical_prior(ab: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Fraction (Q,) float64 of ab values whose nearest bin is each bin."""
    idx = nearest_bin(ab, bins).ravel()
    if idx.size == 0:
        raise InputError("no ab values to build a prior from")
    return np.bincount(idx, minlength=len(bins)).astype(np.float64) / idx.size


def smooth_prior(prior: np.ndarray, bins: np.ndarray, *, sigma: float = 5.0) -> np.ndarray:
    """Smooth a prior over the bins with a Gaussian of ``sigma`` in ab units.

    The bins are points on a grid in the ab plane, so the smoothing is the
    Gaussian kernel between bin centres, ``p~_q = sum_r p_r g(|c_q - c_r|)``,
    with each source bin's kernel normalised over the bins (mass is kept).
    """
    bins = _check_bins(bins).astype(np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    if prior.shape != (len(bins),):
        raise InputError(f"prior must have shape ({len(bins)},), got {prior.shape}")
    d2 = _sq_dist(bins, bins)
    g = np.exp(-d2 / (2.0 * sigma**2))
    g /= g.sum(axis=0, keepdims=True)  # column r: where bin r's mass goes
    out = g @ prior
    return out / out.sum()


def rebalance_weights(
    prior: np.ndarray, bins: np.ndarray, *, sigma: float = 5.0, lam: float = 0.5
) -> np.ndarray:
    """Class-rebalancing weights (Q,) float32 of Zhang et al., eq. 4.

    ``w ∝ ((1 - lam) p~ + lam / Q) ** -1`` with ``p~`` the prior smoothed by
    :func:`smooth_prior`, normalised so that the expected weight under the
    smoothed prior is 1: ``sum(p~ * w) == 1``.
    """
    if not 0.0 <= lam <= 1.0:
        raise ConfigError(f"lam must be in [0, 1], got {lam}")
    p = smooth_prior(prior, bins, sigma=sigma)
    q = len(p)
    w = 1.0 / ((1.0 - lam) * p + lam / q)
    w /= np.sum(p * w)
    return w.astype(np.float32)


def annealed_mean(probs: np.ndarray, bins: np.ndarray, *, T: float = 0.38, axis: int = -1) -> np.ndarray:
    """Annealed mean of distributions over bins (Zhang et al., eq. 5).

    ``f_T(z) = exp(log z / T) / sum exp(log z / T)``; the result is
    ``sum_q f_T(z)_q * c_q``.  ``T = 1`` gives the mean, ``T -> 0`` the mode.

    Parameters
    ----------
    probs : ndarray (..., Q, ...)
        Probabilities (non-negative) along ``axis``.
    bins : ndarray (Q, 2)
    T : float
        Temperature, > 0.

    Returns
    -------
    ndarray of float32, shape (..., 2) (the bin axis replaced by ab at the end)
    """
    if T <= 0:
        raise ConfigError(f"T must be positive, got {T}")
    bins = _check_bins(bins).astype(np.float64)
    z = np.moveaxis(np.asarray(probs, dtype=np.float64), axis, -1)
    if z.shape[-1] != len(bins):
        raise InputError(f"probs have {z.shape[-1]} bins along axis {axis}, bins {len(bins)}")
    with np.errstate(divide="ignore"):
        logz = np.log(np.clip(z, 0, None)) / T
    logz -= logz.max(axis=-1, keepdims=True)
    f = np.exp(logz)
    f /= f.sum(axis=-1, keepdims=True)
    return (f @ bins).astype(np.float32)


def write_bins(grid: int = 10) -> Path:
    """Recompute the table for ``grid`` and write it to :func:`bins_path`.

    Run ``python -m napari_colorize.quantize`` to regenerate the shipped file.
    """
    p = bins_path(grid)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, gamut_bins(grid))
    _load_bins_cached.cache_clear()
    return p


if __name__ == "__main__":  # pragma: no cover
    print(write_bins(10), len(load_bins(10)), "bins")

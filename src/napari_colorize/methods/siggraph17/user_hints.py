"""How ``siggraph17`` takes hints: as network input, simulated for training, and reconciled.

- :func:`hint_inputs` builds the network's input channels from L and the hints;
- :func:`sample_hints` simulates a user's hints from the true ab, as the authors' training does,
  and :func:`simulated_hint_inputs` makes a training batch's input with them;
- :func:`hint_proximity` and :func:`agreement` are what the colorizer's calibration and fusion
  use: the confidence near a hint, and how far the hints confirm the automatic prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...color import L2norm, ab2norm
from ...errors import InputError
from .config import _AB_SCALE

__all__ = [
    "agreement",
    "check_hints",
    "count_hints",
    "hint_inputs",
    "hint_proximity",
    "sample_hints",
    "simulated_hint_inputs",
]


def sample_hints(
    ab: np.ndarray,
    rng: np.random.Generator,
    *,
    p_none: float = 0.0,
    p_stop: float = 0.125,
    p_uniform: float = 0.5,
    max_patch: int = 9,
    n_hints: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate user hints from a true ab image, as the authors' training does.

    Parameters
    ----------
    ab : ndarray, shape (H, W, 2)
        The true ab, Lab units.
    rng : numpy.random.Generator
    p_none : float
        Probability of no hint at all (on top of the geometric count's own zero).
    p_stop : float
        The number of hints is geometric: ``P(n) = (1 - p_stop)**n * p_stop``,
        n >= 0, mean ``(1 - p_stop) / p_stop`` (the authors: 1/8).
    p_uniform : float
        Probability that this image's hint locations are uniform; otherwise
        each is Gaussian around the centre (sigma a quarter of the side), clipped.
    max_patch : int
        Each hint is a square patch of 1..``max_patch`` px (uniform).
    n_hints : int, optional
        Exactly this many hints (``p_none`` and ``p_stop`` are then ignored).

    Returns
    -------
    ab_hint : ndarray of float32, shape (H, W, 2)
        The mean true ab of each patch inside it, 0 elsewhere (a later patch
        overwrites an earlier one where they overlap).
    mask : ndarray of float32, shape (H, W)
        1 inside the patches, 0 elsewhere.
    """
    ab = np.asarray(ab, dtype=np.float32)
    if ab.ndim != 3 or ab.shape[-1] != 2:
        raise InputError(f"ab must have shape (H, W, 2), got {ab.shape}")
    h, w = ab.shape[:2]
    hint = np.zeros_like(ab)
    mask = np.zeros((h, w), np.float32)
    if n_hints is None:
        n = 0 if rng.random() < p_none else int(rng.geometric(p_stop)) - 1
    else:
        n = int(n_hints)
        if n < 0:
            raise InputError(f"n_hints must be >= 0, got {n_hints}")
    uniform = rng.random() < p_uniform
    for _ in range(n):
        p = int(rng.integers(1, min(max_patch, h, w) + 1))
        if uniform:
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
        else:
            y = int(np.clip(rng.normal((h - p + 1) / 2, (h - p + 1) / 4), 0, h - p))
            x = int(np.clip(rng.normal((w - p + 1) / 2, (w - p + 1) / 4), 0, w - p))
        hint[y : y + p, x : x + p] = ab[y : y + p, x : x + p].reshape(-1, 2).mean(0)
        mask[y : y + p, x : x + p] = 1.0
    return hint, mask


def hint_inputs(
    L: np.ndarray,
    ab_hint: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    *,
    mask_center: float = 0.0,
) -> np.ndarray:
    """The network input (..., H, W, 4): ``[(L-50)/100, ab_hint/110, mask - mask_center]``.

    ``L`` is (..., H, W); ``ab_hint`` (..., H, W, 2) and ``mask`` (..., H, W)
    default to no hints.  The hint ab is zeroed where the mask is 0.
    """
    L = np.asarray(L, np.float32)
    if mask is None:
        mask = np.zeros(L.shape, np.float32)
    if ab_hint is None:
        ab_hint = np.zeros(L.shape + (2,), np.float32)
    mask = np.asarray(mask, np.float32)
    ab_hint = np.where(mask[..., None] > 0, np.asarray(ab_hint, np.float32), np.float32(0))
    return np.concatenate(
        [
            L2norm(L)[..., None],
            ab2norm(ab_hint, ab_scale=_AB_SCALE),
            (mask - np.float32(mask_center))[..., None],
        ],
        axis=-1,
    ).astype(np.float32)


def simulated_hint_inputs(L: np.ndarray, ab: np.ndarray, rng: np.random.Generator, config: Any) -> np.ndarray:
    """The network input (N, H, W, 4) of a training batch, with hints simulated from its true ab.

    ``L`` is (N, H, W) and ``ab`` (N, H, W, 2); each image gets one draw of :func:`sample_hints`
    (in order, from ``rng``) with ``config``'s ``p_none``, ``p_stop``, ``p_uniform`` and
    ``max_patch``, and the input uses its ``mask_center`` (:func:`hint_inputs`).
    """
    hints = [
        sample_hints(
            a,
            rng,
            p_none=config.p_none,
            p_stop=config.p_stop,
            p_uniform=config.p_uniform,
            max_patch=config.max_patch,
        )
        for a in ab
    ]
    return hint_inputs(
        L,
        np.stack([h[0] for h in hints]),
        np.stack([h[1] for h in hints]),
        mask_center=config.mask_center,
    )


def hint_proximity(mask: np.ndarray, *, radius: float) -> np.ndarray:
    """``exp(-d**2 / (2 radius**2))`` of each pixel's distance d to the nearest hint, (..., H, W) float32.

    ``mask`` is (..., H, W), a hint where it is > 0; planes without a hint give 0.
    """
    from scipy.ndimage import distance_transform_edt

    mask = np.asarray(mask)
    out = np.zeros(mask.shape, np.float32)
    for idx in np.ndindex(mask.shape[:-2]):
        m = mask[idx] > 0
        if m.any():
            d = distance_transform_edt(~m)
            out[idx] = np.exp(-0.5 * (d / float(radius)) ** 2)
    return out


def check_hints(hints: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Validate a hints object (``.ab``, ``.mask``) against an L of ``shape``."""
    try:
        ab, mask = hints.ab, hints.mask
    except AttributeError:
        raise InputError(
            f"hints must have .ab and .mask (napari_colorize.Hints), got {type(hints).__name__}"
        ) from None
    ab, mask = np.asarray(ab), np.asarray(mask)
    if ab.shape != tuple(shape) + (2,) or mask.shape != tuple(shape):
        raise InputError(
            f"hints of shape ab {ab.shape}, mask {mask.shape} do not match L of shape {tuple(shape)}"
        )
    for name, v in (("ab", ab), ("mask", mask)):
        if not np.issubdtype(v.dtype, np.number) or not np.all(np.isfinite(v)):
            raise InputError(f"hints.{name} must be finite numbers")
    return ab.astype(np.float32, copy=False), mask.astype(np.float32, copy=False)


#: hints (connected hinted regions) at which :func:`agreement` is half measured, half the prior 1
_AGREEMENT_PRIOR = 5


def count_hints(mask: np.ndarray) -> int:
    """The number of hints: connected hinted regions of ``mask`` (a disc counts once)."""
    from scipy import ndimage

    return int(ndimage.label(mask > 0)[1])


def agreement(ab: np.ndarray, hint_ab: np.ndarray, mask: np.ndarray, n: int) -> float:
    """How far the hints confirm a prediction: the least-squares gain of ``ab`` onto the hints, in 0..1.

    ``argmin_g sum_hints |hint - g ab|**2``, clipped to [0, 1], over the hinted pixels: 1 when the
    prediction's chroma at the hints is the hints', 0 when it points elsewhere; with few hints it
    stays near 1 (see ``_AGREEMENT_PRIOR``).  The hints are
    the truth the user knows, so a prediction they contradict is shrunk towards gray before
    the hints are spread, and the result is then no worse than spreading the hints alone.
    """
    sel = mask > 0
    if not np.any(sel):
        return 1.0
    m, h = ab[sel].astype(np.float64), hint_ab[sel].astype(np.float64)
    den = float(np.sum(m * m))
    if den <= 1e-9:
        return 1.0
    gain = float(np.clip(np.sum(m * h) / den, 0.0, 1.0))
    # a few hints say little about the whole image: the gain starts at 1 (trust the network)
    # and moves to the measured one as hints come (half way at _AGREEMENT_PRIOR hints)
    return (n * gain + _AGREEMENT_PRIOR) / (n + _AGREEMENT_PRIOR)

"""The palette and the gray windows of ``window`` (pure numpy): what the network is trained on.

:func:`fit_palette` clusters the training images' ab into the palette; :func:`window_batches`
streams (window, target) batches: :func:`pad_reflect`-ed L, :func:`extract_windows` around
sampled pixels, and :func:`encode_targets` over the palette.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np

from ...color import L2norm, rgb2lab
from ...data import Source, load_rgb
from ...quantize import soft_encode

__all__ = ["encode_targets", "extract_windows", "fit_palette", "pad_reflect", "window_batches"]


# -- palette and windows (pure numpy) -------------------------------------------------
def _load_lab(source: Source) -> tuple[np.ndarray, np.ndarray]:
    rgb = load_rgb(source)
    lab = rgb2lab(rgb)
    return lab[..., 0], lab[..., 1:]


def fit_palette(
    sources: Sequence[Source], *, n_colors: int, samples: int = 50000, seed: int = 0, max_images: int = 200
) -> np.ndarray:
    """k-means palette (n_colors, 2) float32 over the ab of the training images.

    Up to ``samples`` pixels are drawn evenly from up to ``max_images``
    images (each loaded once, one at a time).  Identical colors are fine: a
    flat image gives a palette of repeated entries.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))[:max_images]
    per = max(1, -(-samples // len(order)))
    pts = []
    for i in order:
        _, ab = _load_lab(sources[i])
        ab = ab.reshape(-1, 2)
        take = rng.choice(len(ab), size=min(per, len(ab)), replace=False)
        pts.append(ab[take])
    X = np.concatenate(pts).astype(np.float64)
    if len(X) < n_colors:  # tiny images: repeat pixels so k-means has k points
        X = X[rng.integers(0, len(X), n_colors)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct colors than n_colors
        km = KMeans(n_clusters=n_colors, n_init=1, random_state=seed, max_iter=100).fit(X)
    centers = km.cluster_centers_.astype(np.float32)
    # sort by hue then chroma: a stable, readable palette order
    order = np.lexsort((np.hypot(centers[:, 0], centers[:, 1]), np.arctan2(centers[:, 1], centers[:, 0])))
    return np.ascontiguousarray(centers[order])


def pad_reflect(x: np.ndarray, r: int) -> np.ndarray:
    """Reflect-pad the last two axes of ``x`` by ``r`` (any ``r``, also for 1-px images)."""
    if r == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 2) + [(r, r), (r, r)]
    if min(x.shape[-2:]) < 2:
        return np.pad(x, pad, mode="edge")
    return np.pad(x, pad, mode="reflect")


def extract_windows(Lpad: np.ndarray, ys: np.ndarray, xs: np.ndarray, window: int) -> np.ndarray:
    """Windows (B, window, window) of a padded image at centres ``(ys, xs)`` (unpadded coordinates)."""
    d = np.arange(window)
    return Lpad[ys[:, None, None] + d[None, :, None], xs[:, None, None] + d[None, None, :]]


def encode_targets(ab: np.ndarray, palette: np.ndarray, *, soft_sigma: float = 0.0, k: int = 5) -> np.ndarray:
    """Targets (B, n_colors) float32: one-hot nearest palette color, or a Gaussian over the k nearest.

    :func:`napari_colorize.quantize.soft_encode` with ``k=1`` (one-hot) when ``soft_sigma`` is 0.
    """
    if soft_sigma <= 0:
        return soft_encode(ab, palette, k=1, sigma=1.0)
    return soft_encode(ab, palette, k=min(k, len(palette)), sigma=soft_sigma)


def window_batches(
    sources: Sequence[Source],
    palette: np.ndarray,
    *,
    window: int,
    batch_size: int,
    samples_per_epoch: int,
    soft_sigma: float = 0.0,
    flip: bool = True,
    seed: int = 0,
    pool: int = 4,
    chunk: int = 8192,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless generator of (windows (B, z, z, 1) normalised L, targets (B, n_colors)).

    Images are visited in a random order, ``pool`` at a time (loaded once per
    visit; a single image is loaded once in all).  From each pool it draws
    ``samples_per_epoch * len(pool) / len(sources)`` random windows, in chunks
    of at most ``chunk``, so an epoch sees every image about equally and
    only one chunk of windows is in memory.
    """
    rng = np.random.default_rng(seed)
    r = window // 2
    n = len(sources)
    pool = max(1, min(pool, n))
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    carry_x: list[np.ndarray] = []
    carry_y: list[np.ndarray] = []
    while True:
        order = rng.permutation(n)
        for start in range(0, n, pool):
            ids = order[start : start + pool]
            if n > pool or not cache:
                cache = {}
                for i in ids:
                    L, ab = _load_lab(sources[i])
                    cache[int(i)] = (pad_reflect(L2norm(L), r), ab.reshape(-1, 2), L.shape)  # type: ignore[assignment]
            imgs = [cache[int(i)] for i in ids]
            todo = max(batch_size, int(round(samples_per_epoch * len(ids) / n)))
            while todo > 0:
                m = min(chunk, todo)
                todo -= m
                which = rng.integers(0, len(imgs), m)
                xs_all, ys_all = [], []
                for j, (Lpad, ab, shape) in enumerate(imgs):  # type: ignore[misc]
                    sel = which == j
                    cnt = int(sel.sum())
                    if not cnt:
                        continue
                    h, w = shape
                    yy = rng.integers(0, h, cnt)
                    xx = rng.integers(0, w, cnt)
                    win = extract_windows(Lpad, yy, xx, window)
                    if flip:
                        f = rng.random(cnt) < 0.5
                        win[f] = win[f, :, ::-1]
                    xs_all.append(win)
                    ys_all.append(encode_targets(ab[yy * w + xx], palette, soft_sigma=soft_sigma))
                X = np.concatenate(xs_all)[..., None].astype(np.float32)
                Y = np.concatenate(ys_all)
                perm = rng.permutation(len(X))
                carry_x.append(X[perm])
                carry_y.append(Y[perm])
                X, Y = np.concatenate(carry_x), np.concatenate(carry_y)
                nb = len(X) // batch_size
                for b in range(nb):
                    yield X[b * batch_size : (b + 1) * batch_size], Y[b * batch_size : (b + 1) * batch_size]
                carry_x, carry_y = [X[nb * batch_size :]], [Y[nb * batch_size :]]

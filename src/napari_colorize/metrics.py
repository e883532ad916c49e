"""Colorization quality metrics, each of a prediction against a color truth.

Pure numpy/scikit-image (no TensorFlow).  Every function takes two RGB images
of the same shape ``(H, W, 3)`` (an alpha channel is dropped) as uint8,
uint16 or float in 0..1 (converted with
:func:`napari_colorize.color.to_float01`), except :func:`colorfulness`,
which describes a single image.

- :func:`psnr`: peak signal-to-noise ratio of RGB in 0..1 (dB);
- :func:`ssim`: structural similarity of RGB (:func:`skimage.metrics.structural_similarity`);
- :func:`delta_e2000`: mean CIEDE2000 colour difference (:func:`skimage.color.deltaE_ciede2000`);
- :func:`colorfulness`: Hasler & Suesstrunk (2003) colourfulness ``M``, on 0..255 RGB;
- :func:`delta_colorfulness`: ``colorfulness(pred) - colorfulness(truth)``;
- :func:`auc`: Zhang et al. (2016) area under the cumulative curve of the
  per-pixel ab error, thresholds 0..150 in steps of 1, normalised to 0..1;
- :func:`evaluate_pair`: all of the above as a dict of floats.

References
----------
.. [1] D. Hasler and S. Suesstrunk, "Measuring colourfulness in natural
   images", Proc. SPIE 5007, Human Vision and Electronic Imaging VIII, 2003.
.. [2] R. Zhang, P. Isola and A. A. Efros, "Colorful Image Colorization",
   ECCV 2016 (the "AuC" of table 1).
.. [3] G. Sharma, W. Wu and E. N. Dalal, "The CIEDE2000 color-difference
   formula: implementation notes, supplementary test data, and mathematical
   observations", Color Research & Application 30(1), 2005.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from .color import rgb2lab, to_float01
from .errors import InputError

__all__ = [
    "METRICS",
    "METRIC_LABELS",
    "psnr",
    "ssim",
    "delta_e2000",
    "delta_e2000_lab",
    "colorfulness",
    "delta_colorfulness",
    "auc",
    "auc_ab",
    "evaluate_pair",
    "mean_metrics",
]

#: The keys of :func:`evaluate_pair`, in table order.
METRICS: tuple[str, ...] = ("psnr", "ssim", "delta_e2000", "colorfulness", "delta_colorfulness", "auc")

#: Short column headings of the metrics, for tables.
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "delta_e2000": "CIEDE2000",
    "colorfulness": "colorfulness",
    "delta_colorfulness": "dCF",
    "auc": "AuC",
}

#: Largest ab error threshold of :func:`auc` (Zhang et al. use 0..150).
AUC_MAX_THRESHOLD = 150


def _as_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """float32 (H, W, 3) in 0..1 from an RGB(A) image, or a clear InputError."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise InputError(f"{name} must be an RGB image of shape (H, W, 3), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {image.shape})")
    return to_float01(image[..., :3])


def _pair(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = _as_rgb(pred_rgb, "pred")
    truth = _as_rgb(truth_rgb, "truth")
    if pred.shape != truth.shape:
        raise InputError(f"pred and truth differ in size: {pred.shape[:2]} vs {truth.shape[:2]}")
    return pred, truth


def psnr(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> float:
    """Peak signal-to-noise ratio of the RGB images, in dB (data range 1).

    ``10 * log10(1 / MSE)`` with the mean squared error over all pixels and
    channels of the 0..1 images; ``inf`` for identical images.
    """
    pred, truth = _pair(pred_rgb, truth_rgb)
    mse = float(np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return float(10.0 * math.log10(1.0 / mse))


def ssim(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> float:
    """Mean structural similarity of the RGB images (data range 1).

    :func:`skimage.metrics.structural_similarity` with ``channel_axis=-1``
    and its default 7x7 window (smaller, odd, for images under 7 pixels).
    """
    from skimage.metrics import structural_similarity

    pred, truth = _pair(pred_rgb, truth_rgb)
    side = min(pred.shape[:2])
    if side < 3:
        raise InputError(f"SSIM needs images of at least 3x3 pixels, got {pred.shape[:2]}")
    win = 7 if side >= 7 else (side if side % 2 else side - 1)
    return float(structural_similarity(pred, truth, channel_axis=-1, data_range=1.0, win_size=win))


def delta_e2000_lab(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Per-pixel CIEDE2000 difference of two Lab arrays (..., 3), float64.

    A thin wrapper of :func:`skimage.color.deltaE_ciede2000` (kL = kC = kH = 1).
    """
    from skimage.color import deltaE_ciede2000

    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    if lab1.shape != lab2.shape or lab1.shape[-1:] != (3,):
        raise InputError(
            f"expected two Lab arrays of the same shape (..., 3), got {lab1.shape} and {lab2.shape}"
        )
    return deltaE_ciede2000(lab1, lab2, channel_axis=-1)


def delta_e2000(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over the pixels (0 for identical images)."""
    pred, truth = _pair(pred_rgb, truth_rgb)
    return float(np.mean(delta_e2000_lab(rgb2lab(pred), rgb2lab(truth))))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness ``M`` of an RGB image.

    With R, G, B in 0..255, ``rg = R - G`` and ``yb = (R + G) / 2 - B``::

        M = sqrt(std(rg)**2 + std(yb)**2) + 0.3 * sqrt(mean(rg)**2 + mean(yb)**2)

    (population standard deviations over the pixels).  0 for a gray image.
    """
    img = _as_rgb(rgb, "image").astype(np.float64) * 255.0
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = math.sqrt(float(np.var(rg)) + float(np.var(yb)))
    mu = math.sqrt(float(np.mean(rg)) ** 2 + float(np.mean(yb)) ** 2)
    return float(sigma + 0.3 * mu)


def delta_colorfulness(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> float:
    """``colorfulness(pred) - colorfulness(truth)``: negative when the prediction is duller."""
    pred, truth = _pair(pred_rgb, truth_rgb)
    return colorfulness(pred) - colorfulness(truth)


def auc_ab(pred_ab: np.ndarray, truth_ab: np.ndarray, *, max_threshold: int = AUC_MAX_THRESHOLD) -> float:
    """Zhang et al.'s AuC from two ab arrays (..., 2) in Lab units.

    The fraction of pixels whose ab L2 error is at most ``t``, averaged over
    the integer thresholds ``t = 0, 1, ..., max_threshold`` (the normalised
    area under the cumulative error curve; 1 for a perfect prediction).
    """
    pred_ab = np.asarray(pred_ab, dtype=np.float64)
    truth_ab = np.asarray(truth_ab, dtype=np.float64)
    if pred_ab.shape != truth_ab.shape or pred_ab.shape[-1:] != (2,) or pred_ab.size == 0:
        raise InputError(
            f"expected two ab arrays of the same shape (..., 2), got {pred_ab.shape} and {truth_ab.shape}"
        )
    if int(max_threshold) < 0:
        raise InputError(f"max_threshold must be >= 0, got {max_threshold}")
    err = np.sqrt(np.sum((pred_ab - truth_ab) ** 2, axis=-1)).ravel()
    # the pixel with error e counts for every integer threshold t >= e:
    # max_threshold - ceil(e) + 1 of them (none when e > max_threshold)
    counts = np.clip(int(max_threshold) - np.ceil(err) + 1, 0, int(max_threshold) + 1)
    return float(np.mean(counts) / (int(max_threshold) + 1))


def auc(pred_rgb: np.ndarray, truth_rgb: np.ndarray, *, max_threshold: int = AUC_MAX_THRESHOLD) -> float:
    """Zhang et al.'s AuC of the ab error of two RGB images (see :func:`auc_ab`)."""
    pred, truth = _pair(pred_rgb, truth_rgb)
    return auc_ab(rgb2lab(pred)[..., 1:], rgb2lab(truth)[..., 1:], max_threshold=max_threshold)


def evaluate_pair(pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> dict[str, float]:
    """All metrics of a prediction against its truth.

    Returns
    -------
    dict
        ``psnr`` (dB), ``ssim``, ``delta_e2000`` (mean CIEDE2000),
        ``colorfulness`` (of the prediction), ``delta_colorfulness``
        (prediction minus truth) and ``auc``, as Python floats.
    """
    pred, truth = _pair(pred_rgb, truth_rgb)
    lab_p, lab_t = rgb2lab(pred), rgb2lab(truth)
    cf_p = colorfulness(pred)
    return {
        "psnr": psnr(pred, truth),
        "ssim": ssim(pred, truth),
        "delta_e2000": float(np.mean(delta_e2000_lab(lab_p, lab_t))),
        "colorfulness": cf_p,
        "delta_colorfulness": cf_p - colorfulness(truth),
        "auc": auc_ab(lab_p[..., 1:], lab_t[..., 1:]),
    }


def mean_metrics(results: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each key over several :func:`evaluate_pair` results.

    Infinite PSNRs (identical images) are left out of the PSNR mean; a key
    with no finite value at all gets the mean of what it has (``inf``).
    """
    results = list(results)
    if not results:
        raise InputError("no results to average")
    keys = [k for k in results[0] if all(k in r for r in results)]
    out: dict[str, float] = {}
    for k in keys:
        vals = np.asarray([float(r[k]) for r in results], dtype=np.float64)
        finite = vals[np.isfinite(vals)]
        out[k] = float(finite.mean()) if finite.size else float(vals.mean())
    return out

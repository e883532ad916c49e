"""CIELAB helpers: RGB <-> Lab, gray <-> L, intensity normalisation, and model normalisation.

Everything here is pure numpy (through :mod:`skimage.color`): float32 in,
float32 out, any leading shape.  All colorization methods work in CIELAB
(D65, 2 degree observer): the model gets ``L`` (0..100) and predicts ``ab``
(Lab units, roughly -110..110).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from skimage import color as skcolor

from .config import check_nonnegative
from .errors import ConfigError, InputError, user_stacklevel

if TYPE_CHECKING:
    import dask.array as da

#: an ab image, in memory or lazy: :func:`apply_saturation` returns the same kind
_AB = TypeVar("_AB", np.ndarray, "da.Array")

__all__ = [
    "check_percentiles",
    "is_color",
    "check_saturation",
    "apply_saturation",
    "rgb2lab",
    "lab2rgb",
    "rgb2L",
    "gray2L",
    "L2gray",
    "image2L",
    "intensity_limits",
    "dtype_limits",
    "NORMALIZE",
    "DEFAULT_PERCENTILES",
    "Lab2rgb",
    "L2norm",
    "norm2L",
    "ab2norm",
    "norm2ab",
    "is_gray_rgb",
    "to_float01",
    "GrayWarning",
    "mean_chroma",
    "NEAR_GRAY_CHROMA",
    "NEAR_GRAY_CONFIDENCE",
]


#: intensity normalisation modes of :func:`intensity_limits`
NORMALIZE: tuple[str, ...] = ("auto", "dtype", "percentile", "none")
#: default low and high percentiles (the CSBDeep convention)
DEFAULT_PERCENTILES: tuple[float, float] = (1.0, 99.8)
#: at most this many pixels are read from a dask array to estimate percentiles
PERCENTILE_SAMPLE = 1 << 22


#: Mean chroma (Lab units: ``hypot(a, b)`` averaged over the pixels, see :func:`mean_chroma`)
#: below which an automatic result counts as nearly gray.  A color difference of about 2.3 is
#: just noticeable, so a picture whose colors average less than 3 away from gray looks gray;
#: real photos average 15 to 45 (skimage's astronaut 20, coffee 43).
NEAR_GRAY_CHROMA = 3.0
#: Mean confidence (0..1, for models with ``predict_confidence``, when it was computed) below
#: which an automatic result counts as nearly gray: the model is unsure of most of its colors,
#: and confidence-weighted models (``siggraph17``) shrink unsure colors toward gray.
NEAR_GRAY_CONFIDENCE = 0.25


class GrayWarning(UserWarning):
    """A color image was given where a gray one is expected."""


def to_float01(image: np.ndarray) -> np.ndarray:
    """Convert an integer or float image to float32 in 0..1.

    Parameters
    ----------
    image : ndarray
        uint8, uint16, other integer, bool or float image.  Floats are
        assumed to be in 0..1 already (values are clipped).

    Returns
    -------
    ndarray of float32
    """
    image = np.asarray(image)
    if image.size == 0:
        raise InputError(f"empty image (shape {image.shape})")
    if image.dtype == bool:
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        if info.min < 0:
            raise InputError(f"signed integer images ({image.dtype}) are not supported")
        scale = 255.0 if info.max <= 255 else 65535.0 if info.max <= 65535 else float(info.max)
        return (image.astype(np.float32) / np.float32(scale)).clip(0, 1)
    if np.issubdtype(image.dtype, np.floating):
        out = image.astype(np.float32, copy=False)
        if not np.all(np.isfinite(out)):
            raise InputError("image contains NaN or infinite values")
        return np.clip(out, 0.0, 1.0)
    raise InputError(f"unsupported image dtype {image.dtype}")


def rgb2lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in 0..1 (or integer) to CIELAB (..., 3) float32."""
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] not in (3, 4):
        raise InputError(f"expected an RGB(A) image with a last axis of 3 or 4, got shape {rgb.shape}")
    rgb = to_float01(rgb[..., :3])
    return skcolor.rgb2lab(rgb, channel_axis=-1).astype(np.float32)


def lab2rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (..., 3) to sRGB (..., 3) float32 in 0..1 (out-of-gamut clipped)."""
    lab = np.asarray(lab, dtype=np.float32)
    if lab.shape[-1] != 3:
        raise InputError(f"expected a Lab image with a last axis of 3, got shape {lab.shape}")
    with warnings.catch_warnings():
        # skimage warns about negative Z values when clipping out-of-gamut colors
        warnings.simplefilter("ignore", UserWarning)
        rgb = skcolor.lab2rgb(lab, channel_axis=-1)
    return np.clip(rgb, 0, 1).astype(np.float32)


def Lab2rgb(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Join ``L`` (..., H, W) and ``ab`` (..., H, W, 2) into sRGB float32 in 0..1."""
    L = np.asarray(L, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape != L.shape + (2,):
        raise InputError(f"ab shape {ab.shape} does not match L shape {L.shape} + (2,)")
    return lab2rgb(np.concatenate([L[..., None], ab], axis=-1))


def rgb2L(rgb: np.ndarray) -> np.ndarray:
    """Lightness L (0..100, float32) of an RGB image (..., 3)."""
    return rgb2lab(rgb)[..., 0]


def is_gray_rgb(image: np.ndarray, *, atol: float = 1e-3) -> bool:
    """Whether an RGB(A) image has (almost) equal R, G and B everywhere."""
    image = np.asarray(image)
    if image.ndim < 3 or image.shape[-1] not in (3, 4):
        return False
    rgb = to_float01(image[..., :3])
    return bool(
        np.all(np.abs(rgb[..., 0] - rgb[..., 1]) <= atol)
        and np.all(np.abs(rgb[..., 1] - rgb[..., 2]) <= atol)
    )


def is_color(image: Any, rgb: bool | None = None) -> bool:
    """Whether the last axis of ``image`` (numpy or dask) is color: ``rgb``, or guessed when None
    (3 or 4 channels on an image of at least 3 axes)."""
    if rgb is not None:
        return bool(rgb)
    return len(image.shape) >= 3 and image.shape[-1] in (3, 4)


def _image_and_rgb(image: npt.ArrayLike, rgb: bool | None) -> tuple[np.ndarray, bool]:
    """The image as a non-empty array, and whether its last axis is color (guessed when None)."""
    image = np.asarray(image)
    if image.size == 0:
        raise InputError(f"empty image (shape {image.shape})")
    return image, is_color(image, rgb)


def gray2L(
    image: np.ndarray, *, rgb: bool | None = None, limits: tuple[float, float] | None = None
) -> np.ndarray:
    """Lightness L (0..100, float32) of a grayscale image.

    Parameters
    ----------
    image : ndarray
        (..., H, W) gray image as uint8, uint16, bool or float in 0..1; or an
        RGB/RGBA image (..., H, W, 3|4).  A gray-valued RGB image is taken as
        gray.  A truly colored one is reduced to its Lab lightness (its
        luminance) with a :class:`GrayWarning`.
    rgb : bool, optional
        Whether the last axis is a color axis.  By default, a last axis of
        3 or 4 on an image with 3 or more dimensions counts as color.
    limits : (low, high), optional
        Intensities mapped to black and white (clipped outside) for a gray image; by
        default the dtype range (floats 0..1).  See :func:`intensity_limits`.

    Returns
    -------
    L : ndarray of float32, shape (..., H, W)
        The gray value ``g`` (0..1) is taken as sRGB gray ``(g, g, g)``,
        whose L is computed exactly as :func:`rgb2lab` does.
    """
    image, rgb = _image_and_rgb(image, rgb)
    if rgb:
        if not is_gray_rgb(image):
            warnings.warn(
                "a color image was given where a grayscale one is expected; "
                "it was converted to gray by its luminance (Lab L)",
                GrayWarning,
                stacklevel=user_stacklevel(),
            )
        return rgb2L(image)
    if image.ndim < 2:
        raise InputError(f"expected a 2D image or a stack of them, got shape {image.shape}")
    if limits is None:
        g = to_float01(image)
    else:
        lo, hi = _check_limits(limits)
        x = np.asarray(image, dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise InputError("image contains NaN or infinite values")
        g = np.clip((x - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0)
    # sRGB gray (g, g, g) has Y = linearised g; L from Y, as skimage does
    lin = np.where(g > 0.04045, ((g + 0.055) / 1.055) ** 2.4, g / 12.92)
    fy = np.where(lin > 0.008856, np.cbrt(lin), 7.787 * lin + 16.0 / 116.0)
    return (116.0 * fy - 16.0).astype(np.float32)


def L2norm(L: np.ndarray, *, center: float = 50.0, scale: float = 100.0) -> np.ndarray:
    """Normalise L for a model: ``(L - center) / scale``."""
    return ((np.asarray(L, dtype=np.float32) - np.float32(center)) / np.float32(scale)).astype(np.float32)


def norm2L(x: np.ndarray, *, center: float = 50.0, scale: float = 100.0) -> np.ndarray:
    """Inverse of :func:`L2norm`."""
    return (np.asarray(x, dtype=np.float32) * np.float32(scale) + np.float32(center)).astype(np.float32)


def ab2norm(ab: np.ndarray, *, ab_scale: float) -> np.ndarray:
    """Normalise ab for a model: ``ab / ab_scale`` (the scale is a method config value)."""
    return (np.asarray(ab, dtype=np.float32) / np.float32(ab_scale)).astype(np.float32)


def norm2ab(x: np.ndarray, *, ab_scale: float) -> np.ndarray:
    """Inverse of :func:`ab2norm`."""
    return (np.asarray(x, dtype=np.float32) * np.float32(ab_scale)).astype(np.float32)


def L2gray(L: np.ndarray) -> np.ndarray:
    """The sRGB gray level (float32, 0..1) whose lightness is ``L``: the inverse of :func:`gray2L`.

    Use it to make the gray input of an evaluation: a gray image whose L* equals the
    truth's (``L2gray(rgb2L(truth))``), unlike a luma gray such as ``skimage.color.rgb2gray``.

    Parameters
    ----------
    L : ndarray (..., H, W)
        Lightness 0..100 (clipped).

    Returns
    -------
    ndarray of float32, same shape
    """
    L = np.clip(np.asarray(L, dtype=np.float32), 0.0, 100.0)
    fy = (L + 16.0) / 116.0
    lin = np.where(fy > 0.2068966, fy**3, (fy - 16.0 / 116.0) / 7.787)
    lin = np.clip(lin, 0.0, 1.0)
    g = np.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)
    return np.clip(g, 0.0, 1.0).astype(np.float32)


def _check_limits(limits: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in limits)
    except (TypeError, ValueError):
        raise InputError(f"limits must be two numbers (low, high), got {limits!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        raise InputError(f"limits must be finite with low < high, got ({lo}, {hi})")
    return lo, hi


def dtype_limits(dtype: np.dtype) -> tuple[float, float]:
    """The intensity range of a dtype: uint8 0..255, uint16 0..65535, bool and float 0..1."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b" or dtype.kind == "f":
        return 0.0, 1.0
    if dtype.kind == "u":
        info = np.iinfo(dtype)
        return 0.0, float(255 if info.max <= 255 else 65535 if info.max <= 65535 else info.max)
    raise InputError(f"images of dtype {dtype} have no intensity range; use normalize='percentile'")


def _percentile_sample(image: np.ndarray | da.Array) -> np.ndarray:
    """The pixels to take percentiles of: all of a numpy array, a strided sample of a dask one."""
    if hasattr(image, "dask"):
        lazy = cast("da.Array", image)
        n = int(np.prod(lazy.shape))
        step = max(1, int(np.ceil(np.sqrt(n / PERCENTILE_SAMPLE))))
        sample = lazy[..., ::step, ::step] if step > 1 else lazy
        return np.asarray(sample.compute())
    return np.asarray(image)


def check_percentiles(percentiles: Any, *, what: str = "percentiles") -> tuple[float, float]:
    """``(low, high)`` as floats with ``0 <= low < high <= 100``, or a :class:`ConfigError` naming ``what``.

    The one check of the percentile pair, for the API, the wire and the command line
    (``what="--percentiles"``).
    """
    try:
        lo, hi = (float(v) for v in percentiles)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be two numbers (low, high), got {percentiles!r}") from None
    if not 0 <= lo < hi <= 100:
        raise ConfigError(f"{what} must satisfy 0 <= low < high <= 100, got ({lo:g}, {hi:g})")
    return lo, hi


def intensity_limits(
    image: np.ndarray | da.Array,
    *,
    normalize: str = "auto",
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
    limits: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """The intensities that become black and white when ``image`` is turned into L.

    Parameters
    ----------
    image : ndarray or dask array (..., H, W)
        A gray image or a stack of them: a stack gets one pair of limits.
    normalize : {"auto", "dtype", "percentile", "none"}
        ``"dtype"``: the dtype's range (uint8 0..255, uint16 0..65535, bool and float 0..1).
        ``"percentile"``: the ``percentiles`` of the pixel values (robust to hot pixels).
        ``"auto"``: ``"dtype"`` for uint8 and bool, ``"percentile"`` for other integers and
        floats (a 12-bit camera image in uint16, a float image in any range).
        ``"none"``: the values are gray levels in 0..1 already (limits 0 and 1, clipped).
    percentiles : (low, high)
        Percentiles in 0..100 for ``"percentile"``.
    limits : (low, high), optional
        Explicit limits (e.g. a napari layer's contrast limits); they override ``normalize``.

    Returns
    -------
    (low, high) : tuple of float
        ``low < high``.  Percentile limits of a constant image fall back to the dtype range.

    Raises
    ------
    InputError
        Bad limits, a dtype without a range (signed integers) under ``"dtype"``.
    ConfigError
        Unknown ``normalize`` or bad percentiles.
    """
    if limits is not None:
        return _check_limits(limits)
    check_normalize(normalize)
    dtype = np.dtype(image.dtype)
    if dtype.kind not in "buif":
        raise InputError(f"unsupported image dtype {dtype}")
    mode = normalize
    if mode == "auto":
        mode = "dtype" if dtype.kind == "b" or dtype == np.uint8 else "percentile"
    if mode == "none":
        return 0.0, 1.0
    if mode == "dtype":
        return dtype_limits(dtype)
    p_lo, p_hi = check_percentiles(percentiles)
    values = _percentile_sample(image)
    if values.size == 0:
        raise InputError(f"empty image (shape {values.shape})")
    if dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise InputError("image contains NaN or infinite values")
    lo, hi = (float(v) for v in np.percentile(values, [p_lo, p_hi]))
    if hi <= lo:
        return dtype_limits(dtype) if dtype.kind != "i" else (lo, lo + 1.0)
    return lo, hi


def image2L(
    image: np.ndarray,
    *,
    rgb: bool | None = None,
    normalize: str = "auto",
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
    limits: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Lightness L of an image, normalised, and the limits that were used.

    A gray image (or stack) is mapped by :func:`intensity_limits` (one pair for the whole
    stack) and then taken as sRGB gray (:func:`gray2L`).  A color image is reduced to its
    Lab lightness as :func:`gray2L` does, by its dtype range (``normalize`` is ignored).

    Parameters
    ----------
    image : ndarray (..., H, W) or (..., H, W, 3|4)
    rgb : bool, optional
        Whether the last axis is color (guessed by default, see :func:`gray2L`).
    normalize, percentiles, limits
        See :func:`intensity_limits`.

    Returns
    -------
    L : ndarray of float32 (..., H, W), 0..100
    limits : (low, high)
    """
    image, rgb = _image_and_rgb(image, rgb)
    if rgb:
        return gray2L(image, rgb=True), dtype_limits(image.dtype)
    lims = intensity_limits(image, normalize=normalize, percentiles=percentiles, limits=limits)
    return gray2L(image, rgb=False, limits=lims), lims


def check_normalize(normalize: Any) -> str:
    """``normalize`` if it is one of :data:`NORMALIZE`, else a ConfigError."""
    from .errors import ConfigError

    if normalize not in NORMALIZE:
        raise ConfigError(f"unknown normalize {normalize!r}; choose one of {', '.join(NORMALIZE)}")
    return str(normalize)


def check_saturation(saturation: Any) -> float:
    """``saturation`` as a finite float >= 0, else a ConfigError."""
    return check_nonnegative(saturation, "saturation", meaning="0 = gray, 1 = the model's")


def mean_chroma(ab: np.ndarray) -> float:
    """The mean chroma ``hypot(a, b)`` of an ab image (..., 2), in Lab units.

    A large image is sampled on a regular grid of at most :data:`PERCENTILE_SAMPLE` pixels
    (numpy arrays only: a dask array would have to be computed).
    """
    ab = np.asarray(ab)
    if ab.shape[-1] != 2 or ab.size == 0:
        raise InputError(f"ab must have a last axis of 2 and pixels, got shape {ab.shape}")
    n = ab.size // 2
    step = max(1, int(np.ceil(np.sqrt(n / PERCENTILE_SAMPLE))))
    if step > 1 and ab.ndim >= 3:
        ab = ab[..., ::step, ::step, :]
    a, b = ab[..., 0].astype(np.float32), ab[..., 1].astype(np.float32)
    return float(np.mean(np.hypot(a, b), dtype=np.float64))


def apply_saturation(ab: _AB, saturation: float) -> _AB:
    """``ab`` (numpy or dask) scaled by ``saturation``; the same object when it is 1."""
    s = check_saturation(saturation)
    if s == 1.0:
        return ab
    return ab * np.float32(s)

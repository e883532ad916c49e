"""CIELAB helpers: RGB <-> Lab, gray -> L, and model normalisation.

Everything here is pure numpy (through :mod:`skimage.color`): float32 in,
float32 out, any leading shape.  All colorization methods work in CIELAB
(D65, 2 degree observer): the model gets ``L`` (0..100) and predicts ``ab``
(Lab units, roughly -110..110).
"""

from __future__ import annotations

import warnings

import numpy as np
from skimage import color as skcolor

from .errors import InputError, user_stacklevel

__all__ = [
    "rgb2lab",
    "lab2rgb",
    "rgb2L",
    "gray2L",
    "Lab2rgb",
    "L2norm",
    "norm2L",
    "ab2norm",
    "norm2ab",
    "is_gray_rgb",
    "to_float01",
    "GrayWarning",
]


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


def gray2L(image: np.ndarray, *, rgb: bool | None = None) -> np.ndarray:
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

    Returns
    -------
    L : ndarray of float32, shape (..., H, W)
        The gray value ``g`` (0..1) is taken as sRGB gray ``(g, g, g)``,
        whose L is computed exactly as :func:`rgb2lab` does.
    """
    image = np.asarray(image)
    if image.size == 0:
        raise InputError(f"empty image (shape {image.shape})")
    if rgb is None:
        rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)
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
    g = to_float01(image)
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

"""The one colorize chain: image -> L -> engine -> saturation -> RGB.

:func:`napari_colorize.api.colorize` (numpy and dask), the in-memory files and the big TIFFs of
:mod:`~napari_colorize.pipeline` all colorize through these three steps, for numpy and dask
arrays alike:

- :func:`lightness`: the image's L and the intensity limits used (the request's normalisation);
- :func:`colorize_lightness`: the engine over L (the request's tiling, hints and stack
  smoothing), then the request's saturation;
- :func:`lab_to_rgb`: RGB from L and ab (float 0..1, or uint8 for files).

The block functions are module-level: a dask graph on a cluster pickles them.
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np

from .color import Lab2rgb, apply_saturation, gray2L, image2L, intensity_limits, is_color
from .io import to_uint8
from .progress import ProgressCallback, StopCallback
from .request import ColorizeRequest

__all__ = ["lightness", "colorize_lightness", "lab_to_rgb", "is_dask"]


class _Normalization(TypedDict):
    """The request's keywords of :func:`~napari_colorize.color.intensity_limits` (and image2L)."""

    normalize: str
    percentiles: tuple[float, float]
    limits: tuple[float, float] | None


def is_dask(a: Any) -> bool:
    """Whether ``a`` is a dask array (or anything with a dask graph)."""
    return hasattr(a, "dask") or type(a).__module__.startswith("dask")


def lightness(image: Any, request: ColorizeRequest, *, lut: bool = False) -> tuple[Any, Any]:
    """L (..., H, W) float32 0..100 of a numpy or dask image, and the intensity limits used.

    A gray image is mapped by :func:`~napari_colorize.color.intensity_limits` with the request's
    ``normalize``, ``percentiles`` and ``limits`` (one pair for a whole stack); a color one
    (``request.rgb``, guessed when None) by its luminance.  A dask image gives a lazy L (and, in
    color, no limits).  ``lut`` maps 8/16-bit gray through a lookup table (the same values,
    faster: the files of the command line).
    """
    norm = _Normalization(normalize=request.normalize, percentiles=request.percentiles, limits=request.limits)
    if not is_dask(image):
        image = np.asarray(image)
        if not lut:
            return image2L(image, rgb=request.rgb, **norm)
        if is_color(image, request.rgb):
            return image2L(image, rgb=True)
        lims = intensity_limits(image, **norm)
        return gray_block_to_L(image, lims, True), lims
    import dask.array as da

    image = da.asarray(image)
    if is_color(image, request.rgb):
        return image.map_blocks(gray2L, rgb=True, dtype=np.float32, drop_axis=image.ndim - 1), None
    lims = intensity_limits(image, **norm)
    return image.map_blocks(gray_block_to_L, lims, lut, dtype=np.float32), lims


_LUTS: dict[tuple[str, tuple[float, float]], np.ndarray] = {}


def gray_block_to_L(block: np.ndarray, limits: tuple[float, float], lut: bool = False) -> np.ndarray:
    """:func:`~napari_colorize.color.gray2L` of a gray block; with ``lut``, a lookup table for 8/16-bit
    (the same values)."""
    if lut and block.dtype in (np.uint8, np.uint16):
        key = (block.dtype.name, (float(limits[0]), float(limits[1])))
        table = _LUTS.get(key)
        if table is None:
            if len(_LUTS) > 8:
                _LUTS.clear()
            table = _LUTS[key] = gray2L(
                np.arange(np.iinfo(block.dtype).max + 1, dtype=block.dtype)[None], rgb=False, limits=key[1]
            )[0]
        return table[block]
    return gray2L(block, rgb=False, limits=limits)


def colorize_lightness(
    L: Any,
    model: Any,
    request: ColorizeRequest,
    *,
    hints: Any = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> tuple[Any, Any]:
    """The engine's result for L with the request's tiling and stack smoothing, and its ab with
    the request's saturation applied: ``(EngineResult, ab)``.

    ``hints`` are the hints resolved over L (a Hints), or None.
    """
    from . import engine

    res = engine.colorize(
        L,
        model,
        request.options,
        hints=hints,
        stack_smoothing=request.stack_smoothing,
        progress=progress,
        should_stop=should_stop,
    )
    return res, apply_saturation(res.ab, request.saturation)


def lab_to_rgb(L: Any, ab: Any, *, uint8: bool = False) -> Any:
    """RGB (..., H, W, 3) from L and ab, numpy or lazy dask (float32 0..1, or uint8 with ``uint8``)."""
    if not is_dask(ab):
        return _rgb8(np.asarray(L), ab) if uint8 else Lab2rgb(np.asarray(L), ab)
    import dask.array as da

    # L aligned with ab's chunks (the engine may choose its own), with a trailing length-1 axis
    # that the block function drops again
    Lc = da.asarray(L).rechunk(ab.chunks[:-1])
    return da.map_blocks(
        _rgb_block,
        ab,
        Lc[..., None],
        uint8,
        dtype=np.uint8 if uint8 else np.float32,
        chunks=ab.chunks[:-1] + ((3,),),
    )


def _rgb_block(ab: np.ndarray, L: np.ndarray, uint8: bool) -> np.ndarray:
    """RGB of an ab block and its L with a trailing length-1 axis."""
    return _rgb8(L[..., 0], ab) if uint8 else Lab2rgb(L[..., 0], ab)


def _rgb8(L: np.ndarray, ab: np.ndarray, rows: int = 256) -> np.ndarray:
    """uint8 sRGB from L (..., H, W) and ab, in slices of rows (skimage's lab2rgb makes float64 copies)."""
    out = np.empty(L.shape + (3,), np.uint8)
    Lf = L.reshape((-1,) + L.shape[-2:])
    abf = ab.reshape((-1,) + ab.shape[-3:])
    of = out.reshape((-1,) + out.shape[-3:])
    for i in range(Lf.shape[0]):
        for y in range(0, Lf.shape[1], rows):
            of[i, y : y + rows] = to_uint8(Lab2rgb(Lf[i, y : y + rows], abf[i, y : y + rows]))
    return out

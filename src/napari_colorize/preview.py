"""Quick previews of a large plane: colorize a downscaled copy first, the full resolution after.

Live hints in napari colorize the plane at the resolution the canvas can show
(:data:`PREVIEW_SIZE` pixels on the longest side) and replace it with the full-resolution
result when that is done.  This module prepares the downscaled request; it is pure numpy.

The preview grid is :func:`~napari_colorize.edge_aware_solver.block_mean`'s: the plane is cut into
``h`` x ``w`` contiguous blocks, each block becomes one pixel (its mean), and a hint goes to the
block that holds its pixel (:func:`~napari_colorize.hints.downscale_points`,
:meth:`~napari_colorize.hints.Hints.resize`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .color import DEFAULT_PERCENTILES, _check_limits, check_percentiles, intensity_limits
from .errors import InputError

__all__ = [
    "PREVIEW_SECONDS",
    "PREVIEW_SIZE",
    "PREVIEW_SMALLEST",
    "next_preview_size",
    "preview_hints",
    "preview_shape",
    "preview_request",
]

#: largest longest side (pixels) of the live preview: colorizing it takes about 0.3 s with ``propagate``
PREVIEW_SIZE = 512
#: what a live preview should take (seconds, from the hints to the picture): its size adapts to it
PREVIEW_SECONDS = 0.3
#: the preview never gets coarser than this longest side (pixels), however slow the model
PREVIEW_SMALLEST = 128


def next_preview_size(
    size: int,
    seconds: float,
    *,
    target: float = PREVIEW_SECONDS,
    smallest: int = PREVIEW_SMALLEST,
    largest: int = PREVIEW_SIZE,
    tolerance: float = 1.25,
) -> int:
    """The preview's longest side that should take about ``target`` seconds.

    A preview whose longest side was ``size`` pixels took ``seconds``.  The work grows with
    the pixel count, so the side scales by ``sqrt(target / seconds)``, by at most a factor 2
    either way per step (one slow run, a model loading, does not collapse it), within
    ``[smallest, largest]``.  Within ``tolerance`` of the target (a factor either way) the side
    stays, so that the noise of a busy machine does not make every preview a new size.
    Live mode in napari calls this after each preview, per model: a slow network previews
    coarser, a fast solver at ``largest``.

    Examples
    --------
    >>> next_preview_size(512, 1.2)  # four times too slow: half the side
    256
    >>> next_preview_size(256, 0.05)  # fast: grows (at most twice as large), up to the largest
    512
    """
    size, smallest, largest = int(size), int(smallest), int(largest)
    if not 1 <= smallest <= largest:
        raise InputError(f"preview sizes must satisfy 1 <= smallest <= largest, got {smallest}, {largest}")
    if not (np.isfinite(seconds) and seconds > 0):
        return min(max(size, smallest), largest)
    ratio = float(target) / float(seconds)
    if 1 / tolerance <= ratio <= tolerance:
        return min(max(size, smallest), largest)
    factor = float(np.clip(np.sqrt(ratio), 0.5, 2.0))
    return int(min(max(round(size * factor), smallest), largest))


def preview_shape(shape: Sequence[int], size: int = PREVIEW_SIZE) -> tuple[int, int] | None:
    """The (h, w) preview grid of a plane of ``shape`` (..., H, W); None when it is at most ``size``.

    Both axes shrink by the same factor ``max(H, W) / size``, so the preview keeps the
    plane's aspect ratio and its longest side is ``size``.
    """
    size = int(size)
    if size < 1:
        raise InputError(f"the preview size must be at least 1 pixel, got {size}")
    H, W = (int(s) for s in tuple(shape)[-2:])
    if max(H, W) <= size:
        return None
    f = max(H, W) / size
    return min(H, max(1, round(H / f))), min(W, max(1, round(W / f)))


def preview_request(
    image: Any,
    grid: Sequence[int],
    *,
    hints: Any = None,
    normalize: str = "auto",
    percentiles: Sequence[float] | None = None,
    limits: Sequence[float] | None = None,
) -> tuple[np.ndarray, Any, tuple[float, float]]:
    """The image, hints and intensity limits to colorize for a preview of ``image`` on ``grid``.

    Parameters
    ----------
    image : array (H, W)
        A gray plane (any numeric dtype; dask is computed).
    grid : (h, w)
        The preview grid, e.g. :func:`preview_shape`'s.
    hints : table of points, Hints, CSV path, or None
        A table of points (rows ``y, x, r, g, b[, radius]``) is moved onto the grid by
        :func:`~napari_colorize.hints.downscale_points`; dense hints by
        :meth:`~napari_colorize.hints.Hints.resize` (a CSV file is read as dense hints).
    normalize, percentiles, limits
        The intensity options of the full-resolution run
        (:func:`~napari_colorize.color.intensity_limits`).

    Returns
    -------
    small : ndarray of float32, (h, w)
        Block means of ``image``.
    hints : the hints on the grid (same kind as given), or None
    limits : (low, high)
        The full plane's intensity limits, to send with ``small`` (whose dtype is float32 and whose
        extremes the block means soften).  Percentiles come from a strided sample of the plane,
        one pixel per block.
    """
    from .edge_aware_solver import block_mean

    if np.ndim(image) != 2:
        raise InputError(f"a preview is made of one plane (H, W), got shape {tuple(np.shape(image))}")
    image = np.asarray(image.compute() if hasattr(image, "compute") else image)
    if image.dtype.kind == "b":
        image = image.astype(np.uint8) * 255
    h, w = (int(s) for s in grid)
    H, W = image.shape
    sample = image[:: max(1, H // h), :: max(1, W // w)]
    lims = intensity_limits(
        sample,
        normalize=normalize,
        percentiles=check_percentiles(percentiles) if percentiles is not None else DEFAULT_PERCENTILES,
        limits=_check_limits(limits) if limits is not None else None,
    )
    small = block_mean(image[..., None], (h, w))[..., 0]
    return small, preview_hints(hints, (H, W), (h, w)), (float(lims[0]), float(lims[1]))


def preview_hints(hints: Any, shape: Sequence[int], grid: Sequence[int]) -> Any:
    """``hints`` for a plane of ``shape`` (H, W), moved onto the preview ``grid`` (h, w).

    A table of points (rows ``y, x, r, g, b[, radius]``) goes through
    :func:`~napari_colorize.hints.downscale_points`, dense hints through
    :meth:`~napari_colorize.hints.Hints.resize` (a CSV file is read as dense hints); None stays None.
    Live mode calls this alone when only the hints changed (the plane's block means are kept).
    """
    from .hints import Hints, downscale_points

    H, W = (int(s) for s in tuple(shape)[-2:])
    h, w = (int(s) for s in grid)
    if isinstance(hints, (str, os.PathLike)):
        hints = Hints.from_csv(hints, (H, W))
    if hints is None:
        return None
    if isinstance(hints, Hints):
        return hints.check_shape((H, W)).resize((h, w))
    return downscale_points(hints, (H, W), (h, w))

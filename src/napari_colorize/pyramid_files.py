"""The multiscale files of :func:`~napari_colorize.pipeline.colorize_file`: OME-Zarr and pyramidal TIFF.

A multiscale input is colorized by :func:`napari_colorize.api.colorize_request` (level 0 tile by
tile, lazily) and written as ``<stem>_rgb.zarr``, an OME-Zarr RGB pyramid with the input's scale
and levels (:func:`~napari_colorize.multiscale.write_rgb_store`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .io import TIFF_SUFFIXES
from .progress import ProgressCallback
from .request import ColorizeRequest
from .tiff_stream import tiff_metadata

__all__ = ["is_pyramid_name", "pyramid_input", "colorize_pyramid"]


def is_pyramid_name(path: Path) -> bool:
    """Whether ``path`` is an OME-Zarr folder or a pyramidal TIFF (one series, several levels)."""
    if path.is_dir() and path.suffix.lower() == ".zarr":
        return True
    if path.suffix.lower() not in TIFF_SUFFIXES or not path.is_file():
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.series) == 1 and len(tif.series[0].levels) > 1
    except Exception:  # noqa: BLE001 - the normal reader reports bad files
        return False


def pyramid_input(path: Path) -> Any:
    """The :class:`~napari_colorize.multiscale.OmeImage` of an OME-Zarr or pyramidal TIFF; else None."""
    if not is_pyramid_name(path):
        return None
    from .multiscale import read_ome_zarr, read_tiff_pyramid

    return read_ome_zarr(path) if path.is_dir() else read_tiff_pyramid(path)


def colorize_pyramid(
    path: Path,
    image: Any,
    model: Any,
    out_dir: Path,
    request: ColorizeRequest,
    *,
    hints: Any,
    progress: ProgressCallback | None,
) -> tuple[list[Path], Any, tuple[int, ...], tuple[float, float]]:
    """Colorize a multiscale image and write ``<stem>_rgb.zarr`` (OME-Zarr, same scale and levels).

    Returns the files written, level 0's tile plan and shape, and the limits used.
    """
    from .api import colorize_request
    from .multiscale import _replaceable, write_rgb_store

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}_rgb.zarr"
    _replaceable(out)  # before the model runs (checked again under the store's lock)
    res = colorize_request(list(image.levels), request, model=model, hints=hints, progress=progress)
    write_rgb_store(
        out,
        res.L,
        res.ab[0],
        scale=image.scale,
        translation=image.translation,
        units=image.units,
        name=image.name or path.stem,
        metadata={
            **tiff_metadata(request, res.limits),
            "source": path.name,
            "source_channels": image.channel_names,
        },
    )
    return [out], res.plan, tuple(res.L[0].shape), res.limits

"""File-level colorization used by the command line.

:func:`colorize_file` reads one image file, colorizes it and writes
``<stem>_rgb.png`` (PNG/JPEG/... input) or ``<stem>_rgb.tif`` (TIFF input; a
multi-page TIFF is a stack and gives a multi-page TIFF), optionally the
float32 ``<stem>_L.tif`` and ``<stem>_ab.tif``, the model's confidence
(``<stem>_confidence.tif``, float32 0..1, for TIFF input; ``<stem>_confidence.png``,
uint8 0..255, otherwise) and the tile plan as JSON.
Gray intensities are normalised as :func:`~napari_colorize.color.intensity_limits`
says (one pair of limits per file, a stack included); TIFF outputs record the
limits in their metadata (``{"normalize": ..., "limits": [low, high]}``).

Big TIFFs (:data:`BIG_PIXELS` or more, all the planes of a stack together) never sit in
memory whole (:mod:`~napari_colorize.tiff_stream`: read lazily, written tile by tile, in bands);
multiscale inputs (OME-Zarr, pyramidal TIFF) give an OME-Zarr pyramid
(:mod:`~napari_colorize.pyramid_files`).  A TIFF that holds several images (series) gives
outputs for each: ``<stem>_series<i>_rgb.tif``.  Every path colorizes through
:mod:`~napari_colorize.chain`, as a :class:`~napari_colorize.request.ColorizeRequest` says.

Color hints for a file come from a CSV file or a marked image (:func:`hints_for_file`, which
reads only the image, never a model, so the command line checks them before TensorFlow loads).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ColorizeError, ConfigError, InputError, user_stacklevel
from .io import TIFF_SUFFIXES, atomic_write, read_image, to_uint8, write_image
from .progress import ProgressCallback
from .pyramid_files import colorize_pyramid, is_pyramid_name, pyramid_input
from .request import ColorizeRequest, split_hints
from .tiff_stream import TIFF_TILE, colorize_big_tiff, tiff_metadata
from .tiling import TilingOptions

__all__ = [
    "colorize_file",
    "hints_for_file",
    "image_shape",
    "tiff_series",
    "output_names",
    "check_output_names",
    "BIG_PIXELS",
    "TIFF_TILE",
]

#: TIFF planes with at least this many pixels are read lazily and written tile by tile
#: (4096 x 4096: well below the 10,000 x 10,000 the issue calls big, because an
#: in-memory 25 MP colorization with a Keras model already peaks above 2.5 GB)
BIG_PIXELS = 4096 * 4096


def colorize_file(
    path: str | Path,
    model: Any,
    out_dir: str | Path,
    *,
    request: ColorizeRequest | None = None,
    hints: Any = None,
    save_lab: bool = False,
    save_confidence: bool = False,
    tiles_json: str | Path | None = None,
    progress: ProgressCallback | None = None,
    big_pixels: int | None = None,
    scheduler: Any = None,
    options: TilingOptions | dict[str, Any] | None = None,
    **keywords: Any,
) -> list[Path]:
    """Colorize one image file.

    Parameters
    ----------
    path : path
        PNG, JPEG, ... or TIFF (8/16 bit, float, multi-page = stack).  A color
        image is reduced to gray by its luminance (with a warning).
    model : Colorizer, model folder or built-in model name, or None
        None: the request's ``model``.
    out_dir : path
        Folder for the outputs (created).
    request : ColorizeRequest, optional
        What to colorize with (tiling, normalisation, saturation, stack smoothing, hints).  Without
        it, ``options`` and ``**keywords`` build it (:meth:`ColorizeRequest.build
        <napari_colorize.request.ColorizeRequest.build>`: ``tile=512``, ``saturation=1.5``,
        ``normalize=...``, ``percentiles``, ``limits``, ``stack_smoothing``, ...; the tiling
        keywords on top of ``options``).  A big TIFF is always tiled (``tile="auto"`` when not given).
    hints : Hints or CSV path, optional
        Color hints over the image's (..., H, W) (see :func:`napari_colorize.api.colorize`;
        :func:`hints_for_file` makes them from a CSV file or a marked image); they replace the
        request's.  A Hints holds only its hinted pixels, so hints over a huge image stay small.
    save_lab : bool
        Also write ``<stem>_L.tif`` (float32 L) and ``<stem>_ab.tif``
        (float32 ab, last axis a, b).
    save_confidence : bool
        Also write the model's confidence (0..1, computed per plane, untiled):
        ``<stem>_confidence.tif`` (float32) for TIFF input, ``<stem>_confidence.png``
        (uint8, 255 = sure) otherwise.  Only for models with ``predict_confidence`` and
        images below ``big_pixels``.
    tiles_json : path, optional
        Write ``{"image": ..., "plan": TilePlan.to_dict(), "limits": ...}`` here (the write
        boxes as napari rectangles under ``plan.rectangles``).
    progress : callable(done, total), optional
    big_pixels : int, optional
        Threshold of the lazy path (default :data:`BIG_PIXELS`).
    scheduler : str or distributed.Client, optional
        The dask scheduler of the lazy path (``"threads"``, a client, ...).  Default: dask's
        own choice, except inside a dask worker, where the worker's threads compute (the worker
        already is the cluster's unit of work; its default client would ship the graph back).

    Returns
    -------
    list of Path
        The files written, the RGB image first (for a TIFF of several series: each series' files in turn,
        ``<stem>_series<i>_rgb.tif`` first).
    """
    from . import engine
    from .api import resolve_model

    in_request, beside = split_hints(hints)
    if request is None:
        request = ColorizeRequest.build(model=model, hints=in_request, options=options, **keywords)
    elif options is not None or keywords or in_request is not None:
        raise ConfigError("give colorize_file a request or its keywords, not both")
    model = request.model if model is None else model
    path = Path(path)
    out_dir = Path(out_dir)
    pyramid = pyramid_input(path)
    if pyramid is not None:
        if save_lab or save_confidence:
            what = "--save-lab (L, ab)" if save_lab else "the confidence"
            raise ConfigError(
                f"{path.name}: {what} of a multiscale image (OME-Zarr, pyramidal TIFF) is not available"
            )
        model = resolve_model(model)
        with _lazy_reading(path, scheduler):
            written, plan, shape, lims = colorize_pyramid(
                path, pyramid, model, out_dir, request, hints=beside, progress=progress
            )
        return written + _tiles_json(tiles_json, path, plan, shape, lims)
    hints = beside
    if hints is None:
        hints = request.hints if isinstance(request.hints, str) else request.points()
    model = resolve_model(model)
    if save_confidence:
        engine.require_confidence(model)
    is_tiff = path.suffix.lower() in TIFF_SUFFIXES
    series = tiff_series(path) if is_tiff else [None]
    threshold = BIG_PIXELS if big_pixels is None else big_pixels
    if len(series) > 1 and (hints is not None or tiles_json is not None):
        what = "hints" if hints is not None else "a tiles JSON"
        raise ConfigError(
            f"{path.name} holds {len(series)} images (TIFF series); {what} need a file with one image"
        )
    big = [s is not None and s[1] >= threshold for s in series]
    if any(big) and save_confidence:
        raise ConfigError(
            f"{path.name}: the confidence of a big TIFF ({BIG_PIXELS} px or more, all planes together) "
            "is not available"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(hints, (str, os.PathLike)):
        hints = hints_for_file(path, csv=hints)
    written: list[Path] = []
    for i, is_big in enumerate(big):
        stem = path.stem if len(series) == 1 else f"{path.stem}_series{i}"
        if is_big:
            big_request = request
            if not request.options.tiled:
                big_request = request.replace(tiling=request.options.replace(tile="auto").to_dict())
            with _lazy_reading(path, scheduler):
                w, plan, shape, lims = colorize_big_tiff(
                    path,
                    model,
                    out_dir,
                    big_request,
                    series=i,
                    stem=stem,
                    save_lab=save_lab,
                    progress=progress,
                    hints=hints,
                )
        else:
            w, plan, shape, lims = _colorize_in_memory(
                path,
                model,
                out_dir,
                request,
                series=i,
                stem=stem,
                save_lab=save_lab,
                save_confidence=save_confidence,
                is_tiff=is_tiff,
                progress=progress,
                hints=hints,
            )
        written.extend(w)
    return written + _tiles_json(tiles_json, path, plan, shape, lims)


def _tiles_json(
    tiles_json: str | Path | None, path: Path, plan: Any, shape: tuple[int, ...], lims: tuple[float, float]
) -> list[Path]:
    """Write ``{"image", "plan", "limits"}`` to ``tiles_json`` (when given); the file written, if any."""
    if tiles_json is None:
        return []
    from .tiling import TilePlan

    plan = plan if plan is not None else TilePlan.whole(shape)
    with atomic_write(tiles_json, "w") as f:
        json.dump({"image": str(path), "plan": plan.to_dict(), "limits": list(lims)}, f, indent=1)
    return [Path(tiles_json)]


@contextlib.contextmanager
def _lazy_reading(path: Path, scheduler: Any) -> Iterator[None]:
    """While ``path`` is read lazily: dask computes on ``scheduler`` (a dask worker's own threads
    when None there), and a decoder's error is one :class:`InputError` line."""
    import dask

    if scheduler is None and _in_dask_worker():
        scheduler = "threads"
    with (
        dask.config.set(scheduler=scheduler) if scheduler is not None else contextlib.nullcontext(),
        _damaged_file_is_input_error(path),
    ):
        yield


#: modules whose exceptions, met while a file is read, mean a damaged or truncated file
_DECODER_MODULES = {"zlib", "imagecodecs", "tifffile", "zarr", "numcodecs", "lzma", "bz2", "zstd", "struct"}


@contextlib.contextmanager
def _damaged_file_is_input_error(path: Path) -> Iterator[None]:
    """Turn a decoder's error while ``path`` is read lazily into one :class:`InputError` line."""
    try:
        yield
    except (ColorizeError, MemoryError, OSError, KeyboardInterrupt):
        raise
    except Exception as e:
        root = type(e).__module__.split(".")[0].lstrip("_")
        if root not in _DECODER_MODULES and not isinstance(e, EOFError):
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        raise InputError(
            f"cannot read {path}: the file is damaged or truncated ({type(e).__name__}: {first})"
        ) from None


def output_names(path: str | Path, *, save_lab: bool = False, save_confidence: bool = False) -> list[str]:
    """The names of the files :func:`colorize_file` writes for ``path`` (reads a TIFF's header only)."""
    path = Path(path)
    if is_pyramid_name(path):
        return [f"{path.stem}_rgb.zarr"]
    is_tiff = path.suffix.lower() in TIFF_SUFFIXES
    n = len(tiff_series(path)) if is_tiff else 1
    stems = [path.stem] if n == 1 else [f"{path.stem}_series{i}" for i in range(n)]
    names = []
    for stem in stems:
        names.append(f"{stem}_rgb.tif" if is_tiff else f"{stem}_rgb.png")
        if save_lab:
            names += [f"{stem}_L.tif", f"{stem}_ab.tif"]
        if save_confidence:
            names.append(f"{stem}_confidence.tif" if is_tiff else f"{stem}_confidence.png")
    return names


def check_output_names(
    files: Sequence[str | Path], *, save_lab: bool = False, save_confidence: bool = False
) -> None:
    """Raise :class:`InputError` (naming both inputs) when two inputs would write the same output file.

    Outputs go into one folder, named after each input's stem (``<stem>_rgb.png``), so
    ``a/img.png`` and ``b/img.png``, or ``x.png`` and ``x.jpg``, would overwrite each other.
    """
    seen: dict[str, Path] = {}
    for f in files:
        f = Path(f)
        for name in output_names(f, save_lab=save_lab, save_confidence=save_confidence):
            other = seen.setdefault(name, f)
            if other != f:
                raise InputError(
                    f"{other} and {f} would both be written to {name}; rename one, or colorize them "
                    "into separate --out-dir folders"
                )


def _in_dask_worker() -> bool:
    """Whether this code runs in a task of a dask distributed worker."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def image_shape(path: str | Path) -> tuple[int, ...]:
    """The gray (..., H, W) shape an image file is colorized at (a TIFF's header only; others are read).

    A color image's channel axis is left out (it is reduced to its lightness).
    """
    path = Path(path)
    if path.is_dir() and path.suffix.lower() == ".zarr":
        from .multiscale import read_ome_zarr

        return tuple(int(n) for n in read_ome_zarr(path).levels[0].shape)
    if path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                shape = tuple(int(n) for n in tif.series[0].shape)
        except Exception as e:  # noqa: BLE001 - any unreadable TIFF is the user's bad input
            raise InputError(f"cannot read {path}: {e}") from None
    else:
        shape = tuple(read_image(path).shape)
    if len(shape) >= 3 and shape[-1] in (3, 4):
        shape = shape[:-1]
    return shape


def hints_for_file(
    path: str | Path, *, csv: str | os.PathLike | None = None, marked: str | os.PathLike | None = None
) -> Any:
    """Color hints for the image file ``path``, from a CSV file or a marked image.

    Parameters
    ----------
    path : path
        The gray image (or stack) the hints are for.
    csv : path, optional
        A CSV file with the header ``y,x,r,g,b`` (optional ``radius``, and ``plane`` for a
        stack), read with :meth:`Hints.from_csv <napari_colorize.hints.Hints.from_csv>`.
    marked : path, optional
        Levin et al.'s format: a color copy of the gray image ``path`` with some pixels
        painted (:meth:`Hints.from_marked_image <napari_colorize.hints.Hints.from_marked_image>`).

    Raises
    ------
    ConfigError
        Neither or both of ``csv`` and ``marked``.
    InputError
        A bad CSV (header, value, a hint outside the image or on a plane the stack does not
        have), a marked image of another size, or a marked image for a stack.
    """
    from .hints import Hints

    if (csv is None) == (marked is None):
        raise ConfigError("give hints as a CSV file or as a marked image (one of the two)")
    path = Path(path)
    if csv is not None:
        return Hints.from_csv(csv, image_shape(path))
    gray = read_image(path)
    if (gray.ndim == 3 and gray.shape[-1] not in (3, 4)) or gray.ndim > 3:
        raise InputError(f"{marked}: a marked image gives hints for one plane, but {path.name} is a stack")
    try:
        return Hints.from_marked_image(read_image(marked), gray)
    except InputError as e:
        raise InputError(f"{marked}: {e}") from None


# -- small files ---------------------------------------------------------------------------


def _colorize_in_memory(
    path: Path,
    model: Any,
    out_dir: Path,
    request: ColorizeRequest,
    *,
    series: int,
    stem: str,
    save_lab: bool,
    save_confidence: bool,
    is_tiff: bool,
    progress: ProgressCallback | None,
    hints: Any,
) -> tuple[list[Path], Any, tuple[int, ...], tuple[float, float]]:
    from . import engine
    from .chain import colorize_lightness, lab_to_rgb, lightness

    image = read_image(path, series=series)
    L, lims = lightness(image, request, lut=True)
    del image
    res, ab = colorize_lightness(L, model, request, hints=hints, progress=progress)
    rgb8 = lab_to_rgb(L, ab, uint8=True)
    meta = tiff_metadata(request, lims)
    written = []
    if is_tiff:
        written.append(_write_tiff(out_dir / f"{stem}_rgb.tif", rgb8, rgb=True, metadata=meta))
    else:
        if rgb8.ndim != 3:
            raise InputError(f"{path}: cannot write a stack of shape {rgb8.shape} as {path.suffix}")
        written.append(write_image(out_dir / f"{stem}_rgb.png", rgb8))
    del rgb8
    if save_lab:
        written.append(_write_tiff(out_dir / f"{stem}_L.tif", np.asarray(L, np.float32), metadata=meta))
        written.append(_write_tiff(out_dir / f"{stem}_ab.tif", np.asarray(ab, np.float32), metadata=meta))
    if save_confidence:
        conf = engine.predict_confidence(L, model, hints=hints)
        if is_tiff:
            written.append(_write_tiff(out_dir / f"{stem}_confidence.tif", conf, metadata=meta))
        else:
            written.append(write_image(out_dir / f"{stem}_confidence.png", to_uint8(conf)))
    _warn_near_gray(path, res.ab, model, hints, conf if save_confidence else None)
    return written, res.plan, tuple(np.shape(L)), lims


def _warn_near_gray(path: Path, ab: np.ndarray, model: Any, hints: Any, confidence: Any) -> None:
    """A NearGrayWarning naming the file when its automatic result is nearly gray (the API's rule)."""
    import warnings

    from .api import near_gray_advice
    from .color import mean_chroma
    from .errors import NearGrayWarning

    advice = near_gray_advice(mean_chroma(ab), model, hints=hints, confidence=confidence)
    if advice is not None:
        warnings.warn(f"{path.name}: {advice}", NearGrayWarning, stacklevel=user_stacklevel())


def _write_tiff(
    path: Path, data: np.ndarray, *, rgb: bool = False, metadata: dict[str, Any] | None = None
) -> Path:
    """Write an array atomically; leading axes become pages (an RGB stack stays RGB)."""
    import tifffile

    big = data.nbytes > 2**31
    with atomic_write(path) as f:
        tifffile.imwrite(
            f, data, photometric="rgb" if rgb else "minisblack", bigtiff=big, metadata=metadata or {}
        )
    return path


def tiff_series(path: str | Path) -> list[tuple[tuple[int, ...], int] | None]:
    """The images (series) of a TIFF file: (shape, gray pixels of all its planes) each.

    ``[None]`` when the file cannot be read (the reader then reports it).  A pyramid's levels
    are one series (its full resolution counts).
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            out = []
            for s in tif.series:
                shape, axes = tuple(int(n) for n in s.shape), s.axes
                px = int(np.prod([n for n, a in zip(shape, axes) if a != "S"], dtype=np.int64))
                out.append((shape, px))
    except Exception:  # noqa: BLE001 - let the normal reader report bad files
        return [None]
    return out or [None]

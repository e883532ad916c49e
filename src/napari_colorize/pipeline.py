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
memory whole: they are read lazily, plane by plane and chunk by chunk (a memory map for
uncompressed files, tifffile's zarr store otherwise), colorized by the engine's dask path,
and written as tiled TIFFs tile by tile, in bands, so peak memory follows a plane's bands,
not the file.  A TIFF that holds several images (series) gives outputs for each:
``<stem>_series<i>_rgb.tif``.

Color hints for a file come from a CSV file or a marked image (:func:`hints_for_file`, which
reads only the image, never a model, so the command line checks them before TensorFlow loads).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .color import DEFAULT_PERCENTILES, apply_saturation, check_saturation
from .errors import ColorizeError, ConfigError, InputError, user_stacklevel
from .io import TIFF_SUFFIXES, atomic_write, read_image, to_uint8, write_image
from .progress import ProgressCallback
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
#: tile shape of the tiled TIFFs written for big images
TIFF_TILE = (256, 256)


def colorize_file(
    path: str | Path,
    model: Any,
    out_dir: str | Path,
    *,
    hints: Any = None,
    stack_smoothing: float = 0.0,
    saturation: float = 1.0,
    options: TilingOptions | dict[str, Any] | None = None,
    save_lab: bool = False,
    save_confidence: bool = False,
    normalize: str = "auto",
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
    limits: tuple[float, float] | None = None,
    tiles_json: str | Path | None = None,
    progress: ProgressCallback | None = None,
    big_pixels: int | None = None,
    scheduler: Any = None,
    **tiling: Any,
) -> list[Path]:
    """Colorize one image file.

    Parameters
    ----------
    path : path
        PNG, JPEG, ... or TIFF (8/16 bit, float, multi-page = stack).  A color
        image is reduced to gray by its luminance (with a warning).
    model : Colorizer, model folder or built-in model name
    out_dir : path
        Folder for the outputs (created).
    hints : Hints or CSV path, optional
        Color hints over the image's (..., H, W) (see :func:`napari_colorize.api.colorize`;
        :func:`hints_for_file` makes them from a CSV file or a marked image).  A Hints holds
        only its hinted pixels, so hints over a huge image stay small.
    stack_smoothing : float
        Smoothing of ab along a stack where L does not change (see
        :func:`napari_colorize.engine.colorize`); 0 is none.
    saturation : float
        Multiplies the predicted ab (0 = gray, 1 = the model's colors, see
        :func:`napari_colorize.api.colorize`).
    options : TilingOptions or dict, optional
        Tiling options; ``**tiling`` (``tile=512``, ...) are applied on top.  A big TIFF is
        always tiled (``tile="auto"`` when not given).
    save_lab : bool
        Also write ``<stem>_L.tif`` (float32 L) and ``<stem>_ab.tif``
        (float32 ab, last axis a, b).
    save_confidence : bool
        Also write the model's confidence (0..1, computed per plane, untiled):
        ``<stem>_confidence.tif`` (float32) for TIFF input, ``<stem>_confidence.png``
        (uint8, 255 = sure) otherwise.  Only for models with ``predict_confidence`` and
        images below ``big_pixels``.
    normalize, percentiles, limits
        Intensity normalisation of gray images, see
        :func:`~napari_colorize.color.intensity_limits`.
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

    opts = TilingOptions.coerce(options, **tiling)
    saturation = check_saturation(saturation)
    path = Path(path)
    out_dir = Path(out_dir)
    pyramid = _pyramid_input(path)
    if pyramid is not None:
        if save_lab or save_confidence:
            what = "--save-lab (L, ab)" if save_lab else "the confidence"
            raise ConfigError(
                f"{path.name}: {what} of a multiscale image (OME-Zarr, pyramidal TIFF) is not available"
            )
        return _colorize_pyramid(
            path,
            pyramid,
            resolve_model(model),
            out_dir,
            opts,
            hints=hints,
            stack_smoothing=stack_smoothing,
            saturation=saturation,
            normalize=normalize,
            percentiles=percentiles,
            limits=limits,
            tiles_json=tiles_json,
            progress=progress,
            scheduler=scheduler,
        )
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
    norm = dict(normalize=normalize, percentiles=percentiles, limits=limits)
    if isinstance(hints, (str, os.PathLike)):
        hints = hints_for_file(path, csv=hints)
    lab = dict(hints=hints, stack_smoothing=stack_smoothing, saturation=saturation)
    written: list[Path] = []
    for i, is_big in enumerate(big):
        stem = path.stem if len(series) == 1 else f"{path.stem}_series{i}"
        if is_big:
            import dask

            big_opts = opts if opts.tiled else opts.replace(tile="auto")
            if scheduler is None and _in_dask_worker():
                scheduler = "threads"
            with (
                dask.config.set(scheduler=scheduler) if scheduler is not None else contextlib.nullcontext(),
                _damaged_file_is_input_error(path),
            ):
                w, plan, shape, lims = _colorize_big_tiff(
                    path,
                    model,
                    out_dir,
                    big_opts,
                    series=i,
                    stem=stem,
                    save_lab=save_lab,
                    progress=progress,
                    **lab,
                    **norm,
                )
        else:
            w, plan, shape, lims = _colorize_in_memory(
                path,
                model,
                out_dir,
                opts,
                series=i,
                stem=stem,
                save_lab=save_lab,
                save_confidence=save_confidence,
                is_tiff=is_tiff,
                progress=progress,
                **lab,
                **norm,
            )
        written.extend(w)
    if tiles_json is not None:
        from .tiling import TilePlan

        plan = plan if plan is not None else TilePlan.whole(shape)
        with atomic_write(tiles_json, "w") as f:
            json.dump({"image": str(path), "plan": plan.to_dict(), "limits": list(lims)}, f, indent=1)
        written.append(Path(tiles_json))
    return written


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
    if _is_pyramid_name(path):
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


def _tiff_metadata(normalize: str, limits: tuple[float, float]) -> dict[str, Any]:
    """What a TIFF output records about how it was made (JSON in its ImageDescription)."""
    return {"normalize": normalize, "limits": [float(limits[0]), float(limits[1])]}


# -- small files ---------------------------------------------------------------------------


def _colorize_in_memory(
    path: Path,
    model: Any,
    out_dir: Path,
    opts: TilingOptions,
    *,
    series: int,
    stem: str,
    save_lab: bool,
    save_confidence: bool,
    is_tiff: bool,
    progress: ProgressCallback | None,
    hints: Any,
    stack_smoothing: float,
    saturation: float,
    normalize: str,
    percentiles: tuple[float, float],
    limits: tuple[float, float] | None,
) -> tuple[list[Path], Any, tuple[int, ...], tuple[float, float]]:
    from . import engine
    from .color import image2L, intensity_limits

    image = read_image(path, series=series)
    color = image.ndim >= 3 and image.shape[-1] in (3, 4)
    if color:
        L, lims = image2L(image, rgb=True)
    else:
        lims = intensity_limits(image, normalize=normalize, percentiles=percentiles, limits=limits)
        L = _gray2L_fast(image, lims)
    del image
    res = engine.colorize(L, model, opts, hints=hints, stack_smoothing=stack_smoothing, progress=progress)
    ab = apply_saturation(res.ab, saturation)
    rgb8 = _rgb8(L, ab)
    meta = _tiff_metadata(normalize if limits is None else "limits", lims)
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


def _rgb8(L: np.ndarray, ab: np.ndarray, rows: int = 256) -> np.ndarray:
    """uint8 sRGB from L (..., H, W) and ab, in slices of rows (skimage's lab2rgb makes float64 copies)."""
    from .color import Lab2rgb

    out = np.empty(L.shape + (3,), np.uint8)
    Lf = L.reshape((-1,) + L.shape[-2:])
    abf = ab.reshape((-1,) + ab.shape[-3:])
    of = out.reshape((-1,) + out.shape[-3:])
    for i in range(Lf.shape[0]):
        for y in range(0, Lf.shape[1], rows):
            of[i, y : y + rows] = to_uint8(Lab2rgb(Lf[i, y : y + rows], abf[i, y : y + rows]))
    return out


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


# -- big TIFFs -----------------------------------------------------------------------------


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


_LUTS: dict[tuple[str, tuple[float, float]], np.ndarray] = {}


def _gray2L_fast(block: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """:func:`~napari_colorize.color.gray2L` of a gray block; a lookup table for 8/16-bit (same values)."""
    from .color import gray2L

    if block.dtype in (np.uint8, np.uint16):
        key = (block.dtype.name, (float(limits[0]), float(limits[1])))
        lut = _LUTS.get(key)
        if lut is None:
            if len(_LUTS) > 8:
                _LUTS.clear()
            lut = _LUTS[key] = gray2L(
                np.arange(np.iinfo(block.dtype).max + 1, dtype=block.dtype)[None], rgb=False, limits=key[1]
            )[0]
        return lut[block]
    return gray2L(block, rgb=False, limits=limits)


def _open_lazy(path: Path, series: int = 0) -> Any:
    """A dask array over a TIFF's series, read chunk by chunk (a stack plane by plane)."""
    import dask.array as da
    import tifffile

    with tifffile.TiffFile(path) as tif:
        s = tif.series[series]
        contiguous = s.dataoffset is not None
        shape, dtype = s.shape, s.dtype
    if contiguous:
        arr: Any = tifffile.memmap(path, mode="r", series=series)
        chunks = tuple(1 for _ in shape[:-2]) + (2048, 2048) if len(shape) >= 2 else "auto"
        if len(shape) >= 3 and shape[-1] in (3, 4):
            chunks = tuple(1 for _ in shape[:-3]) + (2048, 2048, -1)
        return da.from_array(arr, chunks=chunks, lock=False, asarray=True), dtype
    import zarr

    z = zarr.open(tifffile.imread(path, aszarr=True, series=series), mode="r")
    if not hasattr(z, "shape"):  # a multiscale group: the full-resolution level
        z = z["0"]
    a = da.from_zarr(z)
    # merge small stored chunks (TIFF tiles/strips) into ~2048 px chunks
    target = (
        {a.ndim - 2: 2048, a.ndim - 1: 2048}
        if not (a.ndim >= 3 and a.shape[-1] in (3, 4))
        else {a.ndim - 3: 2048, a.ndim - 2: 2048}
    )
    return a.rechunk(target), dtype


def _rgb_block_to_L(block: np.ndarray) -> np.ndarray:
    """L of a color block (module level: a dask graph on a cluster pickles it)."""
    import warnings

    from .color import GrayWarning, gray2L

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GrayWarning)
        return gray2L(block, rgb=True)


def _rgb8_block(ab: np.ndarray, L: np.ndarray) -> np.ndarray:
    """uint8 RGB of an ab block and its L with a trailing length-1 axis."""
    return _rgb8(L[..., 0], ab)


def _colorize_big_tiff(
    path: Path,
    model: Any,
    out_dir: Path,
    opts: TilingOptions,
    *,
    series: int,
    stem: str,
    save_lab: bool,
    progress: ProgressCallback | None,
    hints: Any,
    stack_smoothing: float,
    saturation: float,
    normalize: str,
    percentiles: tuple[float, float],
    limits: tuple[float, float] | None,
) -> tuple[list[Path], Any, tuple[int, ...], tuple[float, float]]:
    import dask.array as da

    from . import engine
    from .color import dtype_limits, intensity_limits

    image, _ = _open_lazy(path, series)
    is_rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)
    if is_rgb:
        import warnings

        from .color import GrayWarning

        warnings.warn(
            f"{path.name}: a color image was given; it is colorized from its luminance (Lab L)",
            GrayWarning,
            stacklevel=user_stacklevel(),
        )

        L = image.map_blocks(_rgb_block_to_L, dtype=np.float32, drop_axis=image.ndim - 1)
        lims = dtype_limits(image.dtype)
    else:
        lims = intensity_limits(image, normalize=normalize, percentiles=percentiles, limits=limits)
        L = image.map_blocks(_gray2L_fast, lims, dtype=np.float32)
    res = engine.colorize(L, model, opts, hints=hints, stack_smoothing=stack_smoothing, progress=progress)
    ab = apply_saturation(res.ab, saturation)
    Lc = L.rechunk(ab.chunks[:-1])

    rgb8 = da.map_blocks(_rgb8_block, ab, Lc[..., None], dtype=np.uint8, chunks=ab.chunks[:-1] + ((3,),))
    outputs = [(out_dir / f"{stem}_rgb.tif", rgb8, "rgb")]
    if save_lab:
        outputs.append((out_dir / f"{stem}_L.tif", Lc, "minisblack"))
        outputs.append((out_dir / f"{stem}_ab.tif", ab, "minisblack"))
    _write_tiled_tiffs(outputs, metadata=_tiff_metadata(normalize if limits is None else "limits", lims))
    return [p for p, _, _ in outputs], res.plan, tuple(L.shape), lims


def _write_tiled_tiffs(
    outputs: list[tuple[Path, Any, str]], *, metadata: dict[str, Any] | None = None
) -> None:
    """Compute dask arrays (..., H, W[, C]) band by band and write each as a tiled TIFF.

    ``outputs`` holds (path, array, photometric); an array has channels
    (a last axis) when it has one more axis than the first (the RGB image).
    One pass over the bands computes all outputs together; a writer thread
    per file takes the bands from a short queue and feeds tifffile its tiles
    in order, so memory holds a couple of bands at most.
    """
    import dask

    ref = outputs[0][1]
    lead = ref.shape[:-3]
    ychunks = ref.chunks[-3]
    queues: list[queue.Queue] = [queue.Queue(maxsize=2) for _ in outputs]
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []
    try:  # an interrupt while the writers start stops those already started too
        for (p, arr, photometric), q in zip(outputs, queues):
            chan = arr.ndim == ref.ndim
            t = threading.Thread(
                target=_tiff_writer,
                args=(p, arr.shape, arr.dtype, photometric, chan, q, errors, metadata or {}),
                daemon=True,
            )
            threads.append(t)
            t.start()
        for idx in np.ndindex(*lead) if lead else [()]:
            y0 = 0
            for h in ychunks:
                bands = dask.compute(*[a[idx][y0 : y0 + h] for _, a, _ in outputs])
                for q, band in zip(queues, bands):
                    _put(q, np.ascontiguousarray(band), errors)
                y0 += h
        for q in queues:
            _put(q, None, errors)
    except BaseException:
        for q in queues:
            _drain_and_stop(q)
        for t in threads:
            if t.ident is not None:  # started
                t.join(timeout=10)
        raise
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _put(q: queue.Queue, item: Any, errors: list[BaseException]) -> None:
    while True:
        if errors:
            raise errors[0]
        try:
            q.put(item, timeout=0.5)
            return
        except queue.Full:
            continue


class _Stop:
    """Tells a writer thread to give up (the producer failed)."""


_STOP = _Stop()


def _drain_and_stop(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
    q.put(_STOP)


def _tiff_writer(
    path: Path,
    shape: tuple[int, ...],
    dtype: Any,
    photometric: str,
    chan: bool,
    q: queue.Queue,
    errors: list[BaseException],
    metadata: dict[str, Any],
) -> None:
    """Write bands from ``q`` (None ends, _STOP aborts) as a tiled TIFF, atomically."""
    import tifffile

    th, tw = TIFF_TILE
    H, W = (shape[-3], shape[-2]) if chan else (shape[-2], shape[-1])
    pages = int(np.prod(shape[: -3 if chan else -2], dtype=np.int64))

    def tiles() -> Iterator[np.ndarray]:
        buf: np.ndarray | None = None
        rows_done = 0
        while rows_done < H * pages:
            band = q.get()
            if isinstance(band, _Stop):
                raise InterruptedError("writing stopped")
            if band is None:
                raise InputError(f"{path.name}: fewer rows than expected")
            buf = band if buf is None or len(buf) == 0 else np.concatenate([buf, band])
            # emit whole tile rows, and a page's last partial one once it is all here
            while len(buf) and (len(buf) >= th or rows_done % H + len(buf) >= H):
                n = min(th, len(buf), H - rows_done % H)
                row, buf = buf[:n], buf[n:]
                for x in range(0, W, tw):
                    yield row[:, x : x + tw]
                rows_done += n

    try:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        with atomic_write(path) as f:
            tifffile.imwrite(
                f,
                tiles(),
                shape=shape,
                dtype=dtype,
                tile=TIFF_TILE,
                photometric=photometric,
                planarconfig="contig" if chan else None,
                bigtiff=nbytes > 2**31,
                metadata=metadata,
            )
        end = q.get()  # the producer's None
        if isinstance(end, np.ndarray):
            raise InputError(f"{path.name}: more rows than expected")
    except BaseException as e:  # noqa: BLE001 - handed to the main thread
        errors.append(e)
        try:  # keep draining so that the producer never blocks
            while True:
                item = q.get(timeout=1)
                if item is None or isinstance(item, _Stop):
                    break
        except queue.Empty:
            pass


# -- multiscale images: OME-Zarr and pyramidal TIFF ----------------------------------------


def _is_pyramid_name(path: Path) -> bool:
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


def _pyramid_input(path: Path) -> Any:
    """The :class:`~napari_colorize.multiscale.OmeImage` of an OME-Zarr or pyramidal TIFF; else None."""
    if not _is_pyramid_name(path):
        return None
    from .multiscale import read_ome_zarr, read_tiff_pyramid

    return read_ome_zarr(path) if path.is_dir() else read_tiff_pyramid(path)


def _colorize_pyramid(
    path: Path,
    image: Any,
    model: Any,
    out_dir: Path,
    opts: TilingOptions,
    *,
    hints: Any,
    stack_smoothing: float,
    saturation: float,
    normalize: str,
    percentiles: tuple[float, float],
    limits: tuple[float, float] | None,
    tiles_json: str | Path | None,
    progress: ProgressCallback | None,
    scheduler: Any,
) -> list[Path]:
    """Colorize a multiscale image and write ``<stem>_rgb.zarr`` (OME-Zarr, same scale and levels)."""
    import dask

    from .api import colorize
    from .multiscale import write_rgb_store

    if scheduler is None and _in_dask_worker():
        scheduler = "threads"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}_rgb.zarr"
    from .multiscale import _replaceable

    _replaceable(out)  # before the model runs (checked again under the store's lock)
    with (
        dask.config.set(scheduler=scheduler) if scheduler is not None else contextlib.nullcontext(),
        _damaged_file_is_input_error(path),
    ):
        res = colorize(
            list(image.levels),
            model,
            options=opts,
            hints=hints,
            stack_smoothing=stack_smoothing,
            saturation=saturation,
            normalize=normalize,
            percentiles=percentiles,
            limits=limits,
            progress=progress,
        )
        meta = _tiff_metadata(normalize if limits is None else "limits", res.limits)
        write_rgb_store(
            out,
            res.L,
            res.ab[0],
            scale=image.scale,
            translation=image.translation,
            units=image.units,
            name=image.name or path.stem,
            metadata={**meta, "source": path.name, "source_channels": image.channel_names},
        )
    written = [out]
    if tiles_json is not None:
        from .tiling import TilePlan

        plan = res.plan if res.plan is not None else TilePlan.whole(res.L[0].shape)
        with atomic_write(tiles_json, "w") as f:
            json.dump({"image": str(path), "plan": plan.to_dict(), "limits": list(res.limits)}, f, indent=1)
        written.append(Path(tiles_json))
    return written

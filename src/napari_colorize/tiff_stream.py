"""The big-TIFF path of :func:`~napari_colorize.pipeline.colorize_file`: read lazily, write in bands.

A big TIFF (:data:`~napari_colorize.pipeline.BIG_PIXELS` or more) never sits in memory whole: it is
read lazily, plane by plane and chunk by chunk (a memory map for uncompressed files, tifffile's
zarr store otherwise), colorized by the engine's dask path (:mod:`~napari_colorize.chain`), and
written as tiled TIFFs tile by tile, in bands (:func:`write_tiled_tiffs`), so peak memory follows a
plane's bands, not the file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .color import is_color
from .errors import InputError, user_stacklevel
from .io import atomic_write
from .progress import ProgressCallback
from .request import ColorizeRequest

__all__ = ["TIFF_TILE", "colorize_big_tiff", "write_tiled_tiffs", "tiff_metadata"]

#: tile shape of the tiled TIFFs written for big images
TIFF_TILE = (256, 256)


def tiff_metadata(request: ColorizeRequest, limits: tuple[float, float]) -> dict[str, Any]:
    """What an output records about how it was made (JSON in a TIFF's ImageDescription): the
    request's ``normalize`` (``"limits"`` when it gave limits) and the ``limits`` used."""
    normalize = request.normalize if request.limits is None else "limits"
    return {"normalize": normalize, "limits": [float(limits[0]), float(limits[1])]}


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
        if not is_color(a)
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


def colorize_big_tiff(
    path: Path,
    model: Any,
    out_dir: Path,
    request: ColorizeRequest,
    *,
    series: int,
    stem: str,
    save_lab: bool,
    progress: ProgressCallback | None,
    hints: Any,
) -> tuple[list[Path], Any, tuple[int, ...], tuple[float, float]]:
    """Colorize series ``series`` of the big TIFF ``path`` lazily and write ``<stem>_rgb.tif``
    (and ``<stem>_L.tif``, ``<stem>_ab.tif`` with ``save_lab``) tile by tile.

    Returns the files written, the tile plan, the gray shape and the limits used.
    """
    import dask.array as da

    from .chain import colorize_lightness, lab_to_rgb, lightness
    from .color import dtype_limits

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
        L, lims = lightness(image, request, lut=True)
    res, ab = colorize_lightness(L, model, request, hints=hints, progress=progress)
    outputs = [(out_dir / f"{stem}_rgb.tif", lab_to_rgb(L, ab, uint8=True), "rgb")]
    if save_lab:
        outputs.append((out_dir / f"{stem}_L.tif", da.asarray(L).rechunk(ab.chunks[:-1]), "minisblack"))
        outputs.append((out_dir / f"{stem}_ab.tif", ab, "minisblack"))
    write_tiled_tiffs(outputs, metadata=tiff_metadata(request, lims))
    return [p for p, _, _ in outputs], res.plan, tuple(L.shape), lims


def write_tiled_tiffs(
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

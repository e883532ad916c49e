"""Whole-slide images: multiscale (pyramid) input and output, read and written as OME-Zarr.

A multiscale image is a list of 2-D gray arrays, level 0 the full resolution, each
next level smaller (a whole-slide scan, a mosaic; napari's multiscale layers).  It is colorized
as follows (by :func:`napari_colorize.colorize`, given a list):

- level 0 lazily through the engine's tiled dask path (never loaded whole;
  ``napari_colorize.api``'s ``_colorize_levels``);
- each lower level from level 0's ab, block-averaged to the level's shape
  (:func:`~napari_colorize.edge_aware_solver.block_mean`'s blocks), and combined with the level's
  own lightness, so every level shows the same colors and its own detail.

:func:`write_rgb_store` writes the RGB pyramid (uint8, axes ``c, y, x``) chunk by chunk as
OME-Zarr with ``ome_zarr.writer``, keeping the input's physical scale and translation, in a
temporary folder renamed into place at the end (nothing half-written is ever left under the
name).  :func:`read_ome_zarr` reads an OME-Zarr image's levels (lazily) and metadata with
``ome_zarr.reader`` and says in one line why it cannot be colorized (channels, a time axis,
a missing level, inconsistent scales).

No TensorFlow here; zarr and ome-zarr are imported when used.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "OmeImage",
    "is_multiscale",
    "check_levels",
    "level_ab",
    "read_ome_zarr",
    "read_tiff_pyramid",
    "is_ome_zarr",
    "write_rgb_store",
    "preview_sample",
    "open_rgb_store",
    "ZARR_CHUNK",
]

#: chunk side (pixels) of the OME-Zarr levels written
ZARR_CHUNK = 1024
#: level 0 is computed and written a block at a time, about BAND_ROWS x BAND_COLS pixels cut at
#: the engine's own chunk boundaries (no chunk computed twice): memory follows a block, not the slide
BAND_ROWS = 2 * ZARR_CHUNK
BAND_COLS = 8 * ZARR_CHUNK


def _group_cuts(cuts: Sequence[int], size: int) -> list[tuple[int, int]]:
    """Consecutive chunks (boundaries ``cuts``, from 0 to the end) grouped into spans of at most
    ``size`` pixels (a single chunk larger than ``size`` is its own span)."""
    cuts = [int(c) for c in cuts]
    spans, start = [], cuts[0]
    for a, b in zip(cuts[1:], cuts[2:] + [None]):
        if b is None or b - start > size:
            spans.append((start, a))
            start = a
    return spans
#: pixels of the level whose intensities set the limits of a multiscale image (the coarsest
#: level with at least this many; level 0 is never read whole for them)
LIMITS_PIXELS = 1 << 20


def is_multiscale(image: Any) -> bool:
    """Whether ``image`` is a multiscale image: a list or tuple of arrays (not a nested list of numbers)."""
    return (
        isinstance(image, (list, tuple))
        and len(image) > 0
        and all(hasattr(a, "shape") and hasattr(a, "ndim") for a in image)
    )


def check_levels(levels: Sequence[Any]) -> list[tuple[int, int]]:
    """The (H, W) of each level; one line unless they are 2-D gray planes, each at most the one before."""
    shapes = []
    for i, a in enumerate(levels):
        if a.ndim != 2:
            what = "color or a stack" if a.ndim > 2 else "not an image"
            raise InputError(
                "a multiscale image needs 2-D gray levels (H, W); "
                f"level {i} has shape {tuple(a.shape)} ({what})"
            )
        shapes.append((int(a.shape[0]), int(a.shape[1])))
        if min(shapes[-1]) < 1:
            raise InputError(f"level {i} of the multiscale image has no pixels: {shapes[-1]}")
        if i and (shapes[-1][0] > shapes[-2][0] or shapes[-1][1] > shapes[-2][1]):
            raise InputError(
                f"level {i} of the multiscale image ({shapes[-1]}) is larger than level {i - 1} "
                f"({shapes[-2]}); level 0 must be the full resolution"
            )
    return shapes


def _axis_cuts(n: int, m: int, chunk: int) -> tuple[list[int], list[int]]:
    """Chunks of an axis of ``m`` (about ``chunk`` each) and the chunks of the ``n`` they come from."""
    from .edge_aware_solver import block_starts

    starts = block_starts(n, m)
    out = [min(chunk, m - i) for i in range(0, m, chunk)]
    src = np.append(starts[::chunk], n)
    return out, [int(b - a) for a, b in zip(src[:-1], src[1:])]


def _block_mean_piece(ab: np.ndarray, n: tuple[int, int], m: tuple[int, int], block_info: Any = None) -> Any:
    """Block means of a piece of ab (h0, w0, 2) on the whole's blocks (of ``n`` into ``m``)."""
    from .edge_aware_solver import block_mean, block_starts

    (y0, y1), (x0, x1) = block_info[None]["array-location"][:2]
    sy, sx = block_starts(n[0], m[0])[y0:y1], block_starts(n[1], m[1])[x0:x1]
    return block_mean(ab, (y1 - y0, x1 - x0), starts=(sy - sy[0], sx - sx[0]))


def level_ab(ab0: Any, shape: tuple[int, int], *, chunk: int = ZARR_CHUNK) -> Any:
    """ab of a lower level, lazily: level 0's ``ab0`` (dask (H, W, 2)) block-averaged to ``shape`` (h, w).

    Each piece reads about ``chunk`` x ``chunk`` pixels of level 0, whatever the level's factor:
    pieces of ``chunk`` pixels of the *lower* level read ``factor**2`` times more, 8.6 GB a
    piece for the sixth level of a 40,000² slide (the out-of-memory kill in ``benchmarks/slide.py``).
    """
    import dask.array as da

    ab0 = da.asarray(ab0)
    H, W = ab0.shape[:2]
    h, w = shape
    if (h, w) == (H, W):
        return ab0
    ycut, ysrc = _axis_cuts(H, h, max(1, chunk * h // H))
    xcut, xsrc = _axis_cuts(W, w, max(1, chunk * w // W))
    src = ab0.rechunk((tuple(ysrc), tuple(xsrc), (2,)))
    return src.map_blocks(
        _block_mean_piece,
        (H, W),
        (h, w),
        chunks=(tuple(ycut), tuple(xcut), (2,)),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
    )


def _rgb8_block(ab: np.ndarray, L: np.ndarray) -> np.ndarray:
    """uint8 RGB (h, w, 3) of an ab block and its L (h, w, 1)."""
    from .color import Lab2rgb
    from .io import to_uint8

    return to_uint8(Lab2rgb(L[..., 0], ab))


def rgb8_level(L: Any, ab: Any) -> Any:
    """uint8 RGB (3, H, W) of a level, lazily, from its L (H, W) and ab (H, W, 2)."""
    import dask.array as da

    ab = da.asarray(ab)
    Lb = da.asarray(L)[..., None].rechunk(ab.chunks[:2] + ((1,),))
    rgb = ab.map_blocks(_rgb8_block, Lb, dtype=np.uint8, chunks=ab.chunks[:2] + ((3,),))
    return rgb.transpose(2, 0, 1)


def _coarse_limits(
    levels: Sequence[Any], normalize: str, percentiles: Any, limits: Any
) -> tuple[float, float]:
    """Intensity limits of a multiscale image from its coarsest level with LIMITS_PIXELS or more."""
    from .color import intensity_limits

    pick = levels[0]
    for a in levels:
        if int(np.prod(a.shape)) >= LIMITS_PIXELS:
            pick = a
    return intensity_limits(pick, normalize=normalize, percentiles=percentiles, limits=limits)


# -- OME-Zarr in -----------------------------------------------------------------------------


@dataclass
class OmeImage:
    """A gray OME-Zarr image as :func:`read_ome_zarr` reads it.

    Attributes
    ----------
    levels : list of dask arrays (H, W), level 0 the full resolution
    scale : list of (sy, sx), one per level (physical size of a pixel)
    translation : list of (ty, tx), one per level
    units : (unit_y, unit_x), None where not given
    channel_names : list of str (the one gray channel's name, or empty)
    name : str or None
    """

    levels: list[Any]
    scale: list[tuple[float, float]]
    translation: list[tuple[float, float]]
    units: tuple[str | None, str | None] = (None, None)
    channel_names: list[str] = field(default_factory=list)
    name: str | None = None


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a Zarr store (a folder named ``*.zarr`` or holding zarr metadata)."""
    p = Path(path)
    if not p.is_dir():
        return False
    return p.suffix.lower() == ".zarr" or any((p / n).is_file() for n in ("zarr.json", ".zattrs", ".zgroup"))


def _multiscales(attrs: dict[str, Any]) -> list[dict[str, Any]] | None:
    ms = attrs.get("ome", {}).get("multiscales") if isinstance(attrs.get("ome"), dict) else None
    return ms if ms is not None else attrs.get("multiscales")


def _transform(ts: Sequence[dict[str, Any]], kind: str, n: int, default: float) -> list[float]:
    for t in ts or []:
        if t.get("type") == kind and kind in t:
            return [float(v) for v in t[kind]]
    return [default] * n


def read_ome_zarr(path: str | os.PathLike) -> OmeImage:
    """Read a gray OME-Zarr image's levels (lazily, dask) and metadata.

    Size-1 axes other than y and x (a single channel, time point or plane) are dropped.

    Raises
    ------
    InputError
        In one line: not an OME-Zarr image, channels (not gray), a time axis or a z stack,
        a level listed but missing, scales that do not match the levels' shapes.
    """
    import zarr

    path = Path(path)
    if not path.is_dir():
        raise InputError(f"no such OME-Zarr folder: {path}")
    try:
        group = zarr.open_group(str(path), mode="r")
        attrs = dict(group.attrs)
    except Exception as e:  # noqa: BLE001 - any unreadable store is the user's bad input
        raise InputError(f"cannot read {path}: not a Zarr store ({type(e).__name__}: {e})") from None
    ms = _multiscales(attrs)
    if not ms:
        raise InputError(
            f"cannot read {path}: a Zarr store without OME multiscales metadata (not an OME-Zarr image)"
        )
    meta = ms[0]
    datasets = meta.get("datasets") or []
    if not datasets:
        raise InputError(f"{path}: the OME-Zarr image lists no levels (datasets)")
    axes = [a["name"] if isinstance(a, dict) else str(a) for a in meta.get("axes", [])]
    missing = [d["path"] for d in datasets if d.get("path") not in group]
    if missing:
        raise InputError(f"{path}: level {missing[0]!r} is listed in the metadata but missing from the store")
    arrays = [group[d["path"]] for d in datasets]
    if not axes:
        axes = ["t", "c", "z", "y", "x"][-arrays[0].ndim :]
    if len(axes) != arrays[0].ndim or axes[-2:] != ["y", "x"]:
        raise InputError(f"{path}: axes {axes} do not end with y, x for arrays of shape {arrays[0].shape}")
    shape0 = dict(zip(axes, arrays[0].shape))
    channels = _channel_names(attrs)
    if shape0.get("c", 1) > 1:
        names = f" ({', '.join(channels)})" if channels else ""
        raise InputError(
            f"{path} has {shape0['c']} channels{names}, not one gray channel; colorize a gray image "
            "(one channel of it, saved as its own OME-Zarr)"
        )
    if shape0.get("t", 1) > 1:
        raise InputError(f"{path} has a time axis of {shape0['t']} points; colorize one time point at a time")
    if shape0.get("z", 1) > 1:
        raise InputError(f"{path} is a z stack of {shape0['z']} planes; colorize one plane at a time")
    import dask.array as da

    levels, scales, trans = [], [], []
    for d, a in zip(datasets, arrays):
        if a.ndim != len(axes):
            raise InputError(f"{path}: level {d['path']!r} has shape {a.shape}, not {len(axes)} axes {axes}")
        lvl = da.from_zarr(a)
        lvl = lvl[(0,) * (lvl.ndim - 2)] if lvl.ndim > 2 else lvl
        levels.append(lvl)
        ts = d.get("coordinateTransformations", [])
        scales.append(tuple(_transform(ts, "scale", len(axes), 1.0)[-2:]))
        trans.append(tuple(_transform(ts, "translation", len(axes), 0.0)[-2:]))
    shapes = [tuple(int(n) for n in a.shape) for a in levels]
    for i in range(1, len(levels)):
        for ax in (0, 1):
            ext0 = scales[0][ax] * shapes[0][ax]
            ext = scales[i][ax] * shapes[i][ax]
            if shapes[i][ax] > shapes[i - 1][ax] or abs(ext - ext0) > 2 * scales[i][ax] + 1e-9 * ext0:
                raise InputError(
                    f"{path}: inconsistent scales: level {datasets[i]['path']!r} ({shapes[i][0]} x "
                    f"{shapes[i][1]} px at {scales[i][0]:g} x {scales[i][1]:g}) does not cover level "
                    f"{datasets[0]['path']!r} ({shapes[0][0]} x {shapes[0][1]} px at "
                    f"{scales[0][0]:g} x {scales[0][1]:g})"
                )
    units = tuple((a.get("unit") if isinstance(a, dict) else None) for a in meta.get("axes", [{}, {}])[-2:])
    return OmeImage(
        levels=levels,
        scale=scales,
        translation=trans,
        units=units if len(units) == 2 else (None, None),
        channel_names=channels,
        name=meta.get("name"),
    )


def read_tiff_pyramid(path: str | os.PathLike) -> OmeImage:
    """Read a pyramidal gray TIFF's levels (tifffile's series levels, lazily) as an :class:`OmeImage`.

    The physical pixel size of level 0 comes from its resolution tags when they give one in
    centimetres or inches (written in micrometres); otherwise level 0's pixel is the unit.  Lower
    levels scale by their size ratio to level 0.
    """
    import dask.array as da
    import tifffile
    import zarr

    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            s = tif.series[0]
            axes, shapes = s.axes, [tuple(int(n) for n in lv.shape) for lv in s.levels]
            size, unit = _tiff_pixel_size(s.levels[0].keyframe)
        group = zarr.open(tifffile.imread(path, aszarr=True, series=0), mode="r")
    except Exception as e:  # noqa: BLE001 - any unreadable TIFF is the user's bad input
        raise InputError(f"cannot read {path}: {type(e).__name__}: {e}") from None
    extra = {a: n for a, n in zip(axes, shapes[0]) if a not in "YX" and n > 1}
    if extra:
        what = "channels (color)" if set(extra) & set("SC") else f"axes {''.join(extra)}"
        raise InputError(f"{path} has {what} {tuple(extra.values())}; a multiscale image must be gray (Y, X)")
    levels = []
    for i in range(len(shapes)):
        a = da.from_zarr(group[str(i)])
        levels.append(a.reshape(a.shape[-2:]) if a.ndim > 2 else a)
    check_levels(levels)
    H, W = levels[0].shape
    sy, sx = size
    scale = [(sy * H / a.shape[0], sx * W / a.shape[1]) for a in levels]
    return OmeImage(
        levels=levels,
        scale=scale,
        translation=[(sy * (f[0] / sy - 1) / 2, sx * (f[1] / sx - 1) / 2) for f in scale],
        units=(unit, unit),
        name=path.stem,
    )


def _tiff_pixel_size(page: Any) -> tuple[tuple[float, float], str | None]:
    """A TIFF page's pixel size (y, x) in micrometres from its resolution tags, or ((1, 1), None)."""
    try:
        xres, yres = (float(v) for v in page.resolution)
        unit = int(page.resolutionunit)
    except Exception:  # noqa: BLE001 - no usable tags: pixels as the unit
        return (1.0, 1.0), None
    per = {2: 25_400.0, 3: 10_000.0}.get(unit)  # inch, centimetre -> micrometres
    if per is None or xres <= 0 or yres <= 0:
        return (1.0, 1.0), None
    return (per / yres, per / xres), "micrometer"


def _channel_names(attrs: dict[str, Any]) -> list[str]:
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else attrs
    omero = ome.get("omero") or attrs.get("omero") or {}
    return [str(c.get("label", "")) for c in omero.get("channels", []) if isinstance(c, dict)]


# -- OME-Zarr out ----------------------------------------------------------------------------


def _replaceable(path: Path) -> None:
    """Refuse to replace ``path`` unless it is absent, empty, or a Zarr store (an earlier result)."""
    is_store = any((path / n).is_file() for n in ("zarr.json", ".zattrs", ".zgroup"))
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not is_store)):
        raise InputError(f"{path} exists and is not a Zarr store; refusing to replace it")


def preview_sample(shape: Sequence[int], grid: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The level-0 rows and columns nearest the centres of a ``grid`` (h, w) of blocks over ``shape``.

    Block ``(r, c)`` of the grid covers ``H / h`` x ``W / w`` pixels of level 0 (as the preview's
    block means do, :func:`~napari_colorize.preview.preview_request`); its sample is the pixel
    at its centre.  Rows and columns are increasing.
    """
    H, W = (int(n) for n in tuple(shape)[-2:])
    h, w = (int(n) for n in grid)
    if not (1 <= h <= H and 1 <= w <= W):
        raise InputError(f"a sample grid of {h} x {w} does not fit a level of {H} x {W}")
    rows = np.minimum(((np.arange(h) + 0.5) * H / h).astype(np.int64), H - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * W / w).astype(np.int64), W - 1)
    return rows, cols


def write_rgb_store(
    path: str | os.PathLike,
    L: Sequence[Any],
    ab0: Any,
    *,
    scale: Sequence[tuple[float, float]] | None = None,
    translation: Sequence[tuple[float, float]] | None = None,
    units: tuple[str | None, str | None] = (None, None),
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    progress: Any = None,
    sample: tuple[np.ndarray, np.ndarray] | None = None,
    on_band: Callable[[int, int, np.ndarray], None] | None = None,
) -> Path:
    """Write a colorized multiscale image as an OME-Zarr RGB pyramid (uint8, axes c, y, x).

    Level 0's RGB is computed chunk by chunk from ``L[0]`` and ``ab0`` (lazy) and written, with
    level 0's ab kept on disk (float16, in the temporary folder) while the lower levels are made
    from it (:func:`level_ab`) and each level's own ``L``.  Everything is written into a hidden
    temporary folder beside ``path``, which replaces ``path`` only when complete.

    Parameters
    ----------
    path : path
        The store (a folder, ``*.zarr``).  An existing Zarr store there is replaced; anything
        else is refused.
    L : list of arrays (H, W)
        Each level's lightness (0..100), level 0 first.
    ab0 : dask array (H, W, 2)
        Level 0's ab.
    scale, translation : list of (y, x) per level, optional
        The levels' physical pixel size and offset (default: 1 at level 0, doubling as the levels
        shrink, as ``ome_zarr`` computes them from the shapes).
    units : (unit_y, unit_x)
    name : str, optional
    metadata : dict, optional
        JSON added under the image's multiscales ``metadata`` (e.g. how it was made).
    progress : callable(done, total), optional
        Called after each level.
    sample : (rows, cols) of int arrays, optional
        Level-0 pixels to show while it is written (:func:`preview_sample`: one per preview pixel).
    on_band : callable(r0, r1, rgb), optional
        With ``sample``: called after each band of level 0 is written, with the finished rows
        ``r0:r1`` of the sample as uint8 RGB ``(r1 - r0, len(cols), 3)``, read back from the
        store, so that a preview can be replaced by the result as it is written.

    Returns
    -------
    Path
    """
    import dask
    import dask.array as da
    import zarr
    from ome_zarr.writer import write_multiscale

    from .io import atomic_dir, check_writable_folder

    path = Path(path).absolute()  # zarr's stores take absolute paths (a relative one is not the same folder)
    check_writable_folder(path.parent, what="output folder")
    shapes = [tuple(int(n) for n in a.shape) for a in L]
    axes: list[dict[str, Any]] = [{"name": "c", "type": "channel"}]
    for ax, unit in zip("yx", units):
        axes.append({"name": ax, "type": "space", **({"unit": unit} if unit else {})})
    transforms = None
    if scale is not None:
        trans = translation or [(0.0, 0.0)] * len(scale)
        transforms = [
            [
                {"type": "scale", "scale": [1.0, float(s[0]), float(s[1])]},
                {"type": "translation", "translation": [0.0, float(t[0]), float(t[1])]},
            ]
            for s, t in zip(scale, trans)
        ]
    omero = {
        "channels": [
            {
                "label": c,
                "color": col,
                "window": {"min": 0, "max": 255, "start": 0, "end": 255},
                "active": True,
            }
            for c, col in (("red", "FF0000"), ("green", "00FF00"), ("blue", "0000FF"))
        ],
        "rdefs": {"model": "color"},
    }
    with atomic_dir(path, check=_replaceable) as tmp:
        group = zarr.open_group(str(tmp), mode="w")  # first: mode "w" empties the folder
        ab_chunks = (min(ZARR_CHUNK, shapes[0][0]), min(ZARR_CHUNK, shapes[0][1]), 2)
        ab_tmp = zarr.create_array(
            store=str(tmp / "_ab0.tmp"), shape=shapes[0] + (2,), chunks=ab_chunks, dtype="float16"
        )
        ab0 = da.asarray(ab0)
        stored_ab = da.from_zarr(ab_tmp).astype(np.float32)
        pyramid = [rgb8_level(L[0], ab0)]
        for Lk, shape in zip(L[1:], shapes[1:]):
            pyramid.append(rgb8_level(Lk, level_ab(stored_ab, shape)))
        chunks = [(3, min(ZARR_CHUNK, s[0]), min(ZARR_CHUNK, s[1])) for s in shapes]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # coordinate_transformations: exact copies
            delayed = write_multiscale(
                pyramid,
                group,
                axes=axes,
                coordinate_transformations=transforms,
                storage_options=[{"chunks": c} for c in chunks],
                name=name,
                compute=False,
                metadata={"omero": omero, **({"napari_colorize": metadata} if metadata else {})},
            )
        # level 0's RGB and its ab together, one pass of the model over the tiles, a block at a
        # time: one compute over the whole level kept tiles of both chunkings in flight (16.8 GB
        # at 40,000²), and a band of whole rows still grew with the width (3.1 GB with propagate).
        # Blocks follow the engine's chunks, so none is computed twice; their edges need not fall
        # on the zarr chunks, so the writes take a lock (a chunk shared by two writes is safe).
        rgb0 = pyramid[0]
        rows, cols = (None, None) if sample is None else (np.asarray(a, dtype=np.int64) for a in sample)
        ab0_16 = ab0.astype(np.float16)
        ycuts = np.cumsum((0,) + tuple(ab0.chunks[0]))
        xcuts = np.cumsum((0,) + tuple(ab0.chunks[1]))
        for y0, y1 in _group_cuts(ycuts, BAND_ROWS):
            for x0, x1 in _group_cuts(xcuts, BAND_COLS):
                da.store(
                    [rgb0[:, y0:y1, x0:x1], ab0_16[y0:y1, x0:x1]],
                    [group["s0"], ab_tmp],
                    regions=[
                        (slice(None), slice(y0, y1), slice(x0, x1)),
                        (slice(y0, y1), slice(x0, x1), slice(None)),
                    ],
                    lock=True,
                )
            if rows is not None and on_band is not None:
                r0, r1 = (int(np.searchsorted(rows, y)) for y in (y0, y1))
                if r1 > r0:
                    done = group["s0"].oindex[:, rows[r0:r1], cols]
                    on_band(r0, r1, np.ascontiguousarray(np.moveaxis(np.asarray(done), 0, -1)))
        if progress is not None:
            progress(1, len(shapes))
        for i, d in enumerate(delayed[1:], 2):
            dask.compute(d)
            if progress is not None:
                progress(i, len(shapes))
        shutil.rmtree(tmp / "_ab0.tmp")
    return path


def open_rgb_store(
    path: str | os.PathLike,
) -> tuple[list[Any], list[tuple[float, float]], list[tuple[float, float]]]:
    """The RGB levels (dask (H, W, 3) uint8), scales and translations of a :func:`write_rgb_store` store."""
    import dask.array as da
    import zarr

    group = zarr.open_group(str(path), mode="r")
    meta = _multiscales(dict(group.attrs))[0]
    levels, scales, trans = [], [], []
    for d in meta["datasets"]:
        levels.append(da.from_zarr(group[d["path"]]).transpose(1, 2, 0))
        ts = d.get("coordinateTransformations", [])
        scales.append(tuple(_transform(ts, "scale", 3, 1.0)[-2:]))
        trans.append(tuple(_transform(ts, "translation", 3, 0.0)[-2:]))
    return levels, scales, trans

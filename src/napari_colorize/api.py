"""The public Python API: colorize, train, load_model, list_methods.

Importing this module imports neither TensorFlow nor napari.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .catalogue import builtin_models, resolve_model_path
from .color import DEFAULT_PERCENTILES, NEAR_GRAY_CHROMA, NEAR_GRAY_CONFIDENCE, gray2L, mean_chroma
from .errors import ConfigError, InputError, NearGrayWarning, user_stacklevel
from .progress import ProgressCallback, StopCallback
from .request import ColorizeRequest, split_hints
from .tiling import TilingOptions

__all__ = [
    "Colorization",
    "colorize",
    "colorize_request",
    "train",
    "resolve_model",
    "builtin_models",
    "near_gray_advice",
]


@dataclass
class Colorization:
    """Result of :func:`colorize`.

    Attributes
    ----------
    L : ndarray (..., H, W) float32, 0..100, the input's own lightness
    ab : ndarray (..., H, W, 2) float32, Lab units
    rgb : ndarray (..., H, W, 3) float32 in 0..1, from ``L`` and ``ab``
    plan : TilePlan or None
        The tiles used (None when untiled).
    limits : (low, high) or None
        The input intensities that became black and white (see
        :func:`~napari_colorize.color.intensity_limits`).
    confidence : ndarray (..., H, W) float32 in 0..1, or None
        The model's confidence in its colors (``colorize(..., confidence=True)``).
    mean_chroma : float or None
        The model's mean chroma (Lab units, before ``saturation``); None for a dask result.
    near_gray : str or None
        One line when the result is automatic (no hints) and nearly gray (see
        :func:`near_gray_advice`), saying what to do; None otherwise.  A
        :class:`~napari_colorize.errors.NearGrayWarning` says the same.
    """

    L: Any
    ab: Any
    rgb: Any
    plan: Any = None
    limits: tuple[float, float] | None = None
    confidence: Any = None
    mean_chroma: float | None = None
    near_gray: str | None = None


def resolve_model(model: Any) -> Any:
    """A loaded model from a Colorizer, or a name or folder (see ``catalogue.resolve_model_path``)."""
    from .methods import load_model
    from .methods.colorizer import Colorizer

    if isinstance(model, Colorizer):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(resolve_model_path(model))
    raise ConfigError(
        f"model must be a model folder, a built-in model name or a loaded model, got {type(model).__name__}"
    )


def colorize(
    image: Any,
    model: Any,
    *,
    hints: Any = None,
    rgb: bool | None = None,
    options: TilingOptions | dict[str, Any] | None = None,
    tile: int | str | None = None,
    overlap: int | float | None = None,
    blend: str = "gaussian",
    global_anchor: bool = False,
    batch_size: int | None = None,
    halo: int | None = None,
    normalize: str = "auto",
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
    limits: tuple[float, float] | None = None,
    stack_smoothing: float = 0.0,
    saturation: float = 1.0,
    confidence: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> Colorization:
    """Colorize a grayscale image (or stack) with a model.

    Parameters
    ----------
    image : array-like (..., H, W), or (..., H, W, 3|4) RGB, or a list of (H, W) levels
        Any unsigned integer, bool or float gray image, or RGB.  A color image is reduced
        to gray by its luminance, with a warning.  numpy or dask.  A list (or tuple) of 2-D
        gray arrays is a multiscale image (level 0 the full resolution, as a napari multiscale
        layer): level 0 is colorized lazily through the tiled path (``tile="auto"`` unless
        given) and each lower level gets level 0's ab block-averaged to its shape and its own
        L (:mod:`napari_colorize.multiscale`); its intensity limits come from its coarsest level
        of at least a megapixel.
    model : Colorizer, model folder, or built-in model name
        ``"propagate"`` spreads the hints' colours along L's edges and needs no training.
    hints : Hints, points, CSV path, optional
        Color hints over the image's (..., H, W): a :class:`~napari_colorize.hints.Hints`; points
        (rows ``[plane,] y, x, r, g, b[, radius]`` or tuples ``(y, x, color[, radius])``, as
        :meth:`Hints.from_points <napari_colorize.hints.Hints.from_points>` takes); or a CSV file
        with the header ``y,x,r,g,b`` (optional ``radius``, and ``plane`` for a stack; r, g, b in
        0..255).  Points and CSV rows are painted over the image's L, so a wide hint stops at
        its edges (:data:`~napari_colorize.hints.HINT_EDGE_TOLERANCE`).  Any model takes them;
        None (default) gives exactly the output without hints.
    rgb : bool, optional
        Whether the last axis of ``image`` is color (guessed by default).
    options : TilingOptions or dict, optional
        Tiling options as one value; when given, the tiling keywords below must be left
        at their defaults.
    tile, overlap, blend, global_anchor, batch_size, halo
        Tiling options (see :class:`~napari_colorize.tiling.TilingOptions`).
        ``tile=None`` colorizes each plane whole.
    normalize : {"auto", "dtype", "percentile", "none"}
        How gray intensities become lightness; ``"auto"`` keeps uint8 as it is and stretches
        other integers (a 12-bit camera image in uint16) and floats between percentiles.
        See :func:`~napari_colorize.color.intensity_limits`.  A stack shares one pair.
    percentiles : (low, high)
        Percentiles for ``normalize="percentile"`` (and ``"auto"``), default (1, 99.8).
    limits : (low, high), optional
        Explicit intensities for black and white (e.g. a napari layer's contrast limits).
    stack_smoothing : float
        For a stack, smooth ab along the stack axis (-3) where L does not change (less flicker),
        for any model; 0 (default) is none.
    saturation : float
        Multiplies the predicted ab, for any model: 0 gives gray, 1 (default) the model's
        colors exactly, more than 1 more colorful.  Must be >= 0.
    confidence : bool
        Also compute the model's per-pixel confidence (``Colorization.confidence``, 0..1).
        Only models with ``predict_confidence`` have one (others raise a ConfigError); each
        plane is passed to it whole, untiled, with its hints.
    progress : callable(done, total), optional
    should_stop : callable() -> bool, optional
        Polled between tiles; returning True raises :class:`Cancelled`.

    Returns
    -------
    Colorization
        ``L`` is the input's own full-resolution lightness; ``rgb`` is built
        from it and the predicted ``ab``; ``limits`` are the intensities used.  For a multiscale
        image ``L``, ``ab`` and ``rgb`` are lists of lazy dask arrays, one per level
        (:func:`~napari_colorize.multiscale.write_rgb_store` writes them as OME-Zarr).
    """
    kw = dict(
        tile=tile, overlap=overlap, blend=blend, global_anchor=global_anchor, batch_size=batch_size, halo=halo
    )
    if options is not None:
        defaults = TilingOptions().to_dict()
        changed = sorted(k for k, v in kw.items() if v != defaults[k])
        if changed:
            raise ConfigError(f"give tiling options either as options or as keywords, not both ({changed})")
        kw = {}
    in_request, beside = split_hints(hints)
    request = ColorizeRequest.build(
        model=model,
        hints=in_request,
        options=options,
        **kw,
        rgb=rgb,
        normalize=normalize,
        percentiles=percentiles,
        limits=limits,
        stack_smoothing=stack_smoothing,
        saturation=saturation,
        confidence=confidence,
    )
    return colorize_request(
        image, request, model=model, hints=beside, progress=progress, should_stop=should_stop
    )


def colorize_request(
    image: Any,
    request: ColorizeRequest,
    *,
    model: Any = None,
    hints: Any = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> Colorization:
    """Colorize ``image`` as ``request`` says (see :func:`colorize`, which builds the request).

    Parameters
    ----------
    image : array-like, or a list of (H, W) levels
        As :func:`colorize` takes it.
    request : ColorizeRequest
    model : Colorizer, model folder or built-in model name, optional
        The model, when it is not ``request.model`` (a loaded one, or one cached by the server).
    hints : Hints or tuples of points, optional
        Hints the request cannot carry (see :func:`~napari_colorize.request.split_hints`); they
        replace ``request.hints``.
    progress, should_stop
        As :func:`colorize` takes them.
    """
    from . import engine
    from .chain import colorize_lightness, is_dask, lab_to_rgb, lightness

    model = request.model if model is None else model
    if hints is None:
        hints = request.hints if isinstance(request.hints, str) else request.points()
    from .multiscale import is_multiscale

    if is_multiscale(image):
        return _colorize_levels(
            image, model, request, hints=hints, progress=progress, should_stop=should_stop
        )
    model_arg = model
    model = resolve_model(model)
    if request.confidence:
        engine.require_confidence(model)
    if isinstance(model_arg, (str, os.PathLike)) and (Path(model_arg) / "config.json").is_file():
        engine.remember_folder(model, model_arg)
    L, lims = lightness(image, request)
    hints = _resolve_hints(hints, L)
    res, ab = colorize_lightness(L, model, request, hints=hints, progress=progress, should_stop=should_stop)
    rgb_out = lab_to_rgb(L, ab)
    conf = engine.predict_confidence(L, model, hints=hints) if request.confidence else None
    chroma = None if is_dask(res.ab) else mean_chroma(res.ab)
    advice = near_gray_advice(chroma, model, hints=hints, confidence=conf)
    if advice is not None:
        warnings.warn(advice, NearGrayWarning, stacklevel=user_stacklevel())
    return Colorization(
        L=L,
        ab=ab,
        rgb=rgb_out,
        plan=res.plan,
        limits=lims,
        confidence=conf,
        mean_chroma=chroma,
        near_gray=advice,
    )


def near_gray_advice(
    chroma: float | None, model: Any, *, hints: Any = None, confidence: Any = None
) -> str | None:
    """One line for an automatic result that is nearly gray, saying what to do; else None.

    A result is judged only when it is automatic (no hints, or none left) and its ``chroma`` is
    known: it is nearly gray when its mean chroma is below :data:`~napari_colorize.color.NEAR_GRAY_CHROMA`,
    or its mean ``confidence`` (when given) below :data:`~napari_colorize.color.NEAR_GRAY_CONFIDENCE`.

    Parameters
    ----------
    chroma : float or None
        The model's mean chroma (:func:`~napari_colorize.color.mean_chroma` of its ab, before
        any saturation); None when not measured (a lazy result): nothing is said.
    model : Colorizer
        The model that colorized (its method ``name`` is in the line).
    hints : Hints or None
    confidence : ndarray or None
        The model's confidence, when it was computed.
    """
    if chroma is None or (hints is not None and len(hints) > 0):
        return None
    name = getattr(model, "name", type(model).__name__)
    if name == "propagate":
        return "propagate gives gray without color hints: it only spreads the colors of hints; give a few"
    why = None
    if chroma < NEAR_GRAY_CHROMA:
        why = f"mean chroma {chroma:.2f} < {NEAR_GRAY_CHROMA:g}"
    elif confidence is not None:
        mean_conf = float(np.mean(np.asarray(confidence), dtype=np.float64))
        if mean_conf < NEAR_GRAY_CONFIDENCE:
            why = f"mean confidence {mean_conf:.2f} < {NEAR_GRAY_CONFIDENCE:g}"
    if why is None:
        return None
    return (
        f"the automatic result is nearly gray ({why}): the model ({name}) knows little about "
        "this image; give a few color hints, or use a model trained on similar images"
    )


def _colorize_levels(
    levels: Sequence[Any],
    model: Any,
    request: ColorizeRequest,
    *,
    hints: Any,
    progress: ProgressCallback | None,
    should_stop: StopCallback | None,
) -> Any:
    """Colorize a multiscale gray image (see :func:`napari_colorize.colorize`); a Colorization of lists.

    ``L``, ``ab`` and ``rgb`` are lists of lazy dask arrays, one per level (``rgb`` float32
    (H, W, 3) in 0..1 as for one image); ``plan`` and ``limits`` are level 0's.
    """
    import dask.array as da

    from .chain import lab_to_rgb
    from .multiscale import _coarse_limits, check_levels, level_ab

    if request.confidence:
        raise ConfigError("the confidence of a multiscale image is not available; colorize a level of it")
    if request.rgb:
        raise InputError("a multiscale image must be gray: its levels are (H, W)")
    shapes = check_levels(levels)
    levels = [da.asarray(a) for a in levels]
    lims = _coarse_limits(levels, request.normalize, request.percentiles, request.limits)
    level0 = request.replace(hints=None, rgb=False, limits=lims, normalize="none")
    if not level0.options.tiled:
        level0 = level0.replace(tiling=level0.options.replace(tile="auto").to_dict())
    from .hints import Hints

    if hints is not None and not isinstance(hints, Hints):  # points or a CSV: painted near each point only
        L0 = levels[0].map_blocks(gray2L, rgb=False, limits=lims, dtype=np.float32)
        if isinstance(hints, (str, os.PathLike)):
            hints = Hints.from_csv(hints, shapes[0], L=L0)
        else:
            hints = _point_hints(hints, L0)
    res = colorize_request(
        levels[0], level0, model=model, hints=hints, progress=progress, should_stop=should_stop
    )
    Ls, abs_, rgbs = [res.L], [res.ab], [res.rgb]
    for a, shape in zip(levels[1:], shapes[1:]):
        L = a.map_blocks(gray2L, rgb=False, limits=lims, dtype=np.float32)
        ab = level_ab(res.ab, shape)
        Ls.append(L)
        abs_.append(ab)
        rgbs.append(lab_to_rgb(L, ab))
    return Colorization(L=Ls, ab=abs_, rgb=rgbs, plan=res.plan, limits=lims)


def _point_hints(points: Any, L: Any) -> Any:
    """:class:`~napari_colorize.hints.Hints` of a table of points over a huge lightness ``L`` (H, W).

    Each point is painted as :meth:`Hints.from_points <napari_colorize.hints.Hints.from_points>`
    paints it (a disc that stops at L's edges), over the small box around it only, so that no
    dense hints of the whole image are ever made.
    """
    from .hint_painting import point_rows
    from .hints import Hints

    H, W = (int(n) for n in L.shape)
    rows = point_rows(points, 2, 0.0)  # tuples (y, x, color[, radius]) as rows too
    if rows.ndim != 2 or rows.shape[1] not in (5, 6):
        raise InputError(
            f"hints on a multiscale image are rows y, x, r, g, b[, radius]; got shape {rows.shape}"
        )
    coords, ab, mask = [], [], []
    for row in rows:
        r = int(np.ceil(row[5])) if len(row) > 5 else 0
        y, x = int(round(row[0])), int(round(row[1]))
        if not (0 <= y < H and 0 <= x < W):
            raise InputError(f"hint at ({row[0]:g}, {row[1]:g}) is outside the image ({H} x {W})")
        y0, x0, y1, x1 = max(0, y - r - 1), max(0, x - r - 1), min(H, y + r + 2), min(W, x + r + 2)
        local = row.copy()
        local[:2] -= (y0, x0)
        Lbox = np.asarray(L[y0:y1, x0:x1])
        pts = Hints.from_points(local[None], (y1 - y0, x1 - x0), L=Lbox)
        coords.append(pts.coords + np.asarray([y0, x0], np.int64))
        ab.append(pts.pixel_ab)
        mask.append(pts.pixel_mask)
    if not coords:
        return None
    return Hints.from_pixels((H, W), np.concatenate(coords), np.concatenate(ab), np.concatenate(mask))


def _resolve_hints(hints: Any, L: Any) -> Any:
    """Hints over L's shape from a Hints, points or a CSV path (painted over ``L``), or None."""
    from .hints import Hints, is_dense_hints

    if hints is None or is_dense_hints(hints):
        return hints  # the engine checks its type and shape

    shape = tuple(int(s) for s in L.shape)
    if isinstance(hints, (str, os.PathLike)):
        return Hints.from_csv(hints, shape, L=L)
    return Hints.from_points(hints, shape, L=L)


def train(
    method: str,
    images: Any,
    *,
    out: str | os.PathLike | None = None,
    config: dict[str, Any] | None = None,
    init: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Any] | None = None,
    box: Sequence[int] | None = None,
    **overrides: Any,
) -> Any:
    """Train a method on color images and optionally save it.

    Parameters
    ----------
    method : str
        A method name (see :func:`list_methods`).
    images
        Files, folders or RGB arrays (see :func:`napari_colorize.data.as_sources`).
    out : path, optional
        Save the trained model folder here (atomically): a new or empty folder, or an existing
        model folder with ``overwrite`` (or ``resume``).  Checked before training; the folder
        is locked until the model is saved, so a second training into it fails at once.
    config : dict, optional
        Config values; ``**overrides`` are merged on top.
    init : path, optional
        Start from this model folder's weights (fine-tuning); its method must match.
    resume : bool
        Continue training the model already saved at ``out`` (and save it there again).
    overwrite : bool
        Replace an existing model folder at ``out``.
    callbacks : list of keras callbacks, optional
    box : (y0, x0, y1, x1), optional
        Train only on this region of each image.

    Returns
    -------
    Colorizer
        The trained model, with ``.history``.
    """
    from .catalogue import check_model_out, is_model_folder
    from .io import dir_lock
    from .methods import get_method

    cls = get_method(method)
    if resume and (out is None or not is_model_folder(out)):
        raise ConfigError(f"resume needs an existing model folder at out ({out})")
    start = out if resume else init
    if start is not None:
        check_start_method(start, method)  # before anything loads
    if out is None:
        return _train(cls, method, images, None, config, init, resume, overwrite, callbacks, box, overrides)
    check_model_out(out, overwrite=overwrite, resume=resume)
    with dir_lock(out):
        return _train(cls, method, images, out, config, init, resume, overwrite, callbacks, box, overrides)


def check_start_method(folder: str | os.PathLike, method: str) -> None:
    """Raise unless the model folder ``folder`` (``--init``/``--resume``) holds a ``method`` model.

    Reads its ``config.json`` only (no TensorFlow).
    """
    from .methods.colorizer import read_model_info

    found = read_model_info(folder)["method"]
    if found != method:
        raise ConfigError(f"{folder} holds a {found!r} model, not {method!r}")


def _train(
    cls: Any,
    method: str,
    images: Any,
    out: Any,
    config: dict[str, Any] | None,
    init: Any,
    resume: bool,
    overwrite: bool,
    callbacks: Sequence[Any] | None,
    box: Sequence[int] | None,
    overrides: dict[str, Any],
) -> Any:
    from .data import as_sources
    from .methods import load_model

    cfg = {**(config or {}), **overrides}
    start = None
    if resume:
        start = out
    elif init is not None:
        start = init
    if start is not None:
        model = load_model(start)
        if model.name != method:
            raise ConfigError(f"{start} holds a {model.name!r} model, not {method!r}")
        if not resume:
            model.forget_optimizer_state()  # fine-tuning starts a fresh optimizer
        if cfg:
            model.config = model.config.replace(**cfg)
    else:
        model = cls(cfg)
    sources = as_sources(images, box=box)
    history = model.fit(sources, callbacks=list(callbacks or []))
    model.history = history
    model.info.setdefault("trained_on", [s.describe() for s in sources][:50])
    model.info["history"] = {k: [float(v) for v in vals] for k, vals in (history or {}).items()}
    if out is not None:
        model.save(out, overwrite=overwrite or resume)
    return model

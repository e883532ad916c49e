"""The public Python API: colorize, train, load_model, list_methods.

Importing this module imports neither TensorFlow nor napari.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .catalogue import builtin_models, resolve_model_path
from .color import Lab2rgb, gray2L
from .errors import ConfigError

__all__ = ["Colorization", "colorize", "train", "resolve_model", "builtin_models"]


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
    """

    L: Any
    ab: Any
    rgb: Any
    plan: Any = None


def resolve_model(model: Any) -> Any:
    """A loaded model from a Colorizer, or a name or folder (see ``catalogue.resolve_model_path``)."""
    from .methods import load_model
    from .methods.base import Colorizer

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
    rgb: bool | None = None,
    tile: int | None = None,
    overlap: int | float | None = None,
    blend: str = "gaussian",
    global_anchor: bool = False,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Colorization:
    """Colorize a grayscale image (or stack) with a model.

    Parameters
    ----------
    image : array-like (..., H, W), or (..., H, W, 3|4) RGB
        uint8, uint16 or float 0..1.  A color image is reduced to gray by
        its luminance, with a warning.  numpy or dask.
    model : Colorizer, model folder, or built-in model name
    rgb : bool, optional
        Whether the last axis of ``image`` is color (guessed by default).
    tile, overlap, blend, global_anchor, batch_size
        Tiling options (see :func:`napari_colorize.engine.colorize`).
        ``tile=None`` colorizes each plane whole.
    progress : callable(done, total), optional
    should_stop : callable() -> bool, optional
        Polled between tiles; returning True raises :class:`Cancelled`.

    Returns
    -------
    Colorization
        ``L`` is the input's own full-resolution lightness; ``rgb`` is built
        from it and the predicted ``ab``.
    """
    from . import engine

    model = resolve_model(model)
    if hasattr(image, "dask") or type(image).__module__.startswith("dask"):
        import dask.array as da

        image = da.asarray(image)
        is_rgb = rgb if rgb is not None else (image.ndim >= 3 and image.shape[-1] in (3, 4))
        L = image.map_blocks(
            gray2L, rgb=is_rgb, dtype=np.float32, drop_axis=(image.ndim - 1) if is_rgb else None
        )
    else:
        L = gray2L(np.asarray(image), rgb=rgb)
    res = engine.colorize(
        L,
        model,
        tile=tile,
        overlap=overlap,
        blend=blend,
        global_anchor=global_anchor,
        batch_size=batch_size,
        progress=progress,
        should_stop=should_stop,
    )
    ab = res.ab
    if hasattr(ab, "dask"):
        import dask.array as da

        # L aligned with ab's chunks (the engine may choose its own), with a
        # trailing length-1 axis that the block function drops again
        L_blocks = da.asarray(L)[..., None].rechunk(ab.chunks[:-1] + ((1,),))
        rgb_out = ab.map_blocks(
            lambda a, l: Lab2rgb(l[..., 0], a), L_blocks, dtype=np.float32, chunks=ab.chunks[:-1] + ((3,),)
        )
    else:
        rgb_out = Lab2rgb(np.asarray(L), ab)
    return Colorization(L=L, ab=ab, rgb=rgb_out, plan=res.plan)


def train(
    method: str,
    images: Any,
    *,
    out: str | os.PathLike | None = None,
    config: dict[str, Any] | None = None,
    init: str | os.PathLike | None = None,
    resume: bool = False,
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
        Save the trained model folder here (atomically).
    config : dict, optional
        Config values; ``**overrides`` are merged on top.
    init : path, optional
        Start from this model folder's weights (fine-tuning); its method must match.
    resume : bool
        Continue training the model already saved at ``out``.
    callbacks : list of keras callbacks, optional
    box : (y0, x0, y1, x1), optional
        Train only on this region of each image.

    Returns
    -------
    Colorizer
        The trained model, with ``.history``.
    """
    from .data import as_sources
    from .methods import get_method, load_model

    cls = get_method(method)
    cfg = {**(config or {}), **overrides}
    start = None
    if resume:
        if out is None or not (Path(out) / "config.json").is_file():
            raise ConfigError("resume needs an existing model folder at out")
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
        model.save(out)
    return model

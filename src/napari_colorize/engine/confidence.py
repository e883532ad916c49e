"""The model's per-pixel confidence in its colors, for models with ``predict_confidence``."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..errors import ConfigError
from .hint_points import _checked_hints, _some
from .models import ModelRef, cached_model
from .predict import ConfidencePredictor, Predictor, _check_array, _is_dask


def has_confidence(model: Any) -> bool:
    """Whether ``model`` (a Predictor or a ModelRef) has ``predict_confidence``."""
    if isinstance(model, ModelRef):
        model = cached_model(model)
    return callable(getattr(model, "predict_confidence", None))


def require_confidence(model: Any) -> None:
    """A one-line ConfigError unless ``model`` has ``predict_confidence``."""
    if not has_confidence(model):
        if isinstance(model, ModelRef):
            model = cached_model(model)
        name = getattr(model, "name", type(model).__name__)
        raise ConfigError(f"the {name} model has no confidence (only models with predict_confidence do)")


def predict_confidence(L: Any, model: Predictor | ModelRef, *, hints: Any = None) -> np.ndarray:
    """The model's per-pixel confidence in its colors, (..., H, W) float32 in 0..1.

    Each plane of ``L`` is passed whole (untiled) to ``model.predict_confidence(L_plane,
    hints=...)`` with that plane's hints, so a huge plane costs what an untiled colorization
    costs.

    Parameters
    ----------
    L : ndarray or dask array (..., H, W)
        Lightness 0..100 (a dask array is computed plane by plane).
    model : Predictor or ModelRef
        A model with ``predict_confidence`` (see :func:`has_confidence`).
    hints : Hints, optional
        Color hints over ``L.shape``.

    Raises
    ------
    ConfigError
        The model has no ``predict_confidence``.
    """
    if isinstance(model, ModelRef):
        model = cached_model(model)
    require_confidence(model)
    scorer = cast(ConfidencePredictor, model)  # require_confidence checked it has predict_confidence
    if not _is_dask(L):
        L = np.asarray(L)
    _check_array(L)
    shape = tuple(int(s) for s in L.shape)
    pts = _checked_hints(hints, shape)
    out = np.zeros(shape, np.float32)
    for idx in np.ndindex(*shape[:-2]):
        plane = L[idx]
        plane = np.asarray(plane.compute() if hasattr(plane, "compute") else plane, np.float32)
        p = _some(pts.plane(idx)) if pts is not None else None
        conf = np.asarray(scorer.predict_confidence(plane, hints=p))
        if conf.shape != plane.shape:
            raise ConfigError(
                f"predict_confidence gave shape {conf.shape} for a plane of shape {plane.shape}"
            )
        out[idx] = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
    return out

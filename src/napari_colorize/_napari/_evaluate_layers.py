"""Metrics of a colorized RGB layer against a ground-truth RGB layer, and the ΔE2000 error layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ._layer_input import _rgb_data, check_rgb_layer
from ._result_layers import _set_layer

__all__ = ["evaluate_layers"]


def evaluate_layers(viewer: Any, pred: Any, truth: Any, *, error_layer: bool = False) -> dict[str, float]:
    """Metrics of a colorized RGB layer against a ground-truth RGB layer.

    Runs in this process (the metrics need no TensorFlow).  With
    ``error_layer``, adds (or updates) ``<pred> ΔE2000``, the per-pixel
    CIEDE2000 difference.
    """
    from ..color import rgb2lab, to_float01
    from ..metrics import delta_e2000_lab, evaluate_pair

    pred = viewer.layers[pred] if isinstance(pred, str) else pred
    truth = viewer.layers[truth] if isinstance(truth, str) else truth
    check_rgb_layer(pred, role="colorized")
    check_rgb_layer(truth, role="ground-truth")
    p, t = _rgb_data(pred), _rgb_data(truth)
    if p.shape[:2] != t.shape[:2]:
        raise InputError(
            f"the layers differ in size: {pred.name!r} is {p.shape[:2]}, {truth.name!r} is {t.shape[:2]}"
        )
    metrics = evaluate_pair(p, t)
    if error_layer:
        de = delta_e2000_lab(rgb2lab(to_float01(p)), rgb2lab(to_float01(t))).astype(np.float32)
        _set_layer(
            viewer,
            f"{pred.name} ΔE2000",
            de,
            "image",
            colormap="magma",
            contrast_limits=(0.0, float(max(np.percentile(de, 99.5), 1.0))),
            scale=tuple(pred.scale)[-2:],
            translate=tuple(pred.translate)[-2:],
            metadata={"napari_colorize": {"role": "delta_e2000", "pred": pred.name, "truth": truth.name}},
        )
    return {k: float(v) for k, v in metrics.items()}

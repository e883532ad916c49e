"""Import of the authors' PyTorch SIGGRAPH17 weights (``siggraph17-df00044c.pth``)."""

from __future__ import annotations

import os
from typing import Any

from ...errors import InputError
from ..torch_state import adopt_torch_state, read_torch_state
from .colorizer import SIGGRAPH17Colorizer
from .config import SIGGRAPH17Config, class_bins

__all__ = ["import_torch_weights"]


def import_torch_weights(
    state_dict_or_path: str | os.PathLike | dict[str, Any], *, width: float | None = None
) -> SIGGRAPH17Colorizer:
    """Convert the authors' PyTorch SIGGRAPH17 weights into a ``siggraph17`` model.

    Parameters
    ----------
    state_dict_or_path : path or dict
        The state dict of ``SIGGRAPHGenerator`` (``siggraph17-df00044c.pth`` from
        ``richzhang/colorization``, supplied by the user; nothing is
        downloaded), or a file holding it.  Reading a file needs ``torch``.
    width : float, optional
        The network's width; by default read from the state dict
        (``model1.0.weight`` has 64 * width filters).  A given width must match.

    Returns
    -------
    SIGGRAPH17Colorizer
        Trained, with ``mask_center`` 0 (the port's convention); ``save`` it
        to make a model folder.
    """
    state = read_torch_state(state_dict_or_path)
    need = ("model1.0.weight", "model_out.0.weight", "model_class.0.weight")
    missing = [k for k in need if k not in state]
    if missing:
        raise InputError(f"not a SIGGRAPH17 state dict: missing {', '.join(missing)}")
    w1 = state["model1.0.weight"]
    if w1.ndim != 4 or w1.shape[1] != 4:
        raise InputError(f"model1.0.weight has shape {w1.shape}, expected (64 * width, 4, 3, 3)")
    found = w1.shape[0] / 64.0
    if width is None:
        width = found
    elif max(1, int(round(64 * width))) != w1.shape[0]:
        raise InputError(f"width {width} does not match the state dict's {w1.shape[0]} first-layer filters")
    n_classes = state["model_class.0.weight"].shape[0]
    if n_classes != len(class_bins()):
        raise InputError(f"model_class has {n_classes} classes, expected {len(class_bins())}")
    model = SIGGRAPH17Colorizer(SIGGRAPH17Config(width=float(width), mask_center=0.0))
    from . import network as K

    adopt_torch_state(
        model,
        state,
        state_dict_or_path,
        convert=K.torch_state_to_keras,
        not_a=f"not a SIGGRAPH17 state dict of width {width}",
        architecture="SIGGRAPH17",
        citation="Zhang et al.: Real-Time User-Guided Image Colorization with Learned Deep Priors "
        "(SIGGRAPH 2017), richzhang/colorization PyTorch weights",
    )
    return model

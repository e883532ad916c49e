"""Import of the authors' PyTorch ECCV16 weights (``colorization_release_v2``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ColorizeError, ConfigError, InputError
from ..torch_state import weights_file_info
from .colorizer import ECCV16Colorizer
from .config import ECCV16Config

__all__ = ["import_torch_weights"]


def _read_torch_state(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise ColorizeError(
            "reading PyTorch weights needs torch: pip install 'torch==2.13.0' "
            "(or the extra: pip install 'napari-colorize[torch]')"
        ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reader error means a bad file
        raise InputError(f"{path} is not a readable PyTorch state dict: {type(e).__name__}: {e}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict (got {type(state).__name__})")
    out = {}
    for k, v in state.items():
        k = k[len("module.") :] if k.startswith("module.") else k
        if hasattr(v, "detach"):
            out[k] = v.detach().cpu().float().numpy()
    return out


def import_torch_weights(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    T: float = 0.38,
    overwrite: bool = False,
    info: dict[str, Any] | None = None,
) -> Path:
    """Convert the authors' PyTorch ECCV16 weights into an ``eccv16`` model folder.

    Parameters
    ----------
    path : path
        The state dict ``colorization_release_v2-9b330a0b.pth`` (from
        ``richzhang/colorization``), supplied by the user; nothing is
        downloaded.  Needs ``torch`` (the ``torch`` extra).
    out : path
        The model folder to write (atomically; an existing model folder only with ``overwrite``).
    T : float
        Annealing temperature of the new model.  The classifier's weights
        are multiplied by ``T`` so that ``softmax(logits / T)`` equals the
        PyTorch model's softmax: at this ``T`` the output is the PyTorch
        model's ab (see the module docs).
    overwrite : bool
        Replace an existing model folder at ``out``.
    info : dict, optional
        Added to the model's ``info`` (``config.json``): where the file came from, its licence.

    Returns
    -------
    Path
        ``out``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such weights file: {path}")
    if T <= 0:
        raise ConfigError(f"T must be positive, got {T}")
    state = _read_torch_state(path)
    need = ("model1.0.weight", "model_out.weight")
    missing = [k for k in need if k not in state]
    if missing:
        raise InputError(f"{path} is not an ECCV16 state dict: missing {', '.join(missing)}")
    w_out = state["model_out.weight"]
    if w_out.ndim != 4 or w_out.shape[0] != 2 or w_out.shape[2:] != (1, 1):
        raise InputError(f"{path}: model_out.weight has shape {w_out.shape}, expected (2, Q, 1, 1)")
    ab_scale = 110.0  # the authors' ab_norm
    bins = w_out[:, :, 0, 0].T * ab_scale
    width = state["model1.0.weight"].shape[0] / 64.0
    last = max(int(k.split(".")[1]) for k in state if k.startswith("model8.") and k.endswith(".weight"))
    for suffix in ("weight", "bias"):
        key = f"model8.{last}.{suffix}"
        state[key] = state[key] * np.float32(T)
    model = ECCV16Colorizer(ECCV16Config(width=width, T=T, ab_scale=ab_scale))
    model.set_bins(bins)
    from . import network as K

    try:
        K.torch_state_to_keras(model._ensure_net(), state)
    except (KeyError, ValueError) as e:
        raise InputError(f"{path} does not match the ECCV16 architecture: {e}") from None
    model.trained = True
    model.info = {
        **weights_file_info(path),
        "source": "Zhang, Isola, Efros: Colorful Image Colorization (ECCV 2016), "
        "richzhang/colorization PyTorch weights",
        "n_bins": len(bins),
        "logits_scaled_by_T": T,
        **(info or {}),
    }
    return model.save(out, overwrite=overwrite)

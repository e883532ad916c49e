"""Reading the authors' PyTorch state dicts (for the methods' weight imports); needs ``torch``.

Only a file's tensors are read (``torch.load(weights_only=True)``: never a plain unpickling).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ColorizeError, InputError

__all__ = ["read_torch_state"]


def read_torch_state(source: str | os.PathLike | dict[str, Any]) -> dict[str, np.ndarray]:
    """A state dict (from a file or given) as numpy float32 arrays, ``module.`` prefixes dropped."""
    if isinstance(source, dict):
        state: Any = source
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"no such weights file: {path}")
        try:
            import torch
        except ImportError:
            raise ColorizeError(
                "reading PyTorch weights needs torch (the extra: pip install 'napari-colorize[torch]')"
            ) from None
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any reader error means a bad file
            raise InputError(
                f"{path} is not a readable PyTorch state dict: {type(e).__name__}: {e}"
            ) from None
    for key in ("state_dict", "params_ema", "params"):  # plain, and BasicSR checkpoints (DDColor)
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise InputError(f"not a state dict (got {type(state).__name__})")
    out = {}
    for k, v in state.items():
        k = k[len("module.") :] if k.startswith("module.") else k
        if hasattr(v, "detach"):
            v = v.detach().cpu().float().numpy()
        out[k] = np.asarray(v, dtype=np.float32)
    return out

"""Reading the authors' PyTorch state dicts (for the methods' weight imports); needs ``torch``.

Only a file's tensors are read (``torch.load(weights_only=True)``: never a plain unpickling).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ColorizeError, InputError

__all__ = ["read_torch_state", "weights_file_info", "adopt_torch_state"]


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


def weights_file_info(source: str | os.PathLike | dict[str, Any]) -> dict[str, str]:
    """Where imported weights came from: the file's name and SHA-256 (nothing for a given dict)."""
    if isinstance(source, dict):
        return {}
    path = Path(source)
    return {"imported_from": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def adopt_torch_state(
    model: Any,
    state: dict[str, np.ndarray],
    source: str | os.PathLike | dict[str, Any],
    *,
    convert: Callable[[Any, dict[str, np.ndarray]], Any],
    not_a: str,
    architecture: str,
    citation: str,
) -> None:
    """Load an authors' ``state`` into ``model``'s network and record where it came from.

    Parameters
    ----------
    model : KerasColorizer
        The new model; it is marked trained and its ``info`` is set.
    state : dict
        The state dict (:func:`read_torch_state`).
    source : path or dict
        What ``state`` was read from (its file's name and SHA-256 go in ``info``).
    convert : callable
        ``convert(net, state)`` copies the state into the Keras network (the method's
        ``network.torch_state_to_keras``): KeyError for a missing tensor, ValueError for a
        shape that does not fit.
    not_a : str
        The message of a missing tensor, before ``: missing <key>`` (``not a ... state dict``).
    architecture : str
        The architecture in the message of a misfit (``does not match the <architecture>
        architecture``).
    citation : str
        The paper and the weights, ``info["source"]``.

    Raises
    ------
    InputError
        When the state does not fit the network.
    """
    try:
        convert(model._ensure_net(), state)
    except KeyError as e:
        raise InputError(f"{not_a}: missing {e}") from None
    except ValueError as e:
        raise InputError(f"does not match the {architecture} architecture: {e}") from None
    model.trained = True
    model.info = {"source": citation, **weights_file_info(source)}

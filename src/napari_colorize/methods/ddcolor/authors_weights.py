"""Import of the authors' PyTorch DDColor weights (``ddcolor_paper_tiny``, ``ddcolor_modelscope``, ...)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ...errors import InputError
from .colorizer import DDColorColorizer
from .config import DDColorConfig

__all__ = ["import_torch_weights"]


# -- the authors' weights ------------------------------------------------------
def import_torch_weights(
    state_dict_or_path: str | os.PathLike | dict[str, Any], **config: Any
) -> DDColorColorizer:
    """Convert the authors' PyTorch DDColor weights into a ``ddcolor`` model.

    Parameters
    ----------
    state_dict_or_path : path or dict
        The generator's state dict (e.g. ``pytorch_model.pt`` of ``piddnad/ddcolor_paper_tiny``
        on the Hugging Face hub, supplied by the user; nothing is downloaded), or a file holding
        it.  Reading a file needs ``torch``.
    **config
        Other config values (e.g. ``input_size=512``).  ``encoder``, ``num_queries`` and
        ``dec_layers`` are read from the state dict's shapes; a given one must match.

    Returns
    -------
    DDColorColorizer
        Trained; ``save`` it to make a model folder.
    """
    from ..torch_state import read_torch_state

    state = read_torch_state(state_dict_or_path)
    from . import network as K

    try:
        found = K.detect_structure(state)
    except ValueError as e:
        raise InputError(str(e)) from None
    for k, v in found.items():
        if k in config and config[k] != v:
            raise InputError(f"{k}={config[k]!r} does not match the state dict's {v!r}")
    model = DDColorColorizer(DDColorConfig.from_dict({**config, **found}))
    try:
        K.torch_state_to_keras(model._ensure_net(), state)
    except KeyError as e:
        raise InputError(f"not a DDColor {found['encoder']} state dict: missing {e}") from None
    except ValueError as e:
        raise InputError(f"does not match the DDColor architecture: {e}") from None
    model.trained = True
    info: dict[str, Any] = {
        "source": "Kang et al.: DDColor: Towards Photo-Realistic Image Colorization via Dual Decoders "
        "(ICCV 2023), piddnad/DDColor PyTorch weights",
    }
    if not isinstance(state_dict_or_path, dict):
        path = Path(state_dict_or_path)
        info["imported_from"] = path.name
        info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    model.info = info
    return model

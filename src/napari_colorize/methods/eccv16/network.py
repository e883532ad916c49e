"""Keras 3 layers of the ECCV16 colorization network (Zhang et al., 2016).

Imported lazily by :mod:`napari_colorize.methods.eccv16` (this module imports
Keras), written in ``keras`` and ``keras.ops``: it runs on every Keras
backend.  The layout follows the authors' PyTorch port
(``richzhang/colorization``, ``colorizers/eccv16.py``) layer for layer, so
that their weights load one to one:

- blocks ``conv1`` .. ``conv7``: 3x3 convolutions with ReLU, then a
  BatchNorm (epsilon 1e-5, as PyTorch); the last convolution of conv1-conv3
  has stride 2, written as ``ZeroPadding2D(1)`` + ``'valid'`` so that the
  sampling grid equals PyTorch's ``padding=1`` (Keras ``'same'`` would pad
  on the bottom/right only); conv5 and conv6 are dilated by 2;
- block ``conv8``: a 4x4 stride-2 transposed convolution (``'valid'`` then
  cropped by 1 on each side, which is PyTorch's ``padding=1``), two 3x3
  convolutions, then the 1x1 convolution ``conv8_313`` to the logits of the
  Q ab bins, at 1/4 of the input resolution;
- :class:`AnnealedMean`: ``softmax(logits / T)`` followed by the 1x1
  convolution ``model_out`` whose weights are the bin centres / ab_scale,
  times ab_scale (the authors' ``model_out`` and ``unnormalize_ab``).

Channels are the original ones times ``width``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from ..keras_ops import inference_function, jit_network, resize_bilinear

#: (block, channels, [(kind, stride, dilation), ...], batchnorm)
BLOCKS: list[tuple[str, int, list[tuple[str, int, int]], bool]] = [
    ("conv1", 64, [("conv", 1, 1), ("conv", 2, 1)], True),
    ("conv2", 128, [("conv", 1, 1), ("conv", 2, 1)], True),
    ("conv3", 256, [("conv", 1, 1), ("conv", 1, 1), ("conv", 2, 1)], True),
    ("conv4", 512, [("conv", 1, 1)] * 3, True),
    ("conv5", 512, [("conv", 1, 2)] * 3, True),
    ("conv6", 512, [("conv", 1, 2)] * 3, True),
    ("conv7", 512, [("conv", 1, 1)] * 3, True),
    ("conv8", 256, [("deconv", 2, 1), ("conv", 1, 1), ("conv", 1, 1)], False),
]
#: block names, bottom to top, for ``trainable_from`` (``conv8_313`` is the classifier alone)
BLOCK_NAMES: tuple[str, ...] = tuple(b[0] for b in BLOCKS) + ("conv8_313",)
#: input px per logit px
OUTPUT_STRIDE = 4
#: total downsampling inside the network (conv1-conv3 stride 2)
BLOCK_SIZE = 8


def channels(width: float) -> list[int]:
    """Channels of each block for a width multiplier."""
    return [max(1, int(round(c * width))) for _, c, _, _ in BLOCKS]


def receptive_field() -> int:
    """Full receptive field (px) of one logit, from :data:`BLOCKS`."""
    rf, jump = 1, 1
    for _, _, convs, _ in BLOCKS:
        for kind, stride, dil in convs:
            if kind == "deconv":
                # each output of a k=4, s=2 transposed conv sees 2 inputs
                rf += jump
                jump //= 2
            else:
                rf += 2 * dil * jump
                jump *= stride
    # the 1x1 classifier adds nothing; the x4 bilinear upsampling adds one logit px
    return rf + jump


def block_of(layer_name: str) -> str | None:
    """The block a layer belongs to (None for the input)."""
    if layer_name.startswith("conv8_313"):
        return "conv8_313"
    head = layer_name.split("_")[0]
    return head if head in BLOCK_NAMES else None


def build_trunk(width: float, n_bins: int, *, name: str = "eccv16") -> keras.Model:
    """The network from normalised L (B, H, W, 1) to bin logits (B, H/4, W/4, Q).

    H and W must be multiples of 8 (:data:`BLOCK_SIZE`).
    """
    chans = channels(width)
    x = inp = keras.Input((None, None, 1), name="L_norm")
    for (block, _, convs, bn), c in zip(BLOCKS, chans):
        for i, (kind, stride, dil) in enumerate(convs, start=1):
            lname = f"{block}_{i}"
            if kind == "deconv":
                x = layers.Conv2DTranspose(c, 4, strides=2, padding="valid", name=lname)(x)
                x = layers.Cropping2D(1, name=f"{lname}_crop")(x)
            elif stride == 1:
                x = layers.Conv2D(c, 3, padding="same", dilation_rate=dil, name=lname)(x)
            else:
                x = layers.ZeroPadding2D(1, name=f"{lname}_pad")(x)
                x = layers.Conv2D(c, 3, strides=stride, padding="valid", name=lname)(x)
            x = layers.ReLU(name=f"{lname}_relu")(x)
        if bn:
            x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{block}_norm")(x)
    x = layers.Conv2D(n_bins, 1, name="conv8_313")(x)
    return keras.Model(inp, x, name=name)


def set_trainable_from(model: keras.Model, block: str | None) -> None:
    """Freeze every layer below ``block`` (None: train everything)."""
    from ..keras_colorizer import freeze_below

    freeze_below(model, block, block_names=BLOCK_NAMES, block_of=block_of)


class AnnealedMean(layers.Layer):
    """Annealed-mean decoding: ``model_out(softmax(logits / T)) * ab_scale``.

    ``model_out`` is a bias-free 1x1 convolution whose kernel holds the bin
    centres divided by ``ab_scale`` (as in the authors' model), so the result
    is the expectation of the bin centres under the annealed distribution.
    """

    def __init__(self, bins: np.ndarray, ab_scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bins = np.asarray(bins, dtype=np.float32)
        self.ab_scale = float(ab_scale)
        self.model_out = layers.Conv2D(2, 1, use_bias=False, name="model_out", trainable=False)

    def build(self, input_shape: Any) -> None:
        self.model_out.build((None, None, None, len(self.bins)))
        self.model_out.set_weights([(self.bins / self.ab_scale)[None, None]])
        self.built = True

    def call(self, logits: Any, temperature: Any = 1.0) -> Any:
        p = ops.softmax(logits / temperature, axis=-1)
        return self.model_out(p) * self.ab_scale


class Predictor:
    """Compiled inference at temperature ``T``: L (0..100) -> ab in Lab units at a given size.

    One compiled function (:func:`napari_colorize.methods.keras_ops.inference_function`) does all of it:
    the normalisation ``(L - 50) / 100``, with ``input_size`` the resize of L to
    ``input_size`` squared (bilinear, antialiased; skipped for an input of that
    size), the network, the annealed mean in float32 (also when the network
    computes in 16 bits) and the bilinear upsampling of ab to the output size.
    With ``xla`` the network itself is compiled by XLA
    (:func:`napari_colorize.methods.keras_ops.jit_network`), once per input shape.
    """

    def __init__(
        self,
        trunk: keras.Model,
        bins: np.ndarray,
        ab_scale: float,
        *,
        T: float,
        input_size: int | None = None,
        xla: bool = False,
    ) -> None:
        self.trunk = trunk
        self.xla = bool(xla)
        self._net = jit_network(trunk) if xla else (lambda x: trunk(x, training=False))
        self.T = float(T)
        self.input_size = None if input_size is None else int(input_size)
        self.decode = AnnealedMean(bins, ab_scale, name="annealed_mean", dtype="float32")
        self.decode.build((None, None, None, len(bins)))
        #: compiled functions, by whether L is resized to ``input_size`` first
        self._runs: dict[bool, Any] = {}

    def _forward(self, L: Any, size: Any, *, resize: bool) -> Any:
        x = (L - 50.0) / 100.0
        if resize:
            s = self.input_size
            x = resize_bilinear(x, (s, s), antialias=True)
        logits = ops.cast(self._net(x), "float32")
        ab = self.decode(logits, temperature=self.T)
        # bilinear with half-pixel centres == PyTorch align_corners=False
        return resize_bilinear(ab, size)

    def __call__(self, L: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """ab (N, *size, 2) float32 for L (N, H, W, 1) in 0..100 (H, W multiples of 8 unless resized)."""
        L = np.asarray(L, np.float32)
        resize = self.input_size is not None and tuple(L.shape[1:3]) != (self.input_size,) * 2
        run = self._runs.get(resize)
        if run is None:
            run = self._runs[resize] = inference_function(
                lambda x, sz: self._forward(x, sz, resize=resize), sized=True
            )
        return run(L, tuple(int(v) for v in size))


def resize_L(L: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch of L (N, H, W, 1) to (N, size, size, 1), bilinear with antialiasing."""
    x = np.asarray(L, np.float32)
    return ops.convert_to_numpy(ops.image.resize(x, (size, size), interpolation="bilinear", antialias=True))


def make_loss(bins: np.ndarray, weights: np.ndarray | None, *, k: int, sigma: float) -> Any:
    """Weighted cross-entropy against soft-encoded targets, at 1/4 resolution.

    ``y_true`` is ab (B, H, W, 2) in Lab units at the input resolution; it is
    average-pooled by 4 to the logits' grid, soft-encoded over the ``k``
    nearest bins (Gaussian, ``sigma``), and each pixel's cross-entropy is
    weighted by the rebalancing weight of its nearest bin (when ``weights``
    is given).
    """
    c = np.asarray(bins, np.float32)  # (Q, 2)
    c2 = (c * c).sum(-1)
    w = None if weights is None else np.asarray(weights, np.float32)
    inv2s2 = 1.0 / (2.0 * float(sigma) ** 2)

    def loss(y_true: Any, y_pred: Any) -> Any:
        ab = ops.average_pool(ops.cast(y_true, "float32"), OUTPUT_STRIDE, OUTPUT_STRIDE, padding="valid")
        cross = ops.tensordot(ab, ops.convert_to_tensor(c), [[3], [1]])
        d2 = ops.sum(ab * ab, axis=-1, keepdims=True) - 2.0 * cross + ops.convert_to_tensor(c2)
        d2 = ops.maximum(d2, 0.0)
        kth = -ops.top_k(-d2, k=k, sorted=True)[0]  # ascending distances
        dmin, dk = kth[..., :1], kth[..., -1:]
        g = ops.exp(-(d2 - dmin) * inv2s2) * ops.cast(d2 <= dk, "float32")
        target = ops.stop_gradient(g / ops.sum(g, axis=-1, keepdims=True))
        logp = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        ce = -ops.sum(target * logp, axis=-1)
        if w is not None:
            ce = ce * ops.take(w, ops.argmin(d2, axis=-1), axis=0)
        return ops.mean(ce, axis=[1, 2])

    return loss


def torch_state_to_keras(trunk: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Load the authors' PyTorch state dict (numpy arrays) into ``trunk``.

    Keys ``model1.*`` .. ``model8.*`` (convolutions, BatchNorms in order);
    the last convolution of ``model8`` is the classifier ``conv8_313``.
    Raises ValueError on a missing key or a shape mismatch.
    """
    for n, (block, _, convs, bn) in enumerate(BLOCKS, start=1):
        prefix = f"model{n}."
        idx = sorted({int(k[len(prefix) :].split(".")[0]) for k in state if k.startswith(prefix)})
        targets = [f"{block}_{i}" for i in range(1, len(convs) + 1)]
        if bn:
            targets.append(f"{block}_norm")
        if block == "conv8":
            targets.append("conv8_313")
        if len(idx) != len(targets):
            raise ValueError(f"{prefix}*: expected {len(targets)} layers with weights, found {len(idx)}")
        for i, lname in zip(idx, targets):
            set_torch_weights(trunk.get_layer(lname), state, f"{prefix}{i}.")


def set_torch_weights(layer: Any, state: dict[str, np.ndarray], key: str) -> None:
    """Load the PyTorch weights ``state[key + ...]`` into one Keras convolution or BatchNorm layer.

    Raises KeyError on a missing key and ValueError on a shape mismatch.
    """
    if isinstance(layer, layers.BatchNormalization):
        ws = [state[key + s] for s in ("weight", "bias", "running_mean", "running_var")]
    else:
        # Conv2d (out, in, kh, kw) and ConvTranspose2d (in, out, kh, kw) both
        # map to Keras' (kh, kw, in, out) / (kh, kw, out, in) by the same transpose
        ws = [state[key + "weight"].transpose(2, 3, 1, 0), state[key + "bias"]]
    want = [tuple(v.shape) for v in layer.get_weights()]
    got = [tuple(v.shape) for v in ws]
    if want != got:
        raise ValueError(f"{key[:-1]} -> {layer.name}: shapes {got} do not match {want}")
    layer.set_weights([np.asarray(v, np.float32) for v in ws])


def describe() -> dict[str, Any]:
    """Static facts used by the method (for tests and docs)."""
    rf = receptive_field()
    return {"receptive_field": rf, "half_receptive_field": int(math.ceil(rf / 2)), "block_size": BLOCK_SIZE}

"""Keras 3 network of the ``siggraph17_lite0`` method: SIGGRAPH17-style hints on a frozen ImageNet encoder.

Imported lazily by :mod:`napari_colorize.methods.siggraph17_lite0`.  Written
with ``keras`` layers and ``keras.ops`` only, so it builds on the
TensorFlow, JAX and PyTorch backends.

The input is SIGGRAPH17's (B, H, W, 4) tensor ``[(L - 50) / 100, ab_hint / 110,
mask - mask_center]`` (:func:`napari_colorize.methods.siggraph17.hint_inputs`);
H and W are multiples of 32.  The outputs are SIGGRAPH17's too: ``[ab, logits]``,
ab (B, H, W, 2) in Lab units (the regression head, upsampled from 1/4) and
the logits of the ab classes (B, H/4, W/4, Q), so its predictor
(:func:`napari_colorize.methods.siggraph17.network.make_predictor`) serves both.

- :func:`gray_rgb`: L rendered as the sRGB gray of that lightness, normalised
  with the ImageNet mean and std;
- the encoder (:func:`.efficientnet.build_lite0`, EfficientNet-Lite0,
  ImageNet weights, frozen) gives features of stride 4, 8, 16 and 32;
- the hints (ab and mask, full resolution) go through four stride-2 3x3
  convolutions, whose outputs join the decoder at strides 4, 8 and 16, and
  are pooled to each stride (:class:`PooledHints`: the mean hint ab of each
  cell and whether it holds one), which join it at strides 4 to 32;
- the decoder goes top-down: at each stride the upsampled coarser map, the
  encoder's features and the hints' are concatenated, mixed by a 1x1 then a
  3x3 convolution (ReLU);
- heads at stride 4: the class logits (1x1) and the regression ab (1x1,
  ``tanh * 110``, upsampled bilinearly to full resolution).

The network is two Keras models in one: the ``encoder`` (x -> four
features) and the ``decoder`` (four features and x -> [ab, logits]), so that
training can cache the frozen encoder's features (:func:`build`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from ..keras_ops import upsample_bilinear
from . import efficientnet as E

__all__ = ["build", "gray_rgb", "BLOCK_SIZE", "DECODER_CHANNELS", "BLOCK_NAMES", "block_of"]

#: total downsampling of the encoder: inputs are padded to a multiple of this
BLOCK_SIZE = 32
#: decoder channels at strides 32, 16, 8 and 4
DECODER_CHANNELS = (128, 128, 96, 96)
#: hint-path channels after each stride-2 convolution (strides 2, 4, 8, 16)
HINT_CHANNELS = (16, 32, 32, 32)
AB_SCALE = 110.0
#: parts, bottom to top, for ``trainable_from``
BLOCK_NAMES: tuple[str, ...] = E.block_names() + ("decoder", "heads")


def gray_rgb(x: Any) -> Any:
    """The ImageNet-normalised sRGB gray (B, H, W, 3) of the L channel of ``x`` ((L - 50) / 100)."""
    L = ops.clip(x[..., :1] * 100.0 + 50.0, 0.0, 100.0)
    fy = (L + 16.0) / 116.0
    Y = ops.where(fy > 6.0 / 29.0, fy * fy * fy, L / 903.3)
    v = ops.where(Y > 0.0031308, 1.055 * ops.power(ops.maximum(Y, 1e-8), 1.0 / 2.4) - 0.055, 12.92 * Y)
    v = ops.clip(v, 0.0, 1.0)
    mean = ops.convert_to_tensor(E.IMAGENET_MEAN, dtype=v.dtype)
    std = ops.convert_to_tensor(E.IMAGENET_STD, dtype=v.dtype)
    return (ops.concatenate([v, v, v], axis=-1) - mean) / std


class GrayRGB(layers.Layer):
    """:func:`gray_rgb` as a layer."""

    def call(self, x: Any) -> Any:
        return gray_rgb(x)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[:-1]) + (3,)


class PooledHints(layers.Layer):
    """The hints at stride ``s``: mean hint ab over each s x s cell's hinted pixels, and whether it has any.

    From x's channels 1..3 (ab / 110 and the mask minus ``mask_center``; a
    hint is where the mask is above ``mask_center``): (B, H/s, W/s, 3).  A
    one-pixel hint keeps its full value and weight at every stride, which a
    strided convolution would dilute.
    """

    def __init__(self, stride: int, mask_center: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride = int(stride)
        self.mask_center = float(mask_center)

    def call(self, x: Any) -> Any:
        s = self.stride
        m = ops.cast(x[..., 3:4] + self.mask_center > 0.5, x.dtype)
        abm = x[..., 1:3] * m
        pooled = ops.average_pool(ops.concatenate([abm, m], axis=-1), s, s, padding="same")
        frac = pooled[..., 2:3]
        ab = pooled[..., :2] / ops.maximum(frac, 1e-6)
        return ops.concatenate([ab, ops.cast(frac > 0, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        b, h, w, _ = input_shape
        s = self.stride
        return (b, None if h is None else -(-h // s), None if w is None else -(-w // s), 3)


class Upsample(layers.Layer):
    """Bilinear upsampling by an integer factor (half-pixel centres, any backend)."""

    def __init__(self, factor: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x: Any) -> Any:
        return upsample_bilinear(x, self.factor, self.factor)

    def compute_output_shape(self, input_shape: Any) -> Any:
        b, h, w, c = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, c)


def build_encoder() -> keras.Model:
    """x (B, H, W, 4) -> the Lite0 features ``[s4, s8, s16, s32]`` of its gray."""
    inp = keras.Input((None, None, 4), name="x")
    rgb = GrayRGB(name="gray_rgb")(inp)
    return keras.Model(inp, E.build_lite0(rgb, prefix="enc"), name="encoder")


def build_decoder(n_classes: int, mask_center: float = 0.0) -> keras.Model:
    """``[s4, s8, s16, s32, x]`` -> ``[ab, logits]`` (see the module docs)."""
    feats = [keras.Input((None, None, c), name=f"s{s}") for c, s in zip(E.FEATURE_CHANNELS, (4, 8, 16, 32))]
    x = keras.Input((None, None, 4), name="x")
    h = layers.Lambda(lambda t: t[..., 1:], name="hint_in")(x)
    hints = []
    for i, c in enumerate(HINT_CHANNELS):
        h = layers.Conv2D(c, 3, strides=2, padding="same", activation="relu", name=f"dec_hint{i}")(h)
        hints.append(h)  # strides 2, 4, 8, 16
    pooled = {s: PooledHints(s, mask_center, name=f"dec_pool{s}")(x) for s in (4, 8, 16, 32)}
    c32, c16, c8, c4 = DECODER_CHANNELS
    d = layers.Concatenate(name="dec_cat32")([feats[3], pooled[32]])
    d = layers.Conv2D(c32, 1, activation="relu", name="dec_lat32")(d)
    d = layers.Conv2D(c32, 3, padding="same", activation="relu", name="dec_conv32")(d)
    levels = ((c16, feats[2], hints[3], 16), (c8, feats[1], hints[2], 8), (c4, feats[0], hints[1], 4))
    for c, f, hint, s in levels:
        up = Upsample(2, name=f"dec_up{s}")(d)
        d = layers.Concatenate(name=f"dec_cat{s}")([up, f, hint, pooled[s]])
        d = layers.Conv2D(c, 1, activation="relu", name=f"dec_mix{s}")(d)
        d = layers.Conv2D(c, 3, padding="same", activation="relu", name=f"dec_conv{s}")(d)
    d = layers.Conv2D(c4, 3, padding="same", activation="relu", name="dec_conv4b")(d)
    logits = layers.Conv2D(n_classes, 1, name="head_class")(d)
    logits = layers.Identity(name="logits", dtype="float32")(logits)
    ab = layers.Conv2D(2, 1, activation="tanh", name="head_ab")(d)
    ab = layers.Rescaling(AB_SCALE, name="head_ab_scale")(ab)
    ab = Upsample(4, name="ab", dtype="float32")(ab)
    return keras.Model([*feats, x], [ab, logits], name="decoder")


def build(n_classes: int, mask_center: float = 0.0) -> tuple[keras.Model, keras.Model, keras.Model]:
    """(net, encoder, decoder): ``net`` = x -> decoder(encoder(x), x) -> [ab, logits]."""
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    enc = build_encoder()
    dec = build_decoder(n_classes, mask_center)
    inp = keras.Input((None, None, 4), name="x")
    ab, logits = dec([*enc(inp), inp])
    net = keras.Model(inp, [ab, logits], name="siggraph17_lite0")
    return net, enc, dec


def block_of(layer_name: str) -> str | None:
    """The part (one of :data:`BLOCK_NAMES`) a layer of the encoder or decoder belongs to."""
    if layer_name.startswith("dec_"):
        return "decoder"
    if layer_name.startswith("head_") or layer_name in ("logits", "ab"):
        return "heads"
    return E.stage_of(layer_name, prefix="enc")


def set_trainable_from(encoder: keras.Model, decoder: keras.Model, block: str | None) -> None:
    """Train ``block`` and the parts above it; the encoder below it is frozen (BatchNorm in inference mode).

    None trains the decoder and heads and keeps the whole encoder frozen (its ImageNet features).
    """
    block = block or "decoder"
    if block not in BLOCK_NAMES:
        raise ValueError(f"unknown block {block!r}; choose one of {', '.join(BLOCK_NAMES)}")
    start = BLOCK_NAMES.index(block)
    for model in (encoder, decoder):
        model.trainable = True
        for layer in model.layers:
            part = block_of(layer.name)
            layer.trainable = part is not None and BLOCK_NAMES.index(part) >= start

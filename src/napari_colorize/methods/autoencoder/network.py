"""Keras network of the ``autoencoder`` method, and the layers ``vgg_autoencoder`` shares.

Imported lazily by :mod:`napari_colorize.methods.autoencoder` and
:mod:`napari_colorize.methods.vgg_autoencoder.network`, never at package import
(the napari process must not import TensorFlow).  Written in ``keras`` and
``keras.ops`` only: the networks run on every Keras backend.

Both networks take raw lightness ``L`` (B, H, W, 1) in 0..100 and return
``tanh`` outputs (B, H, W, 2), i.e. ``ab / ab_scale``.  The input
normalisation lives inside the network (an :class:`LNorm` layer), so a
saved ``model.weights.h5`` plus the config fully defines the predictions.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from ...color import L2norm

__all__ = [
    "LNorm",
    "BilinearUpSampling2D",
    "build_from_spec",
    "build_autoencoder",
]

#: :func:`napari_colorize.color.L2norm`'s defaults (the network normalises L itself)
_L_CENTER, _L_SCALE = (
    inspect.signature(L2norm).parameters["center"].default,
    inspect.signature(L2norm).parameters["scale"].default,
)

#: ImageNet BGR means subtracted by ``keras.applications.vgg16.preprocess_input`` (caffe mode)
_VGG_MEAN_BGR = (103.939, 116.779, 123.68)


class LNorm(layers.Layer):
    """Normalise raw L (0..100) for a network.

    Modes
    -----
    ``"center"``
        ``(L - 50) / 100``, one channel (range -0.5..0.5).
    ``"center3"``
        The same, stacked 3x (a VGG16 encoder with random weights).
    ``"vgg"``
        L scaled to 0..255, stacked 3x and passed through
        ``keras.applications.vgg16.preprocess_input`` (an encoder with
        ImageNet weights expects that).
    """

    def __init__(self, mode: str = "center", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("center", "center3", "vgg"):
            raise ValueError(f"unknown LNorm mode {mode!r}")
        self.mode = mode

    def call(self, L: Any) -> Any:
        if self.mode in ("center", "center3"):
            x = (L - _L_CENTER) / _L_SCALE  # napari_colorize.color.L2norm, on tensors
            return x if self.mode == "center" else ops.concatenate([x, x, x], axis=-1)
        x = L * (255.0 / 100.0)
        x = ops.concatenate([x, x, x], axis=-1)
        return keras.applications.vgg16.preprocess_input(x)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        c = 1 if self.mode == "center" else 3
        return tuple(input_shape[:-1]) + (c,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class BilinearUpSampling2D(layers.UpSampling2D):
    """Bilinear ``UpSampling2D`` that also works on unknown (None) spatial sizes.

    Keras' own bilinear path branches on static shapes and fails when a
    TensorFlow function is traced with unknown sizes; this one asks the backend
    seam (:func:`napari_colorize.methods.keras_ops.resize_bilinear`) for the sizes it can compute.
    """

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        kwargs.pop("interpolation", None)
        super().__init__(size, interpolation="bilinear", **kwargs)

    def call(self, inputs: Any) -> Any:
        from ..keras_ops import upsample_bilinear

        fy, fx = self.size
        return upsample_bilinear(inputs, int(fy), int(fx))


def build_from_spec(x: Any, spec: Sequence[tuple], *, prefix: str) -> Any:
    """Apply a layer spec (see ``autoencoder.autoencoder_spec``) to tensor ``x``.

    Spec items: ``("conv", filters, kernel, stride, activation)``,
    ``("up", factor)`` (bilinear UpSampling2D) and ``("pool", size)``.
    """
    for i, item in enumerate(spec):
        kind = item[0]
        if kind == "conv":
            _, filters, k, s, act = item
            x = layers.Conv2D(
                filters, k, strides=s, padding="same", activation=act, name=f"{prefix}_conv{i}"
            )(x)
        elif kind == "up":
            x = BilinearUpSampling2D(item[1], name=f"{prefix}_up{i}")(x)
        elif kind == "pool":
            x = layers.MaxPooling2D(item[1], name=f"{prefix}_pool{i}")(x)
        else:  # pragma: no cover - specs are internal
            raise ValueError(f"unknown spec item {item!r}")
    return x


def build_autoencoder(spec: Sequence[tuple]) -> keras.Model:
    """The plain conv encoder-decoder: L (B, H, W, 1) -> ab/ab_scale (B, H, W, 2)."""
    inp = keras.Input((None, None, 1), name="L")
    x = LNorm("center", name="lnorm")(inp)
    out = build_from_spec(x, spec, prefix="ae")
    return keras.Model(inp, out, name="autoencoder")



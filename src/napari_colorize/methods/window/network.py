"""Keras code of the ``window`` method (imported lazily: it imports Keras).

Two networks share one set of weights:

- the **window model** (training): ``(B, z, z, 1)`` normalised L windows ->
  ``(B, n_colors)`` softmax over the palette;
- the **convolutional model** (inference): ``(N, H + 2r, W + 2r, 1)``
  reflect-padded normalised L -> ``(N, H, W, n_colors)`` logits, with
  ``r = z // 2``.  Each Dense layer on a flattened ``k x k x c`` input
  becomes a Conv2D with a ``k x k`` kernel and 'valid' padding (the Dense
  kernel reshaped to ``(k, k, c, units)``: Keras flattens channels-last in
  row-major order), and every later Dense a 1x1 Conv2D.  The output at a
  pixel is then exactly the window model's output on the window centred
  there.

Written in ``keras`` and ``keras.ops``: it runs on every Keras backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from ...color import L2norm
from ...data import cycle
from ..keras_ops import inference_function
from .config import WindowConfig
from .windows import pad_reflect, window_batches

__all__ = [
    "build_window_model",
    "build_conv_model",
    "ConvPredictor",
    "window_streams",
    "loss",
    "metrics",
    "per_pixel_loop",
]

#: activations of intermediate tensors of the conv model kept below this many bytes per call
_CALL_BYTES = 1 << 28


def _mlp_activation(i: int, n: int) -> str:
    # the original: sigmoid, sigmoid, relu -> softmax (the last hidden layer is relu)
    return "relu" if i == n - 1 else "sigmoid"


def build_window_model(cfg: WindowConfig) -> keras.Model:
    """The per-window classifier (Keras functional model)."""
    z = cfg.window
    inp = keras.Input((z, z, 1), name="window")
    x = inp
    if cfg.arch == "mlp":
        x = keras.layers.Flatten(name="flatten")(x)
        for i, u in enumerate(cfg.mlp_units):
            x = keras.layers.Dense(u, activation=_mlp_activation(i, len(cfg.mlp_units)), name=f"dense{i}")(x)
    else:
        for i, f in enumerate(cfg.cnn_filters):
            x = keras.layers.Conv2D(f, 3, padding="valid", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, u in enumerate(cfg.cnn_units):
            x = keras.layers.Dense(u, activation="relu", name=f"dense{i}")(x)
    out = keras.layers.Dense(cfg.n_colors, activation="softmax", name="palette")(x)
    return keras.Model(inp, out, name=f"window_{cfg.arch}")


def build_conv_model(window_model: keras.Model, cfg: WindowConfig) -> keras.Model:
    """The equivalent fully convolutional model (logits), with the window model's weights."""
    z = cfg.window
    inp = keras.Input((None, None, 1), name="L_padded")
    x = inp
    if cfg.arch == "mlp":
        first_k = z
        units = list(cfg.mlp_units)
        acts = [_mlp_activation(i, len(units)) for i in range(len(units))]
        convs: list[tuple[int, str]] = []
    else:
        convs = [(f, "relu") for f in cfg.cnn_filters]
        first_k = z - 2 * len(convs)
        units = list(cfg.cnn_units)
        acts = ["relu"] * len(units)
    new_layers = []
    for i, (f, act) in enumerate(convs):
        layer = keras.layers.Conv2D(f, 3, padding="valid", activation=act, name=f"conv{i}")
        x = layer(x)
        new_layers.append(layer)
    for i, (u, act) in enumerate(zip(units, acts)):
        k = first_k if i == 0 else 1
        layer = keras.layers.Conv2D(u, k, padding="valid", activation=act, name=f"dense{i}_as_conv")
        x = layer(x)
        new_layers.append(layer)
    layer = keras.layers.Conv2D(cfg.n_colors, 1, activation=None, name="palette_logits")
    x = layer(x)
    new_layers.append(layer)
    conv_model = keras.Model(inp, x, name=f"window_{cfg.arch}_conv")
    src_layers = [lyr for lyr in window_model.layers if lyr.weights]
    if len(src_layers) != len(new_layers):  # pragma: no cover - guarded by construction
        raise RuntimeError("window and conv models do not match")
    for src, dst in zip(src_layers, new_layers):
        kernel, bias = src.get_weights()
        dst.set_weights([kernel.reshape(tuple(dst.kernel.shape)), bias])
    return conv_model


class ConvPredictor:
    """Fully convolutional inference: L (N, H, W) 0..100 -> ab (N, H, W, 2), in row strips."""

    def __init__(self, window_model: keras.Model, palette: np.ndarray, cfg: WindowConfig) -> None:
        self.cfg = cfg
        self.r = cfg.window // 2
        self.model = build_conv_model(window_model, cfg)
        widest = max(int(lyr.filters) for lyr in self.model.layers if isinstance(lyr, keras.layers.Conv2D))
        widest = max(widest, cfg.n_colors)
        self.max_px = max(4096, _CALL_BYTES // (4 * widest * 2))
        pal = ops.convert_to_tensor(np.asarray(palette, np.float32))
        model = self.model
        T = float(cfg.temperature)
        mode = cfg.decode == "mode"

        def decode(x: Any) -> Any:
            logits = ops.cast(model(x, training=False), "float32")  # float32 also under mixed precision
            if mode:
                return ops.take(pal, ops.argmax(logits, axis=-1), axis=0)
            p = ops.softmax(logits / T, axis=-1)
            return ops.einsum("nhwk,kc->nhwc", p, pal)

        def probs(x: Any) -> Any:
            return ops.softmax(ops.cast(model(x, training=False), "float32"), axis=-1)

        self._decode = inference_function(decode)
        self._probs = inference_function(probs)

    def _run(self, fn: Any, L: np.ndarray, channels: int) -> np.ndarray:
        r = self.r
        n, h, w = L.shape
        xp = pad_reflect(L2norm(L), r)[..., None]
        out = np.empty((n, h, w, channels), np.float32)
        if n * h * w <= self.max_px:
            out[:] = fn(xp)
            return out
        rows = max(1, self.max_px // w)
        for i in range(n):
            for y0 in range(0, h, rows):
                y1 = min(h, y0 + rows)
                out[i, y0:y1] = fn(xp[i : i + 1, y0 : y1 + 2 * r])[0]
        return out

    def __call__(self, L: np.ndarray) -> np.ndarray:
        return self._run(self._decode, L, 2)

    def probabilities(self, L: np.ndarray) -> np.ndarray:
        """Palette probabilities (N, H, W, n_colors) (temperature 1)."""
        return self._run(self._probs, L, self.cfg.n_colors)


def window_streams(
    palette: np.ndarray, train_src: Sequence[Any], val_src: Sequence[Any], cfg: WindowConfig, *, seed: int
) -> tuple[Any, Any, int, int | None]:
    """Training batches (an endless generator), validation batches (a fixed set, repeated) and their steps."""
    bs = cfg.batch_size

    def stream(src: Sequence[Any], s: int, flip: bool, per_epoch: int) -> Any:
        return window_batches(
            src,
            palette,
            window=cfg.window,
            batch_size=bs,
            samples_per_epoch=per_epoch,
            soft_sigma=cfg.soft_sigma,
            flip=flip,
            seed=s,
        )

    steps = max(1, math.ceil(cfg.samples_per_epoch / bs))
    train = stream(train_src, seed, cfg.flip, cfg.samples_per_epoch)
    if not (val_src and cfg.val_split > 0):
        return train, None, steps, None
    n_val = max(bs, int(cfg.samples_per_epoch * cfg.val_split))
    val_steps = max(1, math.ceil(n_val / bs))
    fixed = [b for _, b in zip(range(val_steps), stream(val_src, seed + 1, False, n_val))]
    return train, cycle(fixed), steps, val_steps


def loss() -> Any:
    """Cross-entropy against the (one-hot or soft) palette targets."""
    return keras.losses.CategoricalCrossentropy()


def metrics() -> list[Any]:
    return [keras.metrics.CategoricalAccuracy(name="accuracy")]


def per_pixel_loop(
    window_model: keras.Model, palette: np.ndarray, L: np.ndarray, cfg: WindowConfig
) -> np.ndarray:
    """The original's inference: one window at a time in a Python loop (for benchmarks only)."""
    r = cfg.window // 2
    xp = pad_reflect(L2norm(np.asarray(L, np.float32)), r)
    h, w = L.shape
    out = np.empty((h, w, 2), np.float32)
    for y in range(h):
        for x in range(w):
            win = xp[None, y : y + cfg.window, x : x + cfg.window, None]
            p = ops.convert_to_numpy(window_model(win, training=False))[0]
            out[y, x] = palette[p.argmax()] if cfg.decode == "mode" else p @ palette
    return out

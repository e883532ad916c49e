"""Method ``autoencoder``: a convolutional encoder-decoder from L to ab.

After the Image-colorization-autoencoders project: Lab color space, the
network gets the lightness and predicts the two color channels through a
``tanh`` output, trained with Adam on the mean squared error with a 0.1
validation split.

- **Input**: ``(L - 50) / 100`` (range -0.5..0.5), done inside the network.
- **Output**: ``tanh`` = ``ab / ab_scale`` (``ab_scale`` 128 by default).
- **Network** (a deliberately small default, ``width=16, depth=3``: about
  0.24 M parameters and 0.6 GMAC per 256x256 forward pass, so that the
  default training, 10 epochs of 20 batches of 4 crops of 256 px, takes
  about 300 CPU-seconds, 2.5 to 3 minutes on 2 cores, on one 512-px
  reference): ``depth`` levels of [3x3 conv, 3x3 conv stride 2] with
  ``width * 2**level`` filters, a 3x3 conv at the bottom, then ``depth``
  levels of [3x3 conv, bilinear UpSampling2D x2], and a 3x3 ``tanh`` conv
  to 2 channels.  ReLU throughout.  ``block_size`` is ``2**depth``; the
  receptive field (half-width) is 48 px for the default.
- **Inference** (``inference``): ``native`` runs fully convolutionally at
  the image's own size, reflect-padded to a multiple of ``block_size`` and
  cropped back; ``resize`` resizes L to ``input_size`` x ``input_size``,
  predicts, and upsamples ab bilinearly to the full resolution.  The
  output's L is always the input's own.

Training uses :func:`napari_colorize.data.make_dataset`: random crops of
``crop_size`` px at the image's own resolution, resized to ``input_size``
when the two differ, horizontal flips, and a validation split by image (a
single image validates on other random crops of itself).

This module does not import Keras; the networks are in
:mod:`.network`, imported when a network is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...color import ab2norm
from ...errors import ConfigError, ModelFolderError
from ..keras_colorizer import KerasColorizer
from .config import AutoencoderConfig, KerasAEConfig

__all__ = ["AutoencoderColorizer", "autoencoder_spec", "spec_receptive_field"]

WEIGHTS_FILE = "model.weights.h5"

#: crops cut from an image each time it is visited by the data pipeline
_CROPS_PER_IMAGE = 16
#: pixels per forward pass when predicting a batch (bounds memory)
_PREDICT_PIXELS = 4 * 1024 * 1024


def autoencoder_spec(width: int, depth: int) -> list[tuple]:
    """Layer spec of the plain encoder-decoder (pure Python, used to build it and for its receptive field)."""
    spec: list[tuple] = []
    for level in range(depth):
        f = width * 2**level
        spec += [("conv", f, 3, 1, "relu"), ("conv", f, 3, 2, "relu")]
    spec.append(("conv", width * 2**depth, 3, 1, "relu"))
    # the decoder narrows before it upsamples (the Reverse-Oldification pattern):
    # half the cost of convolving after each upsampling, and ab is smooth anyway
    for level in reversed(range(depth)):
        spec += [("conv", width * 2**level, 3, 1, "relu"), ("up", 2)]
    spec.append(("conv", 2, 3, 1, "tanh"))
    return spec


def spec_receptive_field(spec: Sequence[tuple]) -> int:
    """Half-width in input pixels of the region an output pixel depends on (an upper bound).

    Each ``k x k`` conv or pool at a feature spacing ``j`` input pixels adds
    ``(k - 1) / 2 * j``; a stride-2 layer also shifts the grid by up to
    ``j / 2``; a bilinear x2 upsampling adds ``j`` (the farther of the two
    feature pixels it interpolates).
    """
    r, j = 0.0, 1.0
    for item in spec:
        kind = item[0]
        if kind == "conv":
            _, _, k, s, _ = item
            r += (k - 1) / 2 * j
            if s > 1:
                r += (s - 1) / 2 * j
                j *= s
        elif kind == "pool":
            s = item[1]
            r += (s - 1) / 2 * j + (s - 1) / 2 * j
            j *= s
        elif kind == "up":
            r += j
            j /= item[1]
    return int(math.ceil(r))


class AutoencoderColorizer(KerasColorizer):
    """Plain convolutional encoder-decoder colorizer (see the module docstring)."""

    name: ClassVar[str] = "autoencoder"
    Config: ClassVar[type[AutoencoderConfig]] = AutoencoderConfig
    structural_fields: ClassVar[tuple[str, ...]] = ("width", "depth")
    config: KerasAEConfig

    # -- network -----------------------------------------------------------
    def _spec(self) -> list[tuple]:
        """Full layer spec from input to output (for the receptive field)."""
        return autoencoder_spec(self.config.width, self.config.depth)

    def _build_net(self, *, for_loading: bool = False) -> Any:
        from .network import build_autoencoder

        return build_autoencoder(self._spec())

    def _reset_inference(self) -> None:
        self._forward_fn: Any = None
        self._forward_net: Any = None

    # -- tiling properties -------------------------------------------------
    @property
    def block_size(self) -> int:
        return self.config.block_size() if self.config.inference == "native" else 1

    @property
    def receptive_field(self) -> int:
        """Half-width of the input an output pixel depends on, in image pixels.

        ``native``: the network's receptive field.  ``resize``: every output
        pixel depends on the whole image; the value given is the network's
        receptive field at the scale of the default tile (``crop_size``,
        the training scale), i.e. the halo a tiled resize run needs.
        """
        r = spec_receptive_field(self._spec())
        if self.config.inference == "native":
            return r
        return int(math.ceil(r * self.config.crop_size / self.config.input_size))

    @property
    def default_tile(self) -> int:
        if self.config.inference == "resize":
            return int(self.config.crop_size)
        b = self.config.block_size()
        return max(b, int(math.ceil(512 / b)) * b)

    @property
    def default_overlap(self) -> int:
        return min(self.receptive_field, self.default_tile // 2)

    # -- training ----------------------------------------------------------
    def fit(
        self,
        data: Any,
        *,
        epochs: int | None = None,
        callbacks: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, list[float]]:
        """Train on color images, continuing from the current weights.

        Parameters
        ----------
        data
            Anything :func:`napari_colorize.data.as_sources` accepts.
        epochs : int, optional
            Number of epochs (``steps_per_epoch`` batches each) for this
            call; ``config.epochs`` by default.
        callbacks : list of keras.callbacks.Callback, optional
            Passed to ``keras.Model.fit`` (progress; setting
            ``model.stop_training`` stops after the current batch).
        steps_per_epoch : int, optional
            Overrides ``config.steps_per_epoch`` for this call.

        Returns
        -------
        dict
            Keras history of this call: ``loss`` (and ``val_loss``) per epoch.
        """
        from ...data import as_sources, make_dataset

        steps = int(kwargs.pop("steps_per_epoch", self.config.steps_per_epoch))
        if kwargs:
            raise ConfigError(f"{self.name}.fit: unknown options {', '.join(sorted(kwargs))}")
        data = as_sources(data)
        cfg = self.config
        n_epochs = int(cfg.epochs if epochs is None else epochs)
        if n_epochs < 1 or steps < 1:
            raise ConfigError(f"epochs and steps_per_epoch must be >= 1, got {n_epochs} and {steps}")
        net = self._ensure_net()
        train_ds, val_ds = make_dataset(
            data,
            crop_size=cfg.crop_size,
            batch_size=cfg.batch_size,
            val_split=cfg.val_split,
            crops_per_image=max(_CROPS_PER_IMAGE, cfg.batch_size),
            resize=cfg.input_size if cfg.input_size != cfg.crop_size else None,
            flip=True,
            seed=self._fit_seed(),
            repeat=True,
        )
        scale = float(cfg.ab_scale)

        def norm(batches: Any) -> Any:
            for L, ab in batches:
                yield L, np.clip(ab2norm(ab, ab_scale=scale), -1.0, 1.0)

        self._compile(net, loss="mse", key=self._trainable_key())
        history = self._fit_net(
            net,
            norm(train_ds),
            epochs=n_epochs,
            steps_per_epoch=steps,
            validation=None if val_ds is None else norm(val_ds),
            validation_steps=None if val_ds is None else max(1, int(round(steps * cfg.val_split))),
            callbacks=callbacks,
        )
        done = len(history.get("loss", []))
        self.info["samples_seen"] = int(self.info.get("samples_seen", 0)) + done * steps * cfg.batch_size
        return history

    def _trainable_key(self) -> Any:
        """What the compiled training step depends on besides the learning rate."""
        return "all"

    # -- prediction --------------------------------------------------------
    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        return self._predict_ab_batch(L[None])[0]

    def _predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        net = self._inference_net()  # bfloat16 with precision="bfloat16" (see KerasColorizer)
        if self.config.inference == "native":
            out = self._predict_native(net, L)
        else:
            out = self._predict_resize(net, L)
        return (out * np.float32(self.config.ab_scale)).astype(np.float32)

    def _run(self, net: Any, x: np.ndarray) -> np.ndarray:
        """Forward (N, h, w) L in chunks bounded by ``_PREDICT_PIXELS``."""
        n, h, w = x.shape
        chunk = max(1, _PREDICT_PIXELS // (h * w))
        if getattr(self, "_forward_fn", None) is None or self._forward_net is not net:
            from ..keras_ops import inference_function

            self._forward_fn = inference_function(lambda t: net(t, training=False))
            self._forward_net = net
        outs = []
        for i in range(0, n, chunk):
            xi = np.ascontiguousarray(x[i : i + chunk, ..., None], dtype=np.float32)
            outs.append(np.asarray(self._forward_fn(xi), dtype=np.float32))
        return np.concatenate(outs, axis=0)

    def _predict_native(self, net: Any, L: np.ndarray) -> np.ndarray:
        b = self.config.block_size()
        n, h, w = L.shape
        H, W = max(b, -(-h // b) * b), max(b, -(-w // b) * b)
        py, px = H - h, W - w
        if py or px:
            pads = ((0, 0), (py // 2, py - py // 2), (px // 2, px - px // 2))
            # reflect needs >1 px per axis; numpy repeats the reflection for pads larger than the image
            mode = "reflect" if min(h, w) > 1 else "edge"
            x = np.pad(L, pads, mode=mode)
        else:
            x = L
        y = self._run(net, x)
        return y[:, py // 2 : py // 2 + h, px // 2 : px // 2 + w]

    def _predict_resize(self, net: Any, L: np.ndarray) -> np.ndarray:
        from keras import ops

        s = int(self.config.input_size)
        n, h, w = L.shape
        small = ops.convert_to_numpy(
            ops.image.resize(L[..., None], (s, s), interpolation="bilinear", antialias=True)
        )[..., 0]
        y = self._run(net, np.clip(small, 0, 100).astype(np.float32))
        if (h, w) != (s, s):
            y = ops.convert_to_numpy(ops.image.resize(y, (h, w), interpolation="bilinear"))
        return y.astype(np.float32)

    # -- model folders -----------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        self._ensure_net().save_weights(str(Path(folder) / WEIGHTS_FILE))

    def _load_weights(self, folder: Path) -> None:
        f = Path(folder) / WEIGHTS_FILE
        if not f.is_file():
            raise ModelFolderError(f"{folder} has no {WEIGHTS_FILE}")
        net = self._ensure_net(for_loading=True)
        net.load_weights(str(f))
        self._compiled_key = None
        self._reset_inference()

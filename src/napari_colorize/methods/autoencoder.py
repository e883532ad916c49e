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

This module does not import TensorFlow; the Keras code is in
:mod:`._autoencoder_keras`, imported when a network is built.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ..config import TrainConfig
from ..errors import ConfigError, ModelFolderError
from .base import Colorizer, check_L

__all__ = ["AutoencoderConfig", "AutoencoderColorizer", "autoencoder_spec", "spec_receptive_field"]

WEIGHTS_FILE = "model.weights.h5"

#: crops cut from an image each time it is visited by the data pipeline
_CROPS_PER_IMAGE = 16
#: pixels per forward pass when predicting a batch (bounds memory)
_PREDICT_PIXELS = 4 * 1024 * 1024


def _field(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True, kw_only=True)
class KerasAEConfig(TrainConfig):
    """Keys shared by ``autoencoder`` and ``vgg_autoencoder``."""

    input_size: int = _field(256, "side of the network's training input, px (crops are resized to it)")
    ab_scale: float = _field(128.0, "ab is predicted as tanh = ab / ab_scale")
    inference: Literal["native", "resize"] = _field(
        "native",
        "native: run at the image's own size (padded to the block size); "
        "resize: resize L to input_size, predict, upsample ab bilinearly",
    )
    learning_rate: float = _field(1e-3, "Adam learning rate")
    steps_per_epoch: int = _field(20, "batches per epoch")

    def validate(self) -> None:
        super().validate()
        if self.ab_scale <= 0:
            raise ConfigError(f"ab_scale must be > 0, got {self.ab_scale}")
        if not 0 < self.learning_rate < 1:
            raise ConfigError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        b = self.block_size()
        if self.input_size < b or self.input_size % b:
            raise ConfigError(
                f"input_size must be a positive multiple of the block size {b}, got {self.input_size}"
            )

    def block_size(self) -> int:
        """Total downsampling of the network."""
        return 1

    def arch_key(self) -> tuple:
        """The values that define the network's weights (these cannot change on resume)."""
        return ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class AutoencoderConfig(KerasAEConfig):
    """Config of the ``autoencoder`` method."""

    method: ClassVar[str] = "autoencoder"

    epochs: int = _field(10, "passes of steps_per_epoch batches")
    batch_size: int = _field(4, "crops per gradient step")
    crop_size: int = _field(256, "side of the random training crops at the image's own resolution, px")
    width: int = _field(16, "filters of the first level (doubled per level)")
    depth: int = _field(3, "number of stride-2 levels; block size is 2**depth")

    def validate(self) -> None:
        if not 1 <= self.depth <= 6:
            raise ConfigError(f"depth must be in 1..6, got {self.depth}")
        if not 1 <= self.width <= 256:
            raise ConfigError(f"width must be in 1..256, got {self.width}")
        super().validate()

    def block_size(self) -> int:
        return 2**self.depth

    def arch_key(self) -> tuple:
        return (self.width, self.depth)


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


class AutoencoderColorizer(Colorizer):
    """Plain convolutional encoder-decoder colorizer (see the module docstring)."""

    name: ClassVar[str] = "autoencoder"
    Config: ClassVar[type[AutoencoderConfig]] = AutoencoderConfig
    config: KerasAEConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._net: Any = None
        self._built_arch: tuple | None = None
        self._compiled_lr: float | None = None
        self.history: dict[str, list[float]] = {}

    # -- network -----------------------------------------------------------
    def _spec(self) -> list[tuple]:
        """Full layer spec from input to output (for the receptive field)."""
        return autoencoder_spec(self.config.width, self.config.depth)

    def _build_net(self, *, for_loading: bool = False) -> Any:
        """Build a fresh Keras network for the current config."""
        from ._autoencoder_keras import build_autoencoder

        return build_autoencoder(self._spec())

    def _ensure_net(self, *, for_loading: bool = False) -> Any:
        arch = self.config.arch_key()
        if self._net is not None:
            if arch != self._built_arch:
                raise ConfigError(
                    f"{self.name}: the network was built with {self._built_arch}, the config now asks for {arch}; "
                    "architecture keys cannot change on an existing model (train a new one)"
                )
            return self._net
        import keras

        from .keras_utils import distribution_scope

        keras.utils.set_random_seed(int(self.config.seed))
        with distribution_scope(self.config.distribute):
            self._net = self._build_net(for_loading=for_loading)
        self._built_arch = arch
        return self._net

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
        from ..data import as_sources, make_dataset

        steps = int(kwargs.pop("steps_per_epoch", self.config.steps_per_epoch))
        if kwargs:
            raise ConfigError(f"{self.name}.fit: unknown options {', '.join(sorted(kwargs))}")
        data = as_sources(data)
        cfg = self.config
        n_epochs = int(cfg.epochs if epochs is None else epochs)
        if n_epochs < 1 or steps < 1:
            raise ConfigError(f"epochs and steps_per_epoch must be >= 1, got {n_epochs} and {steps}")
        net = self._ensure_net()

        import keras
        import tensorflow as tf

        fits = int(self.info.get("fits", 0))
        train_ds, val_ds = make_dataset(
            data,
            crop_size=cfg.crop_size,
            batch_size=cfg.batch_size,
            val_split=cfg.val_split,
            crops_per_image=max(_CROPS_PER_IMAGE, cfg.batch_size),
            resize=cfg.input_size if cfg.input_size != cfg.crop_size else None,
            flip=True,
            seed=cfg.seed + 7919 * fits,
            repeat=True,
        )
        scale = float(cfg.ab_scale)

        def norm(L: Any, ab: Any) -> tuple[Any, Any]:
            return L, tf.clip_by_value(ab / scale, -1.0, 1.0)

        train_ds = train_ds.map(norm)
        val_steps = None
        if val_ds is not None:
            val_ds = val_ds.map(norm)
            val_steps = max(1, int(round(steps * cfg.val_split)))
        if self._compiled_lr != cfg.learning_rate:
            from .keras_utils import distribution_scope

            with distribution_scope(cfg.distribute):
                net.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse")
            self._compiled_lr = cfg.learning_rate
        from .keras_utils import restore_optimizer_state

        restore_optimizer_state(net, self._take_optimizer_state(), cfg.distribute)
        hist = net.fit(
            train_ds,
            epochs=n_epochs,
            steps_per_epoch=steps,
            validation_data=val_ds,
            validation_steps=val_steps,
            callbacks=list(callbacks or []),
            shuffle=False,  # the dataset shuffles its crops itself
            verbose=0,
        )
        history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        done = len(history.get("loss", []))
        self.trained = self.trained or done > 0
        self.info["fits"] = fits + 1
        self.info["epochs_trained"] = int(self.info.get("epochs_trained", 0)) + done
        self.info["samples_seen"] = int(self.info.get("samples_seen", 0)) + done * steps * cfg.batch_size
        self.history = history
        return history

    # -- prediction --------------------------------------------------------
    def predict_ab(self, L: np.ndarray) -> np.ndarray:
        """Predict ab (H, W, 2) float32 in Lab units from L (H, W) in 0..100."""
        L = check_L(L)
        return self.predict_ab_batch(L[None])[0]

    def predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        """Predict a batch: L (N, H, W) in 0..100 to ab (N, H, W, 2) float32, Lab units."""
        L = check_L(L, ndim=3)
        net = self._ensure_net()
        if self.config.inference == "native":
            out = self._predict_native(net, L)
        else:
            out = self._predict_resize(net, L)
        return (out * np.float32(self.config.ab_scale)).astype(np.float32)

    def _run(self, net: Any, x: np.ndarray) -> np.ndarray:
        """Forward (N, h, w) L in chunks bounded by ``_PREDICT_PIXELS``."""
        n, h, w = x.shape
        chunk = max(1, _PREDICT_PIXELS // (h * w))
        forward = self._forward(net)
        outs = []
        for i in range(0, n, chunk):
            xi = np.ascontiguousarray(x[i : i + chunk, ..., None], dtype=np.float32)
            outs.append(np.asarray(forward(xi), dtype=np.float32))
        return np.concatenate(outs, axis=0)

    def _forward(self, net: Any) -> Any:
        """``net(x, training=False)`` as one compiled graph for any batch and size (built once per net)."""
        cached = getattr(self, "_forward_fn", None)
        if cached is None or cached[0] is not net:
            import tensorflow as tf

            from .keras_utils import quiet_per_model_retracing

            quiet_per_model_retracing()

            fn = tf.function(
                lambda x: net(x, training=False),
                reduce_retracing=True,
                input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)],
            )
            self._forward_fn = cached = (net, fn)
        return cached[1]

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
        import tensorflow as tf

        s = int(self.config.input_size)
        n, h, w = L.shape
        small = tf.image.resize(L[..., None], (s, s), method="bilinear", antialias=True).numpy()[..., 0]
        y = self._run(net, np.clip(small, 0, 100).astype(np.float32))
        if (h, w) != (s, s):
            y = tf.image.resize(y, (h, w), method="bilinear").numpy()
        return y.astype(np.float32)

    # -- model folders -----------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        self._ensure_net().save_weights(str(Path(folder) / WEIGHTS_FILE))

    def _trainable_net(self) -> Any:
        return self._net

    def _load_weights(self, folder: Path) -> None:
        f = Path(folder) / WEIGHTS_FILE
        if not f.is_file():
            raise ModelFolderError(f"{folder} has no {WEIGHTS_FILE}")
        net = self._ensure_net(for_loading=True)
        net.load_weights(str(f))
        self._compiled_lr = None

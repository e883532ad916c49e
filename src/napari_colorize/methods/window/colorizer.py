"""Method ``window``: a palette classifier on a zeta x zeta window of gray values.

After the image-colorizer project: the color of a pixel is predicted from the
gray values of the ``window`` x ``window`` neighbourhood around it, as a
classification over a small palette of representative colors.

- **Palette.**  ``n_colors`` colors by k-means over the **ab** (chroma) of the
  training images, not over RGB as the original did.  The input's own L is
  kept in the output, so lightness is already known: clustering RGB spends
  palette entries on light and dark versions of one hue, which then decode to
  the same chroma.  Clustering only ab spends every entry on a distinct
  chroma, and the palette mean/mode is directly an ab prediction.
- **Model.**  A softmax over the palette from either an MLP (``arch="mlp"``:
  Dense 200 sigmoid -> 100 sigmoid -> 50 relu -> softmax, as the original) or a
  small CNN (``arch="cnn"``: 3x3 'valid' convolutions -> Dense -> softmax).
  Targets are the nearest palette entry, optionally soft-encoded over nearby
  entries (``soft_sigma``, after Zhang et al. 2016).
- **Decoding.**  ``decode="mode"`` takes the most likely palette color,
  ``decode="mean"`` the probability-weighted mean (optionally annealed by
  ``temperature``).
- **Training samples** are random windows streamed from the images by a
  numpy generator into ``keras.Model.fit`` (``samples_per_epoch`` per
  epoch); at most a few images and one chunk of windows are ever in memory.
- **Inference is fully convolutional.**  The trained window network is turned
  into an equivalent convolutional network over the whole (reflect-padded)
  image: a Dense layer on a flattened k x k window is a Conv2D with a k x k
  kernel and 'valid' padding, and later Dense layers are 1x1 convolutions.
  Tiling is exact with a halo of ``window // 2`` px.

Importing this module does not import Keras; the Keras code lives in
:mod:`.network`, imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...data import as_sources, split_sources
from ...errors import ConfigError, ModelFolderError
from ..keras_colorizer import KerasColorizer
from .config import WindowConfig
from .windows import fit_palette

__all__ = ["WindowColorizer"]


class WindowColorizer(KerasColorizer):
    """Palette classifier on a ``window`` x ``window`` gray window (see module docs)."""

    name = "window"
    Config = WindowConfig
    structural_fields = ("window", "n_colors", "arch", "mlp_units", "cnn_filters", "cnn_units")
    config: WindowConfig

    def __init__(self, config: WindowConfig | dict[str, Any] | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.palette: np.ndarray | None = None
        self._predict: Any = None  # cached fully convolutional predictor
        self._predict_key: tuple[Any, ...] | None = None

    # -- tiling ------------------------------------------------------------
    @property
    def receptive_field(self) -> int:
        # the cnn's 3x3 convs are 'valid' inside the window: no extra reach
        return self.config.window // 2

    @property
    def block_size(self) -> int:
        return 1

    @property
    def default_tile(self) -> int:
        return 1024

    @property
    def default_overlap(self) -> int:
        return self.config.window // 2

    # -- building ------------------------------------------------------------
    def _build_net(self, *, for_loading: bool = False) -> Any:
        from . import network as wk

        return wk.build_window_model(self.config)

    def _reset_inference(self) -> None:
        self._predict = None

    def window_model(self) -> Any:
        """The per-window Keras model: (B, window, window, 1) normalised L -> (B, n_colors) probabilities."""
        if self._net is None:
            raise ConfigError("the window model is not built yet: fit or load it first")
        return self._net

    # -- training ------------------------------------------------------------
    def fit(
        self,
        data: Any,
        *,
        epochs: int | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: int = 0,
        **kwargs: Any,
    ) -> dict[str, list[float]]:
        """Learn the palette (first time only) and train the window network.

        Calling ``fit`` again (``resume``) keeps the palette and continues from
        the current weights.
        """
        if kwargs:
            raise ConfigError(f"unknown fit options {sorted(kwargs)} for method 'window'")
        from . import network as wk

        cfg = self.config
        sources = as_sources(data)
        train_src, val_src = split_sources(sources, cfg.val_split, seed=cfg.seed)
        n_epochs = int(epochs if epochs is not None else cfg.epochs)
        if n_epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {n_epochs}")
        if self.palette is None:
            self.palette = fit_palette(
                train_src, n_colors=cfg.n_colors, samples=cfg.palette_samples, seed=cfg.seed
            )
        elif self.palette.shape != (cfg.n_colors, 2):
            raise ConfigError(f"palette has {len(self.palette)} colors but n_colors is {cfg.n_colors}")
        net = self._ensure_net()
        train, val, steps, val_steps = wk.window_streams(
            self.palette, train_src, val_src, cfg, seed=self._fit_seed()
        )
        self._compile(net, loss=wk.loss(), metrics=wk.metrics(), key="window")
        history = self._fit_net(
            net,
            train,
            epochs=n_epochs,
            steps_per_epoch=steps,
            validation=val,
            validation_steps=val_steps,
            callbacks=callbacks,
            verbose=verbose,
        )
        self.info["palette_space"] = "Lab ab"
        return history

    # -- inference -----------------------------------------------------------
    def _predictor(self) -> Any:
        from . import network as wk

        if self._net is None or self.palette is None:
            raise ConfigError("this window model is untrained: fit it (or load a trained model folder) first")
        net = self._inference_net()  # built again if the precision changed; bfloat16 copy for "bfloat16"
        key = (self.config.decode, self.config.temperature, id(net))
        if self._predict is None or self._predict_key != key:  # decoding options may change after training
            with self._precision_scope():
                self._predict = wk.ConvPredictor(net, self.palette, self.config)
            self._predict_key = key
        return self._predict

    def _predict_ab(self, L: np.ndarray, *, hints: Any = None) -> np.ndarray:
        return self._predict_ab_batch(L[None])[0]

    def _predict_ab_batch(self, L: np.ndarray) -> np.ndarray:
        return self._predictor()(L)

    # -- model folders -------------------------------------------------------
    def _save_weights(self, folder: Path) -> None:
        if self._net is None or self.palette is None:
            raise ModelFolderError("cannot save an untrained window model: fit it first")
        np.save(folder / "palette.npy", self.palette)
        self._net.save_weights(str(folder / "window.weights.h5"))

    def _load_weights(self, folder: Path) -> None:
        pal = folder / "palette.npy"
        wts = folder / "window.weights.h5"
        if not pal.is_file() or not wts.is_file():
            raise ModelFolderError(f"{folder} lacks palette.npy or window.weights.h5")
        palette = np.load(pal, allow_pickle=False).astype(np.float32)
        if palette.shape != (self.config.n_colors, 2) or not np.all(np.isfinite(palette)):
            raise ModelFolderError(
                f"{pal} does not hold {self.config.n_colors} finite ab colors (shape {palette.shape})"
            )
        self.palette = palette
        self._ensure_net(for_loading=True).load_weights(str(wts))
        self._reset_inference()

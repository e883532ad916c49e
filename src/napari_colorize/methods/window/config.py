"""The config of ``window`` (no Keras)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ...config import TrainConfig
from ...errors import ConfigError

__all__ = ["WindowConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class WindowConfig(TrainConfig):
    """Config of the ``window`` method."""

    method = "window"

    window: int = dataclasses.field(
        default=11, metadata={"help": "side (zeta) of the gray window around a pixel, px (odd)"}
    )
    n_colors: int = dataclasses.field(
        default=32, metadata={"help": "palette size (k-means over the training ab)"}
    )
    arch: Literal["mlp", "cnn"] = dataclasses.field(
        default="cnn", metadata={"help": "window network: mlp or cnn"}
    )
    decode: Literal["mode", "mean"] = dataclasses.field(
        default="mean",
        metadata={"help": "predicted color: most likely palette entry, or probability-weighted mean"},
    )
    temperature: float = dataclasses.field(
        default=1.0,
        metadata={"help": "decode=mean: sharpen (<1) the probabilities before averaging (annealed mean)"},
    )
    samples_per_epoch: int = dataclasses.field(
        default=32768, metadata={"help": "random windows drawn per epoch"}
    )
    mlp_units: tuple[int, ...] = dataclasses.field(
        default=(200, 100, 50), metadata={"help": "mlp hidden layers (sigmoid, ..., relu last)"}
    )
    cnn_filters: tuple[int, ...] = dataclasses.field(
        default=(16, 32), metadata={"help": "cnn 3x3 'valid' conv filters"}
    )
    cnn_units: tuple[int, ...] = dataclasses.field(
        default=(64,), metadata={"help": "cnn dense layers after the convs (relu)"}
    )
    soft_sigma: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "soft targets: Gaussian over the 5 nearest palette colors, "
            "sigma in ab units (0 = one-hot)"
        },
    )
    learning_rate: float = dataclasses.field(default=2e-3, metadata={"help": "Adam learning rate"})
    flip: bool = dataclasses.field(
        default=True, metadata={"help": "random horizontal flips of the training windows"}
    )
    palette_samples: int = dataclasses.field(
        default=50000, metadata={"help": "ab pixels sampled for the k-means palette"}
    )
    epochs: int = dataclasses.field(default=8, metadata={"help": "passes of samples_per_epoch windows"})
    batch_size: int = dataclasses.field(default=256, metadata={"help": "windows per gradient step"})
    crop_size: int = dataclasses.field(
        default=128, metadata={"help": "unused by window (it samples windows, not crops)"}
    )
    val_split: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "fraction of images held out (one image: val_split x samples_per_epoch other windows)"
        },
    )

    def validate(self) -> None:
        super().validate()
        if self.window < 1 or self.window % 2 == 0 or self.window > 63:
            raise ConfigError(f"window must be odd and in 1..63, got {self.window}")
        if not 2 <= self.n_colors <= 512:
            raise ConfigError(f"n_colors must be in 2..512, got {self.n_colors}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if self.samples_per_epoch < 1:
            raise ConfigError(f"samples_per_epoch must be >= 1, got {self.samples_per_epoch}")
        if not self.mlp_units or min(self.mlp_units) < 1:
            raise ConfigError(f"mlp_units must be positive layer widths, got {self.mlp_units}")
        if min(self.cnn_filters, default=1) < 1 or not self.cnn_units or min(self.cnn_units) < 1:
            raise ConfigError(
                f"cnn_filters/cnn_units must be positive, got {self.cnn_filters}/{self.cnn_units}"
            )
        if self.arch == "cnn" and self.window - 2 * len(self.cnn_filters) < 1:
            raise ConfigError(
                f"window {self.window} is too small for {len(self.cnn_filters)} 3x3 'valid' convs; "
                f"use window >= {2 * len(self.cnn_filters) + 1} or fewer cnn_filters"
            )
        if self.soft_sigma < 0:
            raise ConfigError(f"soft_sigma must be >= 0, got {self.soft_sigma}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.palette_samples < self.n_colors:
            raise ConfigError(
                f"palette_samples ({self.palette_samples}) must be >= n_colors ({self.n_colors})"
            )

"""The config of ``eccv16`` and its block names (no Keras)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ...config import CropTrainConfig
from ...errors import ConfigError

__all__ = ["BLOCK_NAMES", "ECCV16Config"]

#: block names for ``trainable_from`` (kept in sync with ``network.BLOCK_NAMES``
#: without importing Keras)
BLOCK_NAMES: tuple[str, ...] = (
    "conv1",
    "conv2",
    "conv3",
    "conv4",
    "conv5",
    "conv6",
    "conv7",
    "conv8",
    "conv8_313",
)
#: total downsampling of the network
_BLOCK_SIZE = 8


@dataclasses.dataclass(frozen=True, kw_only=True)
class ECCV16Config(CropTrainConfig):
    """Config of the ``eccv16`` method."""

    method = "eccv16"
    block_names = BLOCK_NAMES
    block_size = _BLOCK_SIZE

    width: float = dataclasses.field(
        default=1.0,
        metadata={"help": "channel multiplier (1.0 = the paper's 32 M parameters; 0.25 trains on a CPU)"},
    )
    input_size: int = dataclasses.field(
        default=256, metadata={"help": "side of the network input in 'resize' inference, px (multiple of 8)"}
    )
    inference: Literal["resize", "native"] = dataclasses.field(
        default="resize",
        metadata={
            "help": "'resize': L resized to input_size, ab upsampled back (as the authors); "
            "'native': fully convolutional at full resolution"
        },
    )
    T: float = dataclasses.field(
        default=0.38, metadata={"help": "annealed-mean temperature (->0: mode, 1: mean)"}
    )
    rebalance: bool = dataclasses.field(
        default=True,
        metadata={
            "help": "class-rebalancing weights in the loss (vivid colors; off: more accurate on little data)"
        },
    )
    k: int = dataclasses.field(default=5, metadata={"help": "soft-encoding: number of nearest bins"})
    sigma: float = dataclasses.field(
        default=5.0, metadata={"help": "soft-encoding and prior smoothing Gaussian sigma, ab units"}
    )
    lam: float = dataclasses.field(
        default=0.5, metadata={"help": "rebalancing: weight of the uniform distribution mixed into the prior"}
    )
    ab_scale: float = dataclasses.field(
        default=110.0, metadata={"help": "ab normalisation (the decoding layer holds bin centres / ab_scale)"}
    )
    grid: int = dataclasses.field(default=10, metadata={"help": "ab bin size of a new model, Lab units"})
    trainable_from: str | None = dataclasses.field(
        default=None,
        metadata={"help": f"train only this block and those above it ({', '.join(BLOCK_NAMES)}); empty: all"},
    )
    learning_rate: float = dataclasses.field(
        default=1e-3,
        metadata={"help": "Adam learning rate (the paper: 3e-5 on ImageNet; use ~1e-4 to fine-tune)"},
    )

    def validate(self) -> None:
        super().validate()
        if not 0 < self.width <= 4:
            raise ConfigError(f"width must be in (0, 4], got {self.width}")
        if self.input_size < 16 or self.input_size % _BLOCK_SIZE:
            raise ConfigError(
                f"input_size must be a multiple of {_BLOCK_SIZE} and >= 16, got {self.input_size}"
            )
        if self.T <= 0:
            raise ConfigError(f"T must be positive, got {self.T}")
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}")
        if self.sigma <= 0:
            raise ConfigError(f"sigma must be positive, got {self.sigma}")
        if not 0 <= self.lam <= 1:
            raise ConfigError(f"lam must be in [0, 1], got {self.lam}")
        if self.ab_scale <= 0:
            raise ConfigError(f"ab_scale must be positive, got {self.ab_scale}")
        if self.grid < 1:
            raise ConfigError(f"grid must be >= 1, got {self.grid}")

"""The configs of ``autoencoder`` (and their base, shared with ``vgg_autoencoder``); no Keras."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from ...config import TrainConfig
from ...errors import ConfigError

__all__ = ["KerasAEConfig", "AutoencoderConfig"]


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

"""The config of ``ddcolor`` and its block names (no Keras)."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from ...config import CropTrainConfig
from ...errors import ConfigError

__all__ = ["BLOCK_NAMES", "DDColorConfig"]

#: block names for ``trainable_from`` (kept in sync with ``network.BLOCK_NAMES`` without Keras)
BLOCK_NAMES: tuple[str, ...] = ("encoder", "pixel_decoder", "color_decoder", "refine")
#: total downsampling of the network
_BLOCK_SIZE = 32


@dataclasses.dataclass(frozen=True, kw_only=True)
class DDColorConfig(CropTrainConfig):
    """Config of the ``ddcolor`` method."""

    method = "ddcolor"
    block_names = BLOCK_NAMES
    block_size = _BLOCK_SIZE

    encoder: Literal["tiny", "large"] = dataclasses.field(
        default="tiny",
        metadata={"help": "ConvNeXt encoder: tiny (3-3-9-3, 96..768) or large (3-3-27-3, 192..1536)"},
    )
    num_queries: int = dataclasses.field(
        default=100, metadata={"help": "color queries of the color decoder (the released models: 100)"}
    )
    dec_layers: int = dataclasses.field(
        default=9, metadata={"help": "layers of the color decoder (the released models: 9)"}
    )
    input_size: int = dataclasses.field(
        default=512,
        metadata={"help": "side of the network input, px (multiple of 32; the released models: 512)"},
    )
    saturation: float = dataclasses.field(
        default=1.0, metadata={"help": "user multiplier of the predicted chroma (1: as predicted)"}
    )
    colorfulness_weight: float = dataclasses.field(
        default=0.5,
        metadata={"help": "training: weight of the colorfulness term added to L1 on ab (0: L1 alone)"},
    )
    crop_size: int = dataclasses.field(
        default=256, metadata={"help": "side of the random training crops, px (multiple of 32)"}
    )
    batch_size: int = dataclasses.field(default=4, metadata={"help": "samples per gradient step"})
    learning_rate: float = dataclasses.field(
        default=1e-5,
        metadata={"help": "Adam learning rate (the authors: 1e-4 from scratch; lower to fine-tune)"},
    )
    trainable_from: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": f"train only this block and those above it ({', '.join(BLOCK_NAMES)}); "
            "pixel_decoder freezes the encoder; empty: all"
        },
    )

    def validate(self) -> None:
        super().validate()
        if self.input_size < _BLOCK_SIZE or self.input_size % _BLOCK_SIZE:
            raise ConfigError(
                f"input_size must be a positive multiple of {_BLOCK_SIZE}, got {self.input_size}"
            )
        if self.input_size > 2048:
            raise ConfigError(f"input_size must be at most 2048, got {self.input_size}")
        if not 1 <= self.num_queries <= 1024:
            raise ConfigError(f"num_queries must be in 1..1024, got {self.num_queries}")
        if not 1 <= self.dec_layers <= 64:
            raise ConfigError(f"dec_layers must be in 1..64, got {self.dec_layers}")
        for name in ("saturation", "colorfulness_weight"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be >= 0, got {v}")

"""The config of ``lookup``."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ...config import Config
from ...errors import ConfigError

__all__ = ["LookupConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LookupConfig(Config):
    """Config of the ``lookup`` method."""

    method = "lookup"

    n_levels: int = dataclasses.field(default=101, metadata={"help": "number of L levels over 0..100"})
    policy: Literal["mean", "median", "mode"] = dataclasses.field(
        default="mean", metadata={"help": "color of a level: mean, median or mode of its reference ab"}
    )
    texture: bool = dataclasses.field(
        default=False, metadata={"help": "split levels by local std of L (Welsh et al.)"}
    )
    texture_window: int = dataclasses.field(default=5, metadata={"help": "window of the local std, px (odd)"})
    texture_bins: int = dataclasses.field(default=4, metadata={"help": "quantile bins of the local std"})
    crop: tuple[int, ...] | None = dataclasses.field(
        default=None, metadata={"help": "learn only from this box of each reference: y0, x0, y1, x1"}
    )

    def validate(self) -> None:
        if not 2 <= self.n_levels <= 1001:
            raise ConfigError(f"n_levels must be in 2..1001, got {self.n_levels}")
        if self.texture_window < 3 or self.texture_window % 2 == 0:
            raise ConfigError(f"texture_window must be odd and >= 3, got {self.texture_window}")
        if not 1 <= self.texture_bins <= 16:
            raise ConfigError(f"texture_bins must be in 1..16, got {self.texture_bins}")
        if self.crop is not None:
            if len(self.crop) != 4:
                raise ConfigError(f"crop must be (y0, x0, y1, x1), got {self.crop}")
            y0, x0, y1, x1 = self.crop
            if y1 <= y0 or x1 <= x0 or min(y0, x0) < 0:
                raise ConfigError(f"crop box {self.crop} is empty or negative")

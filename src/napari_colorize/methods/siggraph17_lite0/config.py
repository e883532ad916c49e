"""The config of ``siggraph17_lite0`` and its block names (no Keras)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...errors import ConfigError
from ..siggraph17.config import SIGGRAPH17Config

__all__ = ["BLOCK_NAMES", "SIGGRAPH17Lite0Config"]

#: parts of the network, bottom to top (``network.BLOCK_NAMES``, without importing Keras)
BLOCK_NAMES: tuple[str, ...] = (
    ("enc_stem",) + tuple(f"enc_stage{i}" for i in range(1, 8)) + ("decoder", "heads")
)
#: total downsampling of the network
_BLOCK_SIZE = 32


@dataclasses.dataclass(frozen=True, kw_only=True)
class SIGGRAPH17Lite0Config(SIGGRAPH17Config):
    """Config of the ``siggraph17_lite0`` method (``siggraph17``'s fields; ``width`` is unused)."""

    method = "siggraph17_lite0"
    block_names = BLOCK_NAMES
    block_size = _BLOCK_SIZE

    crop_size: int = dataclasses.field(default=192, metadata={"help": "side of the random training crops"})
    batch_size: int = dataclasses.field(default=12, metadata={"help": "crops per gradient step"})
    crops_per_image: int = dataclasses.field(
        default=16, metadata={"help": "crops cut from each image once per fit (their features are cached)"}
    )
    class_weight: float = dataclasses.field(
        default=1.0, metadata={"help": "weight of the cross-entropy of the ab classes"}
    )
    regression_weight: float = dataclasses.field(
        default=0.01, metadata={"help": "weight of the regression head's smooth-L1 loss (Lab units)"}
    )
    decode: str = dataclasses.field(
        default="annealed_mean",
        metadata={"help": "automatic ab from the class head's annealed mean or the regression head"},
    )
    decode_T: float = dataclasses.field(
        default=1.0, metadata={"help": "temperature of the annealed mean (decode='annealed_mean')"}
    )
    trainable_from: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": f"train this part and those above it ({', '.join(BLOCK_NAMES)}); empty: the decoder "
            "and heads, the ImageNet encoder frozen"
        },
    )

    def validate(self) -> None:
        super().validate()
        if not (np.isfinite(self.regression_weight) and self.regression_weight >= 0):
            raise ConfigError(f"regression_weight must be >= 0, got {self.regression_weight}")
        if self.class_weight == 0 and self.regression_weight == 0:
            raise ConfigError("class_weight and regression_weight cannot both be 0")

"""The config of ``siggraph17`` (and its class grid and block names), without Keras.

The network's facts that the config and the tiling need (block names, downsampling,
receptive field, the authors' ab normalisation and class grid) are kept here, in sync with
:mod:`.network` (checked by a test), so that reading the config never imports Keras.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ...config import CropTrainConfig
from ...errors import ConfigError

__all__ = ["BLOCK_NAMES", "SIGGRAPH17Config", "class_bins"]

#: block names for ``trainable_from`` (kept in sync with ``network.BLOCK_NAMES``
#: without importing Keras)
BLOCK_NAMES: tuple[str, ...] = tuple(f"model{i}" for i in range(1, 11)) + ("heads",)
#: total downsampling of the network
_BLOCK_SIZE = 8
#: full receptive field in px (``network.receptive_field()``; checked by a test)
_RECEPTIVE_FIELD = 361
#: the authors' ab normalisation
_AB_SCALE = 110.0
#: the authors' class grid: 23 x 23 ab values of step 10 over -110..110
_CLASS_GRID = (110.0, 10.0)

#: where the automatic ab comes from (config ``decode``)
_DECODERS = ("regression", "annealed_mean")


def class_bins() -> np.ndarray:
    """The authors' 529 ab classes (23x23 grid, step 10, -110..110), (529, 2) float32.

    Ordered as the authors' ``encode_ab_ind``: index = 23 * a_index + b_index.
    """
    ab_max, step = _CLASS_GRID
    v = np.arange(-ab_max, ab_max + step / 2, step, dtype=np.float32)
    a, b = np.meshgrid(v, v, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SIGGRAPH17Config(CropTrainConfig):
    """Config of the ``siggraph17`` method."""

    method = "siggraph17"
    block_names = BLOCK_NAMES
    block_size = _BLOCK_SIZE

    width: float = dataclasses.field(
        default=0.5,
        metadata={"help": "channel multiplier (1.0 = the paper's 34.2 M parameters; 0.5: 8.6 M)"},
    )
    mask_center: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "subtracted from the hint mask (0: the released weights; 0.5: colorization-pytorch)"
        },
    )
    p_none: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "training: extra share of crops without hints (the geometric count gives 1/8 anyway)"
        },
    )
    p_stop: float = dataclasses.field(
        default=0.125,
        metadata={"help": "training: geometric parameter of the number of hints (mean (1-p)/p)"},
    )
    p_uniform: float = dataclasses.field(
        default=0.5,
        metadata={
            "help": "training: share of crops whose hints are uniform (else Gaussian around the centre)"
        },
    )
    max_patch: int = dataclasses.field(
        default=9, metadata={"help": "training: hint patches are 1..max_patch px square"}
    )
    class_weight: float = dataclasses.field(
        default=0.0, metadata={"help": "weight of the 529-class cross-entropy (0: regression only)"}
    )
    T: float = dataclasses.field(
        default=1.0,
        metadata={"help": "temperature of the class head's softmax whose entropy gives the confidence"},
    )
    decode: str = dataclasses.field(
        default="regression",
        metadata={
            "help": "automatic ab from the regression head ('regression', the authors') or the class "
            "head's annealed mean ('annealed_mean', at decode_T)"
        },
    )
    decode_T: float = dataclasses.field(
        default=0.38, metadata={"help": "temperature of the annealed mean (decode='annealed_mean')"}
    )
    shrink: float = dataclasses.field(
        default=0.0,
        metadata={
            "help": "chroma is scaled by confidence ** shrink (0: no shrinking; larger: greyer where unsure)"
        },
    )
    hint_radius: float = dataclasses.field(
        default=16.0,
        metadata={
            "help": "px: the network's answer to hints is used within about this distance of them "
            "(weight exp(-d**2 / (2 * hint_radius**2))), and the confidence is at least that weight "
            "(a hint is the user's certainty; 0: everywhere)"
        },
    )
    fuse_weight: float = dataclasses.field(
        default=20.0,
        metadata={
            "help": "with hints, also spread each hint's remaining error along L's edges, with this "
            "pull towards the network over a whole plane, divided by the number of hints (as "
            "propagate's data_weight; larger: more local); 0: off, the network alone, which may "
            "not honour a hint"
        },
    )
    saturation: float = dataclasses.field(
        default=1.0, metadata={"help": "user multiplier of the predicted chroma (1: as predicted)"}
    )
    trainable_from: str | None = dataclasses.field(
        default=None,
        metadata={"help": f"train only this block and those above it ({', '.join(BLOCK_NAMES)}); empty: all"},
    )
    learning_rate: float = dataclasses.field(
        default=1e-3, metadata={"help": "Adam learning rate (the authors: 1e-5 when fine-tuning)"}
    )

    def validate(self) -> None:
        super().validate()
        if not 0 < self.width <= 4:
            raise ConfigError(f"width must be in (0, 4], got {self.width}")
        if not math.isfinite(self.mask_center) or abs(self.mask_center) > 1:
            raise ConfigError(f"mask_center must be in [-1, 1], got {self.mask_center}")
        for name in ("p_none", "p_uniform"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if not 0.0 < self.p_stop <= 1.0:
            raise ConfigError(f"p_stop must be in (0, 1], got {self.p_stop}")
        if not 1 <= self.max_patch <= self.crop_size:
            raise ConfigError(f"max_patch must be in 1..crop_size, got {self.max_patch}")
        for name in ("T", "decode_T"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be positive, got {v}")
        if self.decode not in _DECODERS:
            raise ConfigError(f"decode must be one of {', '.join(_DECODERS)}, got {self.decode!r}")
        for name in ("shrink", "saturation", "hint_radius", "fuse_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be >= 0, got {v}")
        if self.class_weight < 0:
            raise ConfigError(f"class_weight must be >= 0, got {self.class_weight}")


# -- hints -------------------------------------------------------------------

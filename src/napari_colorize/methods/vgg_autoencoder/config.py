"""The config of ``vgg_autoencoder`` (no Keras)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from ...errors import ConfigError
from ..autoencoder.config import KerasAEConfig, _field

__all__ = ["VGGAutoencoderConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class VGGAutoencoderConfig(KerasAEConfig):
    """Config of the ``vgg_autoencoder`` method."""

    method: ClassVar[str] = "vgg_autoencoder"

    epochs: int = _field(8, "passes of steps_per_epoch batches")
    batch_size: int = _field(2, "crops per gradient step")
    steps_per_epoch: int = _field(12, "batches per epoch")
    crop_size: int = _field(
        256, "side of the random training crops at the image's own resolution, px (resized to input_size)"
    )
    input_size: int = _field(
        224, "side of the network input, px (a multiple of 32; 224 gives VGG16's 7x7x512)"
    )
    learning_rate: float = _field(1e-3, "Adam learning rate (use about 1e-4 with freeze_encoder=False)")
    inference: Literal["native", "resize"] = _field(
        "resize",
        "resize: resize L to input_size, predict, upsample ab bilinearly; "
        "native: run at the image's own size (padded to a multiple of 32)",
    )
    encoder_weights: str = _field(
        "none", "'none' (random) or the path of a local Keras VGG16 weights file (.h5)"
    )
    freeze_encoder: bool = _field(
        True, "keep the VGG16 encoder's weights fixed and train the decoder only (as the original did)"
    )

    def validate(self) -> None:
        super().validate()
        w = self.encoder_weights.strip()
        if not w:
            raise ConfigError("encoder_weights must be 'none' or the path of a local VGG16 weights file")
        if w.lower() == "imagenet":
            raise ConfigError(
                "encoder_weights='imagenet' would need a download, which napari-colorize never does; "
                "give the path of a local Keras VGG16 weights file "
                "(e.g. vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5) instead"
            )

    def block_size(self) -> int:
        return 32

    def has_encoder_weights(self) -> bool:
        return self.encoder_weights.strip().lower() != "none"

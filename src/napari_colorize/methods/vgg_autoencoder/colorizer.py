"""Method ``vgg_autoencoder``: a VGG16 encoder with a Conv + UpSampling2D decoder.

After the Reverse-Oldification project: the lightness L, stacked three
times, goes through ``keras.applications.VGG16(include_top=False)`` up to
its 7x7x512 output for a 224x224 input (``block5_pool``); a decoder of 3x3
convolutions and x2 upsamplings (bilinear ``UpSampling2D``) returns to
224x224; ReLU throughout and a ``tanh`` output for ``ab / ab_scale``
(``ab_scale`` 128).  The decoder is the project's:
Conv 256, Conv 128, Up, Conv 64, Up, Conv 32, Up, Conv 16, Up, Conv 2
(tanh), Up.

Encoder weights (``encoder_weights``)
    ``"none"``: random weights, input ``(L - 50) / 100`` stacked 3x.  A
    path: a local Keras VGG16 weights file (for example the ImageNet
    ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``, or a
    ``*.weights.h5`` saved by ``VGG16(include_top=False).save_weights``),
    loaded with ``load_weights`` when the network is first built; then the
    stacked L is scaled to 0..255 and passed through
    ``keras.applications.vgg16.preprocess_input``.  Nothing is ever
    downloaded.  A saved model folder holds all weights, so the file is not
    needed to load it later.

``freeze_encoder`` (default True) keeps the encoder's weights fixed and
trains the decoder only, as the original did (it ran VGG16 once as a
feature extractor and trained the decoder on its features).  It is also
about 3x cheaper per step: VGG16 is heavy on a CPU (about 15 GMAC per
224x224 forward pass, 14.7 M parameters), and a few hundred crops cannot
train it from scratch anyway.  Set it to False to fine-tune the encoder
(with ImageNet weights and more data/time).

The defaults train briefly: 8 epochs of 12 batches of 2 crops (192
samples of 224 px) with a frozen encoder: about 0.95 CPU-seconds per
sample, so about 3.5 CPU-minutes in all (under 3 minutes on 2 cores).  Default inference is
``resize`` (the whole image at 224x224, ab upsampled), as in the original;
``native`` runs VGG16 fully convolutionally at the image's own size
(padded to a multiple of 32).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ..autoencoder.colorizer import AutoencoderColorizer
from .config import VGGAutoencoderConfig

__all__ = ["VGGAutoencoderColorizer", "VGG16_SPEC", "vgg_decoder_spec"]

#: VGG16 (include_top=False) as a layer spec, for the receptive field only
VGG16_SPEC: list[tuple] = []
for _filters, _n in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
    VGG16_SPEC += [("conv", _filters, 3, 1, "relu")] * _n + [("pool", 2)]


def vgg_decoder_spec() -> list[tuple]:
    """The Reverse-Oldification decoder: 7x7x512 -> 224x224x2 for a 224 input."""
    return [
        ("conv", 256, 3, 1, "relu"),
        ("conv", 128, 3, 1, "relu"),
        ("up", 2),
        ("conv", 64, 3, 1, "relu"),
        ("up", 2),
        ("conv", 32, 3, 1, "relu"),
        ("up", 2),
        ("conv", 16, 3, 1, "relu"),
        ("up", 2),
        ("conv", 2, 3, 1, "tanh"),
        ("up", 2),
    ]


class VGGAutoencoderColorizer(AutoencoderColorizer):
    """VGG16-encoder autoencoder colorizer (see the module docstring).

    Shares training, prediction, tiling properties and model folders with
    :class:`~napari_colorize.methods.autoencoder.AutoencoderColorizer`;
    only the network differs (``freeze_encoder`` is applied when compiling).
    """

    name: ClassVar[str] = "vgg_autoencoder"
    Config: ClassVar[type[VGGAutoencoderConfig]] = VGGAutoencoderConfig
    structural_fields: ClassVar[tuple[str, ...]] = ("encoder_weights",)
    config: VGGAutoencoderConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._encoder: Any = None

    def structure(self) -> dict[str, Any]:
        # only whether there are encoder weights shapes the network (its input normalisation)
        return {"encoder_weights": "a file" if self.config.has_encoder_weights() else "none"}

    def _spec(self) -> list[tuple]:
        return VGG16_SPEC + vgg_decoder_spec()

    def _build_net(self, *, for_loading: bool = False) -> Any:
        from .network import build_vgg_autoencoder, load_encoder_weights

        cfg = self.config
        net, encoder = build_vgg_autoencoder(
            vgg_decoder_spec(), imagenet_preprocess=cfg.has_encoder_weights()
        )
        if cfg.has_encoder_weights() and not for_loading:
            path = Path(cfg.encoder_weights).expanduser()
            load_encoder_weights(encoder, path)
            self.info["encoder_weights"] = str(path)
        self._encoder = encoder
        return net

    def _trainable_key(self) -> Any:
        freeze = bool(self.config.freeze_encoder)
        self._encoder.trainable = not freeze
        return ("frozen" if freeze else "all",)

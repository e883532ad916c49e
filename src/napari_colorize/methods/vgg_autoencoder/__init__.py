"""Method ``vgg_autoencoder``: a VGG16 encoder with a Conv + UpSampling2D decoder."""

from .colorizer import VGG16_SPEC, VGGAutoencoderColorizer, VGGAutoencoderConfig, vgg_decoder_spec

__all__ = ["VGGAutoencoderConfig", "VGGAutoencoderColorizer", "VGG16_SPEC", "vgg_decoder_spec", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = VGGAutoencoderColorizer

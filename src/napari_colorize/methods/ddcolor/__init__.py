"""``ddcolor``: Kang et al., "DDColor: Photo-Realistic Image Colorization via Dual Decoders"
(ICCV 2023).

- :mod:`.config`: :class:`DDColorConfig` and the block names (no Keras);
- :mod:`.colorizer`: :class:`DDColorColorizer`;
- :mod:`.network`: the Keras port of the authors' generator (imported lazily);
- :mod:`.authors_weights`: :func:`import_torch_weights`, from the authors' PyTorch file.
"""

from .authors_weights import import_torch_weights
from .colorizer import DDColorColorizer, gray_rgb
from .config import BLOCK_NAMES, DDColorConfig

__all__ = [
    "DDColorConfig",
    "DDColorColorizer",
    "import_torch_weights",
    "BLOCK_NAMES",
    "gray_rgb",
    "COLORIZER",
]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = DDColorColorizer

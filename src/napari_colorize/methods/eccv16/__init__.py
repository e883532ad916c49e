"""``eccv16``: Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016).

- :mod:`.config`: :class:`ECCV16Config` and the block names (no Keras);
- :mod:`.colorizer`: :class:`ECCV16Colorizer`;
- :mod:`.network`: the Keras network, its loss and its compiled inference (imported lazily);
- :mod:`.authors_weights`: :func:`import_torch_weights`, from the authors' PyTorch file.
"""

from .authors_weights import import_torch_weights
from .colorizer import ECCV16Colorizer
from .config import BLOCK_NAMES, ECCV16Config

__all__ = ["ECCV16Config", "ECCV16Colorizer", "import_torch_weights", "BLOCK_NAMES", "COLORIZER"]

#: registers the method: :func:`napari_colorize.methods.get_method` reads it (and its ``Config``)
COLORIZER = ECCV16Colorizer
